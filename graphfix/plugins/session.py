"""Running models that contain custom operators in ONNX Runtime, through their reference implementations.

``session_for(model, registry)`` is the one place the pipeline makes an ONNX Runtime session: a model
without custom ops gets a plain ``onnxruntime.InferenceSession``; a model with custom ops gets a
``ReferenceSession``, which has the same interface (``get_inputs``, ``get_outputs``, ``run``) and runs:

- the standard part of the graph in ONNX Runtime, cut into as few sessions as the custom nodes allow
  (the standard nodes are grouped by how many custom nodes lie upstream of them: a model with one custom
  op runs as two ONNX Runtime sessions);
- each custom node in numpy, through its reference (``graphfix.plugins.registry``), between them.

Why not onnxruntime-extensions' Python operators (``onnx_op``/``PyOp``, registered with
``SessionOptions.register_custom_ops_library(get_library_path())``)? Measured in ``docs/custom-layers.md``
and ``bench/custom_ops_bench.py``: they cannot take float16 tensors (the fp16 precision check needs them),
pass float attributes through a 6-digit decimal string (0.123456789 arrives as 0.123457), support only
INT/FLOAT/STRING attributes, register each op process-wide for good (a second registration of the same
op fails every later session: "Conflicting with a registered kernel"), fix each op's input and output
dtypes at registration (and every ``Plugin`` node, whatever its ``name``, is the one op ``::Plugin``),
and copy every output through a Python list (2.5-3.3x native ONNX Runtime on a mid-size CNN, against
1.25-1.4x here). The partitioned sessions have none of these limits and need no extra package.

Polygraphy's ``OnnxrtRunner`` takes a callable returning a session: ``OnnxrtRunner(session_loader(path,
registry))``. Nothing runs through a custom node without a reference: ``session_for`` raises
``MissingReference`` (GF402's code and text).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
from onnx import numpy_helper

from graphfix.errors import GraphfixError
from graphfix.plugins.nodes import no_reference_message, runs_natively
from graphfix.plugins.registry import NodeView, Registry, active_registry, default_registry

ModelSource = str | os.PathLike[str] | onnx.ModelProto | ir.Model

_ORT_TYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "tensor(float)", onnx.TensorProto.FLOAT16: "tensor(float16)",
    onnx.TensorProto.DOUBLE: "tensor(double)", onnx.TensorProto.BFLOAT16: "tensor(bfloat16)",
    onnx.TensorProto.INT8: "tensor(int8)", onnx.TensorProto.INT16: "tensor(int16)",
    onnx.TensorProto.INT32: "tensor(int32)", onnx.TensorProto.INT64: "tensor(int64)",
    onnx.TensorProto.UINT8: "tensor(uint8)", onnx.TensorProto.UINT16: "tensor(uint16)",
    onnx.TensorProto.UINT32: "tensor(uint32)", onnx.TensorProto.UINT64: "tensor(uint64)",
    onnx.TensorProto.BOOL: "tensor(bool)", onnx.TensorProto.STRING: "tensor(string)",
}


class MissingReference(GraphfixError):
    """A custom node has no reference implementation: graphfix refuses to run it (GF402)."""

    def __init__(self, nodes: list[Any]) -> None:
        from graphfix.plugins.nodes import no_reference_code

        self.code = no_reference_code()
        self.nodes = nodes
        super().__init__(no_reference_message(nodes), parameters=("verify=False",))


class UnsupportedCustomNode(GraphfixError):
    """A custom node where graphfix cannot cut the graph around it (inside an If/Loop/Scan body)."""


@dataclass(frozen=True)
class NodeArg:
    """What ``InferenceSession.get_inputs()``/``get_outputs()`` return: name, ORT type string, shape."""

    name: str
    type: str
    shape: list[int | str | None]


def _as_proto(source: ModelSource) -> tuple[onnx.ModelProto, Path | None, str | None]:
    """(model proto without external weights loaded, folder of its external data, path if a file)."""
    if isinstance(source, onnx.ModelProto):
        return source, None, None
    if isinstance(source, ir.Model):
        return ir.to_proto(source), None, None
    path = Path(source)
    return onnx.load(str(path), load_external_data=False), path.parent.resolve(), str(path)


def _subgraph_names(attribute: onnx.AttributeProto) -> Iterable[onnx.GraphProto]:
    if attribute.HasField("g"):
        yield attribute.g
    yield from attribute.graphs


def _used_names(node: onnx.NodeProto) -> set[str]:
    """Every tensor a node reads, including outer-scope tensors its subgraphs capture."""
    names = {name for name in node.input if name}
    for attribute in node.attribute:
        for graph in _subgraph_names(attribute):
            defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
            for inner in graph.node:
                defined.update(inner.output)
            for inner in graph.node:
                names.update(n for n in _used_names(inner) if n not in defined)
            names.update(o.name for o in graph.output if o.name not in defined)
    return names


def _has_custom(graph: onnx.GraphProto, functions: set[tuple[str, str]]) -> bool:
    for node in graph.node:
        if _custom(node, functions):
            return True
        for attribute in node.attribute:
            if any(_has_custom(sub, functions) for sub in _subgraph_names(attribute)):
                return True
    return False


def _custom(node: onnx.NodeProto, functions: set[tuple[str, str]]) -> bool:
    return (node.domain, node.op_type) not in functions and not runs_natively(node.op_type, node.domain)


def has_custom_ops(source: ModelSource) -> bool:
    """True when the model has a node neither ONNX nor ONNX Runtime implements."""
    proto, _, _ = _as_proto(source)
    functions = {(f.domain, f.name) for f in proto.functions}
    return _has_custom(proto.graph, functions) or any(
        _custom(node, functions) for f in proto.functions for node in f.node)


def _copy_options(template: Any | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if template is not None:
        for name in ("graph_optimization_level", "log_severity_level", "intra_op_num_threads",
                     "inter_op_num_threads", "execution_mode", "enable_cpu_mem_arena", "enable_mem_pattern",
                     "use_deterministic_compute"):
            setattr(options, name, getattr(template, name))
    return options


class ReferenceSession:
    """An ``InferenceSession`` look-alike for a model with custom nodes (see the module docstring).

    Sessions of the later parts are built on first use when their input types are only known then
    (the output type of a custom node the model does not declare).
    """

    def __init__(self, source: ModelSource, registry: Registry | None = None, *, options: Any | None = None,
                 providers: Sequence[str] | None = None) -> None:
        self.registry = registry if registry is not None else active_registry()
        self._options = options
        self._providers = list(providers or ["CPUExecutionProvider"])
        proto, self._base_dir, self._path = _as_proto(source)
        functions = {(f.domain, f.name) for f in proto.functions}
        if any(_custom(n, functions) for f in proto.functions for n in f.node):
            import onnx.inliner

            proto = onnx.inliner.inline_local_functions(proto)  # custom nodes in a function: cut the body
            functions = {(f.domain, f.name) for f in proto.functions}
        self._proto = proto
        graph = proto.graph
        for node in graph.node:
            for attribute in node.attribute:
                if any(_has_custom(sub, functions) for sub in _subgraph_names(attribute)):
                    raise UnsupportedCustomNode(
                        f"node {node.name or node.op_type!r} ({node.op_type}) has a custom operator inside its "
                        f"'{attribute.name}' subgraph; graphfix runs custom operators only in the main graph "
                        "(pass --no-verify to skip verification)")
        custom = [node for node in graph.node if _custom(node, functions)]
        missing = [node for node in custom if self.registry.lookup(node) is None]
        if missing:
            raise MissingReference(missing)
        self._initializers = {t.name: t for t in graph.initializer}
        input_names = [i.name for i in graph.input]
        self._inputs = [i for i in graph.input if i.name not in self._initializers]
        self._types: dict[str, int] = {}
        for value in [*graph.input, *graph.value_info, *graph.output]:
            if value.type.HasField("tensor_type") and value.type.tensor_type.elem_type:
                self._types[value.name] = value.type.tensor_type.elem_type
        for tensor in graph.initializer:
            self._types[tensor.name] = tensor.data_type
        # Initializers that are also graph inputs may be fed (IR < 4 lists every initializer as an input).
        self._overridable = {name for name in input_names if name in self._initializers}

        # Levels: how many custom nodes lie upstream. Standard nodes of level L form part L; the custom
        # nodes of level L run just before it.
        level: dict[str, int] = dict.fromkeys([*input_names, *self._initializers], 0)
        parts: dict[int, list[onnx.NodeProto]] = {}
        customs: dict[int, list[onnx.NodeProto]] = {}
        for node in _topological(graph):
            upstream = max((level.get(name, 0) for name in _used_names(node)), default=0)
            mine = upstream + 1 if _custom(node, functions) else upstream
            (customs if _custom(node, functions) else parts).setdefault(mine, []).append(node)
            for name in node.output:
                if name:
                    level[name] = mine
        top = max([*parts, *customs], default=0)
        consumers: dict[str, set[int]] = {}
        for index in range(top + 1):
            for node in customs.get(index, []):
                for name in node.input:
                    consumers.setdefault(name, set()).add(index)  # a custom node runs before part `index`
            for node in parts.get(index, []):
                for name in _used_names(node):
                    consumers.setdefault(name, set()).add(index)
        graph_outputs = {o.name for o in graph.output}
        self._schedule: list[tuple[str, Any]] = []
        for index in range(top + 1):
            for node in customs.get(index, []):
                self._schedule.append(("custom", node))
            nodes = parts.get(index, [])
            if nodes:
                produced = {name for node in nodes for name in node.output if name}
                needed = sorted({name for node in nodes for name in _used_names(node)} - produced)
                # Outputs: graph outputs, and what later parts or custom nodes read.
                outputs = [name for node in nodes for name in node.output if name and (
                    name in graph_outputs or any(c > index for c in consumers.get(name, ())))]
                self._schedule.append(("part", _Part(self, index, nodes, needed, outputs)))
        for kind, item in self._schedule:
            if kind == "part":
                item.build_if_typed()

    # -- the InferenceSession interface ------------------------------------------------------------

    def get_inputs(self) -> list[NodeArg]:
        return [_arg(value) for value in self._inputs]

    def get_outputs(self) -> list[NodeArg]:
        return [_arg(value) for value in self._proto.graph.output]

    def get_providers(self) -> list[str]:
        return list(self._providers)

    def run(self, output_names: Sequence[str] | None, input_feed: Mapping[str, Any],
            run_options: Any | None = None) -> list[np.ndarray]:
        env: dict[str, np.ndarray] = {name: np.asarray(array) for name, array in input_feed.items()}
        known = {value.name for value in self._inputs} | self._overridable
        unknown = sorted(set(env) - known)
        if unknown:
            raise GraphfixError(f"unknown input(s) {unknown}; the model takes {sorted(known)}")
        missing = sorted({value.name for value in self._inputs} - set(env))
        if missing:
            raise GraphfixError(f"missing input(s) {missing}")
        for kind, item in self._schedule:
            if kind == "part":
                item.run(env, run_options)
            else:
                self._run_custom(item, env)
        names = list(output_names) if output_names else [o.name for o in self._proto.graph.output]
        return [self._value(name, env) for name in names]

    # -- internals ---------------------------------------------------------------------------------

    def _value(self, name: str, env: dict[str, np.ndarray]) -> np.ndarray:
        if name not in env and name in self._initializers:
            env[name] = numpy_helper.to_array(self._initializers[name],
                                              str(self._base_dir) if self._base_dir else "")
        return env[name]

    def _run_custom(self, node: onnx.NodeProto, env: dict[str, np.ndarray]) -> None:
        inputs = [self._value(name, env) if name else None for name in node.input]
        results = self.registry.run(node, inputs)
        for name, array in zip(node.output, results):
            if name:
                env[name] = array


def _arg(value: onnx.ValueInfoProto) -> NodeArg:
    tensor = value.type.tensor_type
    dims: list[int | str | None] = []
    if tensor.HasField("shape"):
        for dim in tensor.shape.dim:
            dims.append(dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or None))
    return NodeArg(value.name, _ORT_TYPES.get(tensor.elem_type, "tensor(float)"), dims)


def _topological(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """Nodes producers first (ONNX requires sorted graphs, but exporters' bugs happen)."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    order: list[onnx.NodeProto] = []
    while pending:
        progress: list[onnx.NodeProto] = []
        rest: list[onnx.NodeProto] = []
        for node in pending:
            (progress if _used_names(node) <= available else rest).append(node)
        if not progress:  # outer-scope names or a cycle: keep the file's order for the rest
            order.extend(rest)
            break
        for node in progress:
            available.update(node.output)
        order.extend(progress)
        pending = rest
    return order


class _Part:
    """One ONNX Runtime session over a group of standard nodes."""

    def __init__(self, owner: ReferenceSession, index: int, nodes: list[onnx.NodeProto], needed: list[str],
                 outputs: list[str]) -> None:
        self.owner = owner
        self.index = index
        self.nodes = nodes
        # Inputs: values computed elsewhere (graph inputs, other parts, custom nodes); constants stay in.
        self.constants = [n for n in needed if n in owner._initializers and n not in owner._overridable]
        self.inputs = [n for n in needed if n not in self.constants]
        self.outputs = outputs
        self.sessions: dict[tuple[int, ...], Any] = {}

    def build_if_typed(self) -> None:
        types = [self.owner._types.get(name) for name in self.inputs]
        if all(types):
            self._session(tuple(types))  # type: ignore[arg-type]

    def _session(self, types: tuple[int, ...]) -> Any:
        session = self.sessions.get(types)
        if session is not None:
            return session
        import onnxruntime as ort

        owner = self.owner
        source = owner._proto
        inputs = [onnx.helper.make_tensor_value_info(name, dtype, None)
                  for name, dtype in zip(self.inputs, types)]
        # An output whose type the model does not declare (after a custom node) is left to ONNX Runtime's
        # type inference: a value_info with only a name.
        outputs = [onnx.helper.make_tensor_value_info(name, owner._types[name], None) if owner._types.get(name)
                   else onnx.ValueInfoProto(name=name) for name in self.outputs]
        graph = onnx.helper.make_graph(self.nodes, f"{source.graph.name or 'graph'}_part{self.index}", inputs,
                                       outputs, [owner._initializers[name] for name in self.constants])
        model = onnx.helper.make_model(graph, opset_imports=list(source.opset_import),
                                       ir_version=source.ir_version, functions=list(source.functions))
        options = _copy_options(owner._options)
        if owner._base_dir is not None:
            # Weights stay where they are: the part reads the original's external data files.
            options.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                             str(owner._base_dir))
        try:
            session = ort.InferenceSession(model.SerializeToString(), options, providers=owner._providers)
        except Exception as error:
            raise GraphfixError(f"ONNX Runtime cannot load part {self.index} of the model (between custom "
                                f"nodes): {str(error).strip().splitlines()[0]}") from error
        self.sessions[types] = session
        return session

    def run(self, env: dict[str, np.ndarray], run_options: Any | None) -> None:
        feeds = {name: self.owner._value(name, env) for name in self.inputs}
        types = tuple(onnx.helper.np_dtype_to_tensor_dtype(feeds[name].dtype) for name in self.inputs)
        session = self._session(types)
        results = session.run(self.outputs, feeds, run_options)
        env.update(zip(self.outputs, results))


