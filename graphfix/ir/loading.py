"""Reading a model: from a path or from memory, without reading its weights.

``load`` returns the model in onnx-ir, whose external tensors are memory-mapped on first use, so lint
never pages in weights and fix streams them to the output. Everything that would make the analysis
meaningless is refused here with a one-line ``ModelError``: files that are not ONNX, truncated files,
external data that is missing or points outside the model's folder, cycles, undefined tensors and
opsets newer than the installed ``onnx`` knows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import onnx.defs
import onnx_ir as ir
from google.protobuf.message import DecodeError
from onnx_ir import external_data as _external_data

from graphfix.errors import ModelError
from graphfix.ir.graphutil import CycleError, node_label, topological_order

ModelSource = str | os.PathLike[str] | onnx.ModelProto | ir.Model

# Analysis uses the ONNX operator schemas; older opsets predate the Resize/Reshape forms it reasons about.
MIN_SUPPORTED_OPSET = 1


@dataclass
class LoadedModel:
    """A model in onnx-ir, with where it came from."""

    model: ir.Model
    path: Path | None
    label: str
    # External data files with more than one hard link ({location: links}): lint never reads them, but
    # onnx and onnx-ir refuse to read weights from them (see require_weights).
    hard_linked: dict[str, int] = field(default_factory=dict)

    @property
    def opset(self) -> int:
        return default_opset(self.model)


def require_weights(loaded: LoadedModel) -> None:
    """Refuse, before any work, a model whose weights onnx-ir will refuse to read when they are written.

    onnx-ir (like ``onnx.load``) will not read external data from a file with several hard links (a guard
    against a hard-linked secret read as weights); DVC or a hard-link cache makes such files. Linting
    never reads weights and is not affected; writing the fixed model or a precision transform is.

    Raises:
        ModelError: An external data file of the model has more than one hard link.
    """
    for location, links in loaded.hard_linked.items():
        file = str(loaded.path.parent / location) if loaded.path is not None else location
        raise ModelError(loaded.label, f"external data file {location!r} has {links} hard links, and onnx-ir "
                         "refuses to read weights from a hard-linked file (a guard against hard-link attacks)",
                         f"give it a file of its own: cp {file} {file}.copy && mv {file}.copy {file}")


def default_opset(model: ir.Model) -> int:
    return model.opset_imports.get("", model.opset_imports.get("ai.onnx", 0))


def load(source: ModelSource, *, base_dir: str | os.PathLike[str] | None = None) -> LoadedModel:
    """Load and validate a model from a path, a ``ModelProto`` or an ``onnx_ir.Model``.

    ``base_dir`` is where external data of an in-memory ``ModelProto`` lives (default: the working
    directory). An ``onnx_ir.Model`` is used as it is, not copied.
    """
    if isinstance(source, ir.Model):
        loaded = LoadedModel(source, None, "<model>")
    elif isinstance(source, onnx.ModelProto):
        directory = Path(base_dir) if base_dir is not None else Path.cwd()
        linked, _ = _check_proto(source, directory, "<model>")
        model = _deserialize(source, "<model>")
        _external_data.set_base_dir(model.graph, str(directory))
        loaded = LoadedModel(model, None, "<model>", linked)
    elif isinstance(source, (str, os.PathLike)):
        loaded = _load_path(Path(source))
    else:
        raise ModelError(repr(source)[:60], f"cannot load a {type(source).__name__}",
                         "pass a path, an onnx.ModelProto or an onnx_ir.Model")
    _check_graph(loaded)
    return loaded


def _load_path(path: Path) -> LoadedModel:
    label = str(path)
    if not path.exists():
        raise ModelError(label, "no such file", "check the path")
    if path.is_dir():
        raise ModelError(label, "is a directory, not an ONNX file")
    from graphfix.progress import LARGE_FILE_BYTES, SILENT, current

    display = current() if _model_bytes(path) > LARGE_FILE_BYTES else SILENT
    with display.task(f"loading {path.name}"):
        return _read_path(path, label)


def _model_bytes(path: Path) -> int:
    """The file and its neighbours' size: an upper bound of what loading may read, at one stat per file."""
    try:
        size = path.stat().st_size
        if size > 2**20:  # large enough alone, or a model whose weights are inside
            return size
        return size + sum(p.stat().st_size for p in path.parent.iterdir() if p.is_file() and p != path
                          and p.name.startswith(path.stem))
    except OSError:
        return 0


