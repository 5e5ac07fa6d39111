"""Export a PyTorch module to ONNX with only the batch dynamic, through either torch exporter.

``graphfix.export.export(model, args, path, exporter="dynamo" | "legacy", ...)`` wraps
``torch.onnx.export`` so that both exporters are driven the same way:

- one dynamic axis named ``"batch"`` on dim 0 of every tensor input (``dynamic_batch=True``), plus any
  extra named axes from ``dynamic_dims`` (``{"x": {2: "height", 3: "width"}}``);
- legacy (TorchScript) exporter: ``dynamo=False`` with ``dynamic_axes``;
- dynamo exporter: ``dynamo=True`` with ``dynamic_shapes`` made of ``torch.export.Dim`` objects (one shared
  ``Dim("batch")``). If ``torch.export`` refuses a named Dim (the model specialises it, e.g. a Python int
  that bakes the batch), the export is retried with the string form (torch turns it into ``Dim.DYNAMIC``
  and renames the axis afterwards) and then with ``Dim.AUTO`` (which never refuses, it specialises);
- in both exporters the requested graph-input axes always come out symbolic (``dim_param``) with the
  requested names: when an exporter specialised one of them (the model bakes that size in), the
  input is re-declared dynamic, exactly what the legacy exporter's ``dynamic_axes`` does. Such a graph
  only runs at the export-time size; finding that is graphfix's job (GF103), not the exporter's;
- the exporters' progress prints, warnings and log lines are silenced;
- the file is written atomically: the export goes to a private temporary directory beside ``path`` under
  the final file name (so the external-data location recorded inside the ``.onnx``, ``<name>.data`` for
  the dynamo exporter, is already right), then the external-data files and finally the ``.onnx`` are
  moved into place with ``os.replace``. A failed export leaves nothing behind.

torch is optional for graphfix users, so it is imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import os
import pathlib
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover - typing only
    import onnx
    import torch

__all__ = ["export", "BATCH_DIM_NAME"]

BATCH_DIM_NAME = "batch"

_TORCH_MISSING = "graphfix.export needs torch: pip install torch"

# Loggers whose warnings the exporters emit on every call ("torchvision is not installed", export
# guards, onnxscript optimiser notes). Raised to ERROR for the duration of an export only.
_NOISY_LOGGERS = ("torch", "torch.onnx", "torch.export", "torch._export", "torch._dynamo",
                  "torch.fx.experimental.symbolic_shapes", "onnxscript", "onnx_ir")

_log = logging.getLogger(__name__)


def export(
    model: torch.nn.Module,
    args: Any,
    path: str | os.PathLike[str],
    *,
    exporter: Literal["legacy", "dynamo"] = "dynamo",
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_batch: bool = True,
    dynamic_dims: Mapping[str, Mapping[int, str]] | None = None,
    opset: int | None = None,
) -> pathlib.Path:
    """Export ``model`` called with positional ``args`` to the ONNX file ``path`` and return its path.

    ``input_names`` default to the names of ``model.forward``'s parameters. ``dynamic_dims`` maps an input
    name to ``{axis: dim_name}`` for dynamic axes besides the batch (which is ``dynamic_batch``).
    ``opset=None`` lets torch choose. Raises ``ValueError`` when torch is missing or the arguments are
    inconsistent; the exporters' own errors propagate unchanged.
    """
    try:
        import torch
    except ImportError:
        raise ValueError(_TORCH_MISSING) from None

    if exporter not in ("legacy", "dynamo"):
        raise ValueError(f"exporter must be 'legacy' or 'dynamo', not {exporter!r}")
    if not isinstance(args, tuple):
        args = (args,)
    path = pathlib.Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give the path of the .onnx file to write")
    path.parent.mkdir(parents=True, exist_ok=True)

    tensor_positions = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
    names = _input_names(model, args, input_names)
    axes = _requested_axes(args, names, tensor_positions, dynamic_batch, dynamic_dims)

    if getattr(model, "training", False):
        # Both exporters warn about training mode; dropout/batch-norm in training mode is never what a
        # TensorRT engine wants, so export in eval mode and restore the caller's mode afterwards.
        model.eval()
        restore_training = True
    else:
        restore_training = False

    tmpdir = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        tmp_path = tmpdir / path.name  # final name: external-data locations are relative to it
        with _quiet():
            if exporter == "legacy":
                _export_legacy(model, args, tmp_path, names, output_names, axes, opset)
            else:
                _export_dynamo(model, args, tmp_path, names, output_names, axes, opset, tmpdir)
        data_files = _declare_dynamic_inputs(tmp_path, axes)
        # Weights first, the .onnx last: whoever sees the new .onnx also sees its weights.
        for rel in sorted(data_files):
            if os.path.isabs(rel) or ".." in pathlib.PurePath(rel).parts or not (tmpdir / rel).is_file():
                continue  # not a file this export wrote
            dst = path.parent / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmpdir / rel, dst)
        os.replace(tmp_path, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
        if restore_training:
            model.train()
    return path


# --------------------------------------------------------------------------------------------------
# arguments


def _input_names(model: Any, args: tuple[Any, ...], input_names: Sequence[str] | None) -> list[str]:
    """Graph input names, one per positional argument (the forward signature when not given)."""
    if input_names is not None:
        names = list(input_names)
        if len(names) != len(args):
            raise ValueError(f"input_names has {len(names)} names for {len(args)} positional arguments")
        return names
    try:
        params = [p for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if len(params) >= len(args):
        return [p.name for p in params[: len(args)]]
    return [f"input_{i}" for i in range(len(args))]


def _requested_axes(
    args: tuple[Any, ...],
    names: list[str],
    tensor_positions: list[int],
    dynamic_batch: bool,
    dynamic_dims: Mapping[str, Mapping[int, str]] | None,
) -> dict[str, dict[int, str]]:
    """``{input name: {axis: dim name}}`` for every tensor input that has a dynamic axis."""
    axes: dict[str, dict[int, str]] = {}
    tensor_names = {names[i]: args[i] for i in tensor_positions}
    for name, tensor in tensor_names.items():
        if dynamic_batch and tensor.dim() > 0:
            axes.setdefault(name, {})[0] = BATCH_DIM_NAME
    for name, extra in (dynamic_dims or {}).items():
        if name not in tensor_names:
            raise ValueError(f"dynamic_dims names {name!r}, which is not a tensor input ({list(tensor_names)})")
        rank = tensor_names[name].dim()
        for axis, dim_name in extra.items():
            if not -rank <= axis < rank:
                raise ValueError(f"dynamic_dims[{name!r}] axis {axis} is out of range for rank {rank}")
            axes.setdefault(name, {})[axis % rank] = str(dim_name)
    return axes


# --------------------------------------------------------------------------------------------------
# the two exporters


def _export_legacy(
    model: Any,
    args: tuple[Any, ...],
    f: pathlib.Path,
    names: list[str],
    output_names: Sequence[str] | None,
    axes: dict[str, dict[int, str]],
    opset: int | None,
) -> None:
    import torch

    kwargs: dict[str, Any] = {}
    if opset is not None:
        kwargs["opset_version"] = opset
    torch.onnx.export(
        model, args, str(f), dynamo=False, verbose=False,
        input_names=names, output_names=list(output_names) if output_names else None,
        dynamic_axes=axes or None, **kwargs,
    )


def _export_dynamo(
    model: Any,
    args: tuple[Any, ...],
    f: pathlib.Path,
    names: list[str],
    output_names: Sequence[str] | None,
    axes: dict[str, dict[int, str]],
    opset: int | None,
    artifacts_dir: pathlib.Path,
) -> None:
    import torch

    def attempt(dynamic_shapes: tuple[Any, ...] | None) -> None:
        torch.onnx.export(
            model, args, str(f), dynamo=True, verbose=False,
            input_names=names, output_names=list(output_names) if output_names else None,
            dynamic_shapes=dynamic_shapes, opset_version=opset,
            # Error reports and dumps (if torch ever writes them) land in the temporary directory.
            artifacts_dir=str(artifacts_dir),
        )

    if not axes:
        attempt(None)
        return

    # 1. Named Dims, one object per name, so every input's dim 0 is the *same* "batch" symbol.
    dims: dict[str, Any] = {}

    def named(dim_name: str) -> Any:
        if dim_name not in dims:
            # Dim names must be identifiers; _declare_dynamic_inputs restores the requested name.
            ident = dim_name if dim_name.isidentifier() else f"dim{len(dims)}_" + re.sub(r"\W", "_", dim_name)
            dims[dim_name] = torch.export.Dim(ident)
        return dims[dim_name]

    # dynamic_shapes is given positionally (a tuple matching args), so it does not depend on the
    # forward parameter names, which need not match the graph input names.
    def shapes(make: Any) -> tuple[Any, ...]:
        return tuple({ax: make(dn) for ax, dn in axes[n].items()} if n in axes else None for n in names)

    # 2. The string form: torch uses Dim.DYNAMIC and renames the axes itself. 3. Dim.AUTO never fails
    # on specialisation; what it specialises is re-declared dynamic by _declare_dynamic_inputs.
    attempts = (
        ("named Dim", lambda: shapes(named)),
        ("string (Dim.DYNAMIC)", lambda: shapes(lambda dn: dn)),
        ("Dim.AUTO", lambda: shapes(lambda dn: torch.export.Dim.AUTO)),
    )
    first_error: BaseException | None = None
    for label, make_shapes in attempts:
        try:
            attempt(make_shapes())
            if first_error is not None:
                _log.info("dynamo export succeeded with %s dynamic shapes after: %s", label,
                          _first_line(first_error))
            return
        except Exception as exc:  # noqa: BLE001 - re-raised below unless it is a shape-constraint error
            if not _is_constraint_error(exc):
                raise
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def _is_constraint_error(exc: BaseException) -> bool:
    """True when ``exc`` (or its cause chain) says torch.export could not keep a Dim dynamic."""
    markers = ("Constraints violated", "specialized", "specialize", "dynamic_shapes", "Dim(",
               "guard", "not all values of", "Dim.DYNAMIC", "Dim.AUTO")
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if type(e).__name__ in ("UserError", "ConstraintViolationError"):
            return True
        text = str(e)
        if any(m.lower() in text.lower() for m in markers):
            return True
        e = e.__cause__ or e.__context__
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


# --------------------------------------------------------------------------------------------------
# post-processing


def _declare_dynamic_inputs(onnx_path: pathlib.Path, axes: dict[str, dict[int, str]]) -> set[str]:
    """Give each requested input axis its requested ``dim_param``; return the external-data files.

    Exporters may specialise an axis (``dim_value``) or name it differently (``s0``); both are made the
    requested name, and a renamed symbol is renamed everywhere in the graph so that equal symbols stay
    equal. The weights are not loaded: their external-data references are kept as they are.
    """
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    by_name = {vi.name: vi for vi in model.graph.input}
    rename: dict[str, str] = {}
    changed = False
    for input_name, requested in axes.items():
        vi = by_name.get(input_name)
        if vi is None or not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
            continue
        dims = vi.type.tensor_type.shape.dim
        for axis, dim_name in requested.items():
            if axis >= len(dims):
                continue
            d = dims[axis]
            if d.HasField("dim_param") and d.dim_param == dim_name:
                continue
            if d.HasField("dim_param") and d.dim_param:
                rename.setdefault(d.dim_param, dim_name)
            else:
                _log.warning("%s: the exporter specialised %s axis %d to %s; declared dynamic as %r anyway "
                             "(the graph bakes that size in)", onnx_path.name, input_name, axis,
                             d.dim_value, dim_name)
            d.Clear()
            d.dim_param = dim_name
            changed = True
    if rename:
        # dynamo dim_params can be expressions of the symbols ("2*((height - 1)//2) + 2"): rename tokens.
        token = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(rename, key=len, reverse=True)) + r")\b")
        for vi in _all_value_infos(model.graph):
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
                for d in vi.type.tensor_type.shape.dim:
                    if d.HasField("dim_param"):
                        d.dim_param = token.sub(lambda mo: rename[mo.group(1)], d.dim_param)
    if changed:
        onnx.save(model, str(onnx_path))
    return {loc for t in _all_tensors(model.graph) for loc in _external_location(t)}


def _all_value_infos(graph: onnx.GraphProto) -> Iterator[onnx.ValueInfoProto]:
    yield from graph.input
    yield from graph.output
    yield from graph.value_info
    for sub in _subgraphs(graph):
        yield from _all_value_infos(sub)


def _all_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
    for sub in _subgraphs(graph):
        yield from _all_tensors(sub)


def _subgraphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield attr.g
            yield from attr.graphs


def _external_location(tensor: onnx.TensorProto) -> list[str]:
    import onnx

    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        return []
    return [e.value for e in tensor.external_data if e.key == "location"]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters: prints, Python warnings and torch/onnxscript log lines below ERROR."""
    saved = {}
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = logger.level
        if logger.getEffectiveLevel() < logging.ERROR:
            logger.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