def session_for(source: ModelSource, registry: Registry | None = None, *, options: Any | None = None,
                providers: Sequence[str] | None = None) -> Any:
    """An ONNX Runtime session for ``source`` (a path, ``ModelProto`` or ``onnx_ir.Model``).

    Without custom nodes: ``onnxruntime.InferenceSession`` with ``options``. With custom nodes: a
    ``ReferenceSession`` running them through ``registry`` (default: ``default_registry``), with the
    same optimisation level, threads and logging as ``options``. Raises ``MissingReference`` (GF402)
    when a custom node has no reference, ``UnsupportedCustomNode`` for one inside a subgraph.
    """
    import onnxruntime as ort

    providers = list(providers or ["CPUExecutionProvider"])
    if not has_custom_ops(source):
        if options is None:
            options = ort.SessionOptions()
            options.log_severity_level = 3
        if isinstance(source, ir.Model):
            source = ir.to_proto(source)
        data = source.SerializeToString() if isinstance(source, onnx.ModelProto) else str(source)
        return ort.InferenceSession(data, options, providers=providers)
    return ReferenceSession(source, registry, options=options, providers=providers)


def session_loader(source: ModelSource, registry: Registry | None = None, *, options: Any | None = None,
                   providers: Sequence[str] | None = None) -> Callable[[], Any]:
    """A zero-argument callable making ``session_for(source, ...)``: Polygraphy's ``OnnxrtRunner``
    accepts it in place of ``SessionFromOnnx`` and calls it when the runner is activated."""

    def load() -> Any:
        return session_for(source, registry, options=options, providers=providers)

    return load


def require_implementations(source: ModelSource, registry: Registry | None = None) -> None:
    """Raise ``MissingReference`` (GF402) when a custom node of ``source`` has no reference."""
    from graphfix.plugins.nodes import missing_implementations

    missing = missing_implementations(source if not isinstance(source, onnx.ModelProto) else
                                      ir.serde.deserialize_model(source), registry)
    if missing:
        raise MissingReference(missing)


def describe_node(node: onnx.NodeProto | ir.Node) -> str:
    view = NodeView.of(node)
    return f"{view.op} ({view.label})"