def _read_path(path: Path, label: str) -> LoadedModel:
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError) as error:
        raise ModelError(label, "not a readable ONNX model: the protobuf does not parse",
                         "is the file truncated, or not an .onnx file?") from error
    except OSError as error:
        raise ModelError(label, f"cannot read: {error.strerror or error}") from error
    linked, attributes = _check_proto(proto, path.parent, label)
    model = _deserialize(proto, label)
    del proto
    if attributes:
        _external_data.set_base_dir(model.graph, str(path.parent))
    else:  # only initializers hold external data (the usual case): no walk over every node's attributes
        for value in model.graph.initializers.values():
            if isinstance(value.const_value, ir.ExternalTensor):
                value.const_value.base_dir = str(path.parent)
    return LoadedModel(model, path, label, linked)


def _deserialize(proto: onnx.ModelProto, label: str) -> ir.Model:
    try:
        return ir.serde.deserialize_model(proto)
    except Exception as error:  # onnx-ir raises several types for malformed protos
        raise ModelError(label, f"malformed ONNX model: {error}".splitlines()[0]) from error


def _check_proto(proto: onnx.ModelProto, directory: Path, label: str) -> tuple[dict[str, int], bool]:
    """Refuse what would make the analysis meaningless; return the hard-linked external data files, and
    whether a tensor outside the main graph's initializers (an attribute, a subgraph) is external."""
    if proto.ir_version <= 0 or not proto.HasField("graph") or not (
        proto.graph.node or proto.graph.output
    ):
        raise ModelError(label, "not an ONNX model: no graph or IR version",
                         "is the file truncated, or not an .onnx file?")
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    known = onnx.defs.onnx_opset_version()
    if opset is None:
        raise ModelError(label, "imports no version of the default ONNX domain")
    if opset > known:
        raise ModelError(label, f"opset {opset} is newer than the installed onnx knows (up to {known})",
                         "upgrade onnx, or export with an older opset")
    if opset < MIN_SUPPORTED_OPSET:
        raise ModelError(label, f"opset {opset} is older than graphfix supports ({MIN_SUPPORTED_OPSET})",
                         "re-export with opset 11 or newer")
    return _check_external_data(proto, directory, label)


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)


def external_locations(proto: onnx.ModelProto) -> list[str]:
    """The external data files ``proto`` names (relative to its folder), each once, in order."""
    found: dict[str, None] = {}
    for tensor in _tensors(proto.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            location = next((e.value for e in tensor.external_data if e.key == "location"), "")
            if location:
                found.setdefault(location)
    return list(found)


def _check_external_data(proto: onnx.ModelProto, directory: Path, label: str) -> tuple[dict[str, int], bool]:
    root = directory.resolve()
    sizes: dict[Path, int] = {}
    linked: dict[str, int] = {}
    resolved: dict[str, Path] = {}  # a few files hold hundreds of tensors: resolve each path once
    initializers = len(proto.graph.initializer)
    in_attributes = False
    for index, tensor in enumerate(_tensors(proto.graph)):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        in_attributes = in_attributes or index >= initializers
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        target = resolved.get(location)
        if target is None:
            target = resolved[location] = (root / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(root):
            raise ModelError(label, f"external data of tensor {tensor.name!r} points outside the model's "
                             f"folder ({location!r})", "graphfix refuses paths that escape the folder")
        if target not in sizes:
            if not target.is_file():
                raise ModelError(label, f"external data file {location!r} of tensor {tensor.name!r} "
                                 "is missing", f"it must be in {directory}")
            status = target.stat()
            sizes[target] = status.st_size
            if status.st_nlink > 1:
                linked[location] = status.st_nlink
        end = int(info.get("offset", 0)) + int(info.get("length", 0))
        if end > sizes[target]:
            raise ModelError(label, f"external data file {location!r} is shorter than tensor "
                             f"{tensor.name!r} needs ({sizes[target]} < {end} bytes)",
                             "the file is truncated")
    return linked, in_attributes


def _check_graph(loaded: LoadedModel) -> None:
    graph = loaded.model.graph
    defined: set[ir.Value] = set(graph.inputs) | set(graph.initializers.values())
    defined.update(out for node in graph for out in node.outputs)
    for node in graph:
        for value in node.inputs:
            if value is not None and value not in defined:
                # Outer-scope references exist only inside subgraphs; in the main graph this is a
                # dangling reference that no runtime can execute.
                raise ModelError(loaded.label, f"node {node_label(node)!r} uses tensor {value.name!r}, "
                                 "which no node, input or initializer defines")
    try:
        topological_order(graph)
    except CycleError as cycle:
        raise ModelError(loaded.label, f"the graph has a cycle through node {cycle}",
                         "an ONNX graph must be acyclic") from None
