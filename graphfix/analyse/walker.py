"""The walk: every tensor's shape, and every small tensor's value, at each probe, in one pass.

The principle (docs/design.md, "evaluate, don't pattern-match"): keep the batch symbolic and every other
input dimension concrete, then work the whole graph out at several probes (:mod:`graphfix.analyse.facts`).
The graph is walked once in topological order; each node is either evaluated (all inputs have known
small values: shape arithmetic, :mod:`graphfix.analyse.evaluator`) or its output shapes are inferred
(``onnx.shape_inference.infer_node_outputs``, given the known values of its shape inputs). Nodes whose
inputs are the same at every probe are computed once.

Nothing here reads weights: initializers contribute their shapes, and only their values when they are
tiny integer-like tensors.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import onnx
import onnx.defs
import onnx.helper
import onnx.shape_inference
import onnx_ir as ir
from onnx import numpy_helper

if TYPE_CHECKING:
    from graphfix.plugins.registry import Registry

from graphfix.analyse.analysis import Analysis
from graphfix.analyse.baked import see_through
from graphfix.analyse.evaluator import NotEvaluable, attribute, constant_value, evaluate, is_shape_like
from graphfix.analyse.facts import (
    BATCH,
    BATCH_PROBES,
    DIM_PROBES,
    BakedReshape,
    DynamicDim,
    Facts,
    Issue,
    Probe,
    SeenThrough,
    Shape,
)
from graphfix.analyse.operands import is_standard, shape_input_indices
from graphfix.analyse.ops import DATA_DEPENDENT_OPS
from graphfix.errors import UsageError
from graphfix.ir.graphutil import topological_order
from graphfix.ir.loading import LoadedModel


def analyse(
    loaded: LoadedModel,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    *,
    assume_batch: bool = False,
    custom_ops: Registry | None = None,
) -> Analysis:
    """Work out every tensor's shape, and small tensors' values, at each probe.

    ``input_shapes`` pins non-batch dims (dim 0 stays the dynamic batch). ``assume_batch`` treats dim 0
    of every input as the batch even where it is static: it asks "what if the batch were dynamic?".
    ``custom_ops`` holds the reference implementations of custom ops (default: the active registry,
    ``graphfix.plugins.active_registry``): the walk runs them on the probes (``graphfix.plugins.shapes``), so
    shapes after a custom op are known.

    Raises:
        UsageError: ``input_shapes`` names something that is not a graph input, or gives the wrong rank.
    """
    graph = loaded.model.graph
    pinned = dict(input_shapes or {})
    # An initializer listed as a graph input is only a default: callers may feed another value, so it is
    # a run-time input (shape known from the initializer, value unknown), never folded.
    initializer_values = set(graph.initializers.values())
    if (loaded.model.ir_version or 0) >= 4:  # before IR 4 every initializer had to be listed as an input
        initializer_values -= set(graph.inputs)
    real_inputs = [v for v in graph.inputs if v not in initializer_values]
    unknown = set(pinned) - {v.name or "" for v in real_inputs}
    if unknown:
        raise UsageError(f"input_shapes names {', '.join(sorted(unknown))}, which "
                         f"{'is not a graph input' if len(unknown) == 1 else 'are not graph inputs'} "
                         f"(inputs: {', '.join(v.name or '' for v in real_inputs)})", parameters=("input_shapes",))

    input_dims: dict[str, list[int | str]] = {}
    dynamic_dims: list[DynamicDim] = []
    unshaped: list[str] = []
    batch_declared = False
    for value in real_inputs:
        if value.shape is None:
            if value.const_value is None:
                unshaped.append(value.name or "")
            continue
        declared = list(value.shape)
        user = pinned.get(value.name or "")
        if user is not None and len(user) != len(declared):
            raise UsageError(f"input_shapes {value.name}: rank {len(user)} given, the model's input "
                             f"has rank {len(declared)}", parameters=("input_shapes",))
        dims: list[int | str] = []
        for axis, dim in enumerate(declared):
            if axis == 0 and (not isinstance(dim, int) or assume_batch):
                batch_declared = batch_declared or not isinstance(dim, int)
                dims.append(BATCH)
            elif user is not None:
                if isinstance(dim, int) and user[axis] != dim:  # the model cannot run with another size
                    raise UsageError(f"input_shapes {value.name}: dim {axis} is {dim} in the model, {user[axis]} "
                                     "given (only dynamic dims can be pinned)", parameters=("input_shapes",))
                dims.append(user[axis])
                if not isinstance(dim, int):
                    dynamic_dims.append(DynamicDim(value, axis, str(dim.value or "?"), False))
            elif isinstance(dim, int):
                dims.append(dim)
            else:
                symbol = dim.value or f"{value.name}:{axis}"
                dims.append(f"sym:{symbol}")
                dynamic_dims.append(DynamicDim(value, axis, symbol, False))
        input_dims[value.name or ""] = dims

    symbols = sorted({d for dims in input_dims.values() for d in dims if isinstance(d, str) and d != BATCH})
    has_batch = any(BATCH in dims for dims in input_dims.values())
    # Each symbol gets its own sizes (multiples of 64, so strided CNNs stay valid), and the dim probe
    # scales them unevenly: S - T or S / T of two independent dims is never mistaken for a constant.
    base = {s: DIM_PROBES[0] + 64 * index for index, s in enumerate(symbols)}
    moved = {s: 2 * size + 64 * (index % 2) for index, (s, size) in enumerate(base.items())}
    # Without a batch every batch probe is the same (indices stay stable: the dim probe comes last).
    probes = [Probe(batch if has_batch else BATCH_PROBES[0], base) for batch in BATCH_PROBES]
    if symbols:
        probes.append(Probe(BATCH_PROBES[0], moved))

    for value in graph.outputs:
        if value.shape is None:
            continue
        for axis, dim in enumerate(value.shape):
            if axis > 0 and not isinstance(dim, int):
                dynamic_dims.append(DynamicDim(value, axis, str(dim.value or "?"), True))

    order = topological_order(graph)
    inferred: dict[tuple[object, ...], Inferred] = {}  # shared by the see-through walks

    def walk(repairs: dict[ir.Node, BakedReshape], seen: dict[ir.Node, SeenThrough]) -> Analysis:
        analysis = Analysis(loaded, probes, input_dims, order, pinned=pinned, dynamic_dims=dynamic_dims,
                            batch_declared=batch_declared, assume_batch=assume_batch, unshaped_inputs=unshaped,
                            custom_ops=custom_ops, repairs=repairs, seen_through=seen)
        _Walker(analysis, real_inputs, initializer_values, inferred).run()
        return analysis

    # Reshapes that bake the batch are walked again as if repaired, so one analysis sees every one of them.
    return see_through(walk({}, {}), walk)


# ONNX's answer for one node at one probe: output shapes, output element types, the failure to report.
Inferred = tuple[tuple[Shape | None, ...], tuple[int | None, ...], str | None]


def _attributes_key(node: ir.Node) -> tuple[object, ...] | None:
    """``node``'s attributes as a hashable key; None when one holds a tensor, a graph or a reference."""
    key: list[tuple[str, int, object]] = []
    for name, attr in node.attributes.items():
        if attr.is_ref() or attr.type not in _PLAIN_ATTRIBUTES:
            return None
        value = attr.value
        key.append((name, int(attr.type), tuple(value) if isinstance(value, (list, tuple)) else value))
    return tuple(sorted(key, key=lambda item: item[0]))


_PLAIN_ATTRIBUTES = frozenset({ir.AttributeType.INT, ir.AttributeType.INTS, ir.AttributeType.FLOAT,
                               ir.AttributeType.FLOATS, ir.AttributeType.STRING, ir.AttributeType.STRINGS})


def _dtype(value: ir.Value) -> int:
    return int(value.dtype.value) if value.dtype is not None else 0


class _Walker:
    """Evaluates the graph once per node, for all probes at a time."""

    def __init__(self, analysis: Analysis, inputs: list[ir.Value], initializers: set[ir.Value],
                 inferred: dict[tuple[object, ...], Inferred] | None = None) -> None:
        self.analysis = analysis
        self.inputs = inputs
        self.initializers = initializers
        self.count = len(analysis.probes)
        # "ai.onnx" is the default domain spelled out; ONNX's shape inference only knows it as "".
        self.opset_imports = [onnx.helper.make_opsetid("" if domain == "ai.onnx" else domain, version)
                              for domain, version in analysis.model.opset_imports.items()]
        self.schemas: dict[tuple[str, str], onnx.defs.OpSchema | None] = {}
        self.functions = {(f.domain, f.name) for f in analysis.model.functions.values()}
        self.functions_by_id = {(f.domain, f.name, f.overload): f for f in analysis.model.functions.values()}
        self.depth = 0
        self._protos: dict[ir.Node, onnx.NodeProto] = {}
        self._inferred_dtypes: dict[ir.Value, int] = {}
        self._types: dict[tuple[int, Shape | None], onnx.TypeProto] = {}
        self._node_keys: dict[ir.Node, tuple[object, ...] | None] = {}
        self.inferred = inferred if inferred is not None else {}
        self.evaluated: dict[tuple[object, ...], tuple[np.ndarray, ...]] = {}

    def run(self) -> None:
        facts = self.analysis.facts
        for value in self.initializers:
            self.initializer(value)
        for value in self.inputs:
            dims = self.analysis.input_dims.get(value.name or "")
            if dims is None and value.const_value is not None:  # an overridable default
                shape = tuple(value.const_value.shape.numpy())
                facts[value] = Facts(int(value.const_value.dtype.value), [shape] * self.count,
                                     [None] * self.count, runtime=True)
                continue
            shapes: list[Shape | None] = []
            for probe in self.analysis.probes:
                if dims is None:
                    shapes.append(None)
                    continue
                shapes.append(tuple(probe.batch if d == BATCH else probe.dims[d] if isinstance(d, str) else d
                                    for d in dims))
            facts[value] = Facts(_dtype(value), shapes, [None] * self.count, runtime=True)
        for node in self.analysis.order:
            self.visit(node)

    def initializer(self, value: ir.Value) -> None:
        tensor = value.const_value
        shape = tuple(tensor.shape.numpy()) if tensor is not None else None
        array = None
        if tensor is not None and is_shape_like(tensor):
            array = _read_small(tensor)
        dtype = int(tensor.dtype.value) if tensor is not None else _dtype(value)
        self.analysis.facts[value] = Facts(dtype, [shape] * self.count, [array] * self.count)

    # -- per node ---------------------------------------------------------------------------------

    def visit(self, node: ir.Node) -> None:
        try:
            self._visit(node)
        except Exception as error:  # one odd node must not stop the analysis of the rest
            self.unknown_outputs(node, runtime=True)
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            self.analysis.issues.append(Issue(node, "inference-failed", f"not analysed: {message}"))

    def _visit(self, node: ir.Node) -> None:
        facts = self.analysis.facts
        inputs: list[Facts | None] = []
        runtime = derived = False
        for value in node.inputs:
            if value is None:
                inputs.append(None)
                continue
            found = facts.get(value)
            if found is None:  # outer-scope value inside a subgraph, or an unknown producer
                self.unknown_outputs(node, runtime=True)
                return
            inputs.append(found)
            runtime = runtime or found.runtime
            derived = derived or found.shape_derived
        op = node.op_type
        standard = is_standard(node)
        if standard and op == "Constant":
            array = constant_value(node)
            shape = _constant_shape(node)
            dtype = _constant_dtype(node)
            if dtype and node.outputs:
                self._inferred_dtypes[node.outputs[0]] = dtype
            self.set_outputs(node, [[shape]] * self.count, [[array]] * self.count, runtime=False, derived=False)
            return
        if standard and op in ("Shape", "Size"):
            self.visit_shape(node, inputs[0])
            return
        repair = self.analysis.repairs.get(node)
        if repair is not None:  # a baked Reshape, seen through: its output as if repaired (hypothetical)
            if inputs[0] is not None and inputs[0].dtype:
                self._inferred_dtypes[node.outputs[0]] = inputs[0].dtype
            self.set_outputs(node, [[shape] for shape in repair.shapes], [[None]] * self.count, runtime=True,
                             derived=derived)
            return
        seen = self.analysis.seen_through.get(node)
        if seen is not None:  # fails only because of a repairable batch slot: its output as if repaired
            self.analysis.issues.extend(seen.issues)
            if seen.dtype:
                self._inferred_dtypes[node.outputs[0]] = seen.dtype
            self.set_outputs(node, [[shape] for shape in seen.shapes], [[None]] * self.count, runtime=True,
                             derived=derived)
            return
        if standard and op == "If" and self.depth < 8 and self.visit_if(node):
            return
        function = self.functions_by_id.get((node.domain, node.op_type, node.overload))
        if function is not None and self.depth < 8:
            self.visit_call(node, function, inputs)
            return

        per_probe_shapes: list[list[Shape | None]] = []
        per_probe_values: list[list[np.ndarray | None]] = []
        if all(f is None or f.same_at_every_probe() for f in inputs):  # weights, constants: compute once
            shapes, values = self.compute(node, inputs, 0, standard, _operands_key(inputs, 0))
            self.set_outputs(node, [shapes] * self.count, [values] * self.count, runtime=runtime, derived=derived)
            self.note_unresolved(node, inputs, [shapes], standard)
            return
        previous: tuple[object, list[Shape | None], list[np.ndarray | None]] | None = None
        for probe in range(self.count):
            key = _operands_key(inputs, probe)
            if previous is not None and key == previous[0]:
                per_probe_shapes.append(previous[1])
                per_probe_values.append(previous[2])
                continue
            shapes, values = self.compute(node, inputs, probe, standard, key)
            per_probe_shapes.append(shapes)
            per_probe_values.append(values)
            previous = (key, shapes, values)
        self.set_outputs(node, per_probe_shapes, per_probe_values, runtime=runtime, derived=derived)
        self.note_unresolved(node, inputs, per_probe_shapes, standard)

    def visit_call(self, node: ir.Node, function: ir.Function, inputs: list[Facts | None]) -> None:
        """Walk a local function's body with the caller's facts bound to its parameters."""
        facts = self.analysis.facts
        for parameter, fact in zip(function.inputs, inputs):
            if fact is not None:
                facts[parameter] = fact
        self.depth += 1
        try:
            for inner in function:
                self.visit(inner)
        finally:
            self.depth -= 1
        for output, result in zip(node.outputs, function.outputs):
            inner_facts = facts.get(result)
            if inner_facts is None:
                self.unknown_outputs(node, runtime=True)
                return
            facts[output] = inner_facts

    def visit_if(self, node: ir.Node) -> bool:
        """An If whose condition is the same at every probe: walk the branch it takes (its nodes may read
        outer-scope values) and give the If's outputs that branch's facts. False when the condition is not
        known (the If stays opaque)."""
        branch = self.analysis.taken_branch(node)
        if branch is None:
            return False
        graph = node.attributes[branch].as_graph()
        if len(graph.outputs) != len(node.outputs):
            return False
        facts = self.analysis.facts
        for value in graph.initializers.values():
            self.initializer(value)
        self.depth += 1
        try:
            for inner in topological_order(graph):
                self.visit(inner)
        finally:
            self.depth -= 1
        for output, result in zip(node.outputs, graph.outputs):
            found = facts.get(result)
            if found is None:
                facts[output] = Facts(_dtype(output), [None] * self.count, [None] * self.count, runtime=True)
                continue
            facts[output] = Facts(found.dtype or _dtype(output), list(found.shapes), list(found.values),
                                  runtime=found.runtime, shape_derived=found.shape_derived)
        return True

    def visit_shape(self, node: ir.Node, source: Facts | None) -> None:
        shapes: list[list[Shape | None]] = []
        values: list[list[np.ndarray | None]] = []
        for probe in range(self.count):
            shape = source.shapes[probe] if source is not None else None
            if node.op_type == "Size":
                full = _full(shape)
                values.append([None if full is None else np.array(int(np.prod(full, dtype=np.int64)), dtype=np.int64)])
                shapes.append([()])
                continue
            if shape is None:
                values.append([None])
                shapes.append([None])
                continue
            rank = len(shape)
            start = int(attribute(node, "start", 0))
            end = attribute(node, "end")
            start = min(max(start + rank if start < 0 else start, 0), rank)
            end = rank if end is None else min(max(int(end) + rank if int(end) < 0 else int(end), 0), rank)
            part = shape[start:end]
            shapes.append([(max(end - start, 0),)])
            values.append([np.array(part, dtype=np.int64) if all(d is not None for d in part) else None])
        self.set_outputs(node, shapes, values, runtime=True, derived=True)

    def compute(
        self, node: ir.Node, inputs: list[Facts | None], probe: int, standard: bool, operands: tuple[object, ...]
    ) -> tuple[list[Shape | None], list[np.ndarray | None]]:
        """``node``'s outputs at ``probe``; ``operands`` is what its inputs are there (dtypes, shapes, values)."""
        values = [f.values[probe] if f is not None else None for f in inputs]
        evaluable = standard and all(
            v is not None for v, f in zip(values, inputs) if f is not None
        ) and len(node.outputs) > 0
        # Repeated blocks (24 transformer layers) ask the same questions many times: answer each once.
        key = self.node_key(node, operands)
        if evaluable:
            known = self.evaluated.get(key) if key is not None else None
            if known is not None:
                return [tuple(int(d) for d in r.shape) for r in known], list(known)
            try:
                results = evaluate(node, values, self.analysis.opset)
                if len(results) == len(node.outputs):
                    if key is not None:
                        for array in results:  # shared by the nodes that ask the same: never changed
                            array.flags.writeable = False
                        self.evaluated[key] = tuple(results)
                    return [tuple(int(d) for d in r.shape) for r in results], list(results)
            except NotEvaluable:
                pass
        if not standard and self.schema(node) is None:
            custom = self.custom(node, inputs, probe)
            if custom is not None:
                return custom
        return self.infer(node, inputs, probe, standard, key), [None] * len(node.outputs)

    def custom(self, node: ir.Node, inputs: list[Facts | None], probe: int
               ) -> tuple[list[Shape | None], list[np.ndarray | None]] | None:
        """A custom op's outputs from its reference implementation (None: it has none)."""
        from graphfix.plugins.registry import ReferenceError, active_registry
        from graphfix.plugins.shapes import analysis_outputs

        registry = self.analysis.custom_ops or active_registry()
        if not len(registry):
            return None
        try:
            out = analysis_outputs(node, inputs, probe, registry)
        except ReferenceError as error:
            self.analysis.issues.append(Issue(node, "inference-failed", str(error), probe))
            return [None] * len(node.outputs), [None] * len(node.outputs)
        if out is None:
            return None
        shapes, values, dtypes = out
        for output, dtype in zip(node.outputs, dtypes):
            self._inferred_dtypes[output] = dtype
        return list(shapes), list(values)

    def infer(self, node: ir.Node, inputs: list[Facts | None], probe: int, standard: bool,
              key: tuple[object, ...] | None) -> list[Shape | None]:
        """ONNX's inference of ``node``'s output shapes at ``probe`` (``key``: :meth:`node_key`)."""
        schema = self.schema(node)
        if schema is None:
            return [None] * len(node.outputs)
        known = self.inferred.get(key) if key is not None else None
        if known is None:
            known = self.infer_once(node, schema, inputs, probe)
            if key is not None and known[2] is None:  # ONNX's messages name the node: never reuse them
                self.inferred[key] = known
        shapes, dtypes, failure = known
        if failure is not None:
            self.analysis.issues.append(Issue(node, "inference-failed", failure, probe))
        for output, dtype in zip(node.outputs, dtypes):
            if dtype is not None:
                self._inferred_dtypes[output] = dtype
        if node.op_type == "Reshape" and standard:
            self.check_volume(node, inputs[0], shapes[0] if shapes else None, probe)
        return list(shapes)

    def node_key(self, node: ir.Node, operands: tuple[object, ...]) -> tuple[object, ...] | None:
        """What ``node``'s outputs depend on, given its ``operands``; None when it cannot be keyed (an
        attribute holds a tensor, a graph or a reference)."""
        if node in self._node_keys:
            own = self._node_keys[node]
        else:
            attributes = _attributes_key(node)
            own = self._node_keys[node] = None if attributes is None else (
                node.domain, node.op_type, attributes, tuple(v is not None for v in node.inputs),
                tuple(bool(v.name) for v in node.outputs))
        return None if own is None else (own, operands)

    def infer_once(self, node: ir.Node, schema: onnx.defs.OpSchema, inputs: list[Facts | None], probe: int
                   ) -> Inferred:
        """ONNX's inference of ``node``'s outputs: their shapes, element types, and the failure to report."""
        unknown: Inferred = ((None,) * len(node.outputs), (None,) * len(node.outputs), None)
        types: dict[str, onnx.TypeProto] = {}
        data: dict[str, onnx.TensorProto] = {}
        complete = True
        for value, f in zip(node.inputs, inputs):
            if value is None or f is None:
                continue
            if not f.dtype:
                return unknown  # nothing to infer from (after an unknown op)
            complete = complete and _full(f.shapes[probe]) is not None
            key = (f.dtype, f.shapes[probe])
            type_proto = self._types.get(key)
            if type_proto is None:  # many tensors share a shape: build each TypeProto once
                shape = f.shapes[probe]
                type_proto = onnx.helper.make_tensor_type_proto(f.dtype, None if shape is None else list(shape))
                self._types[key] = type_proto
            name = value.name or ""
            types[name] = type_proto
            array = f.values[probe]
            if array is not None:
                data[name] = numpy_helper.from_array(array, name)
        try:
            out = onnx.shape_inference.infer_node_outputs(
                schema, self.proto(node), types, data, opset_imports=self.opset_imports)
        except Exception as error:  # onnx raises InferenceError and others on mismatched shapes
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            # With unknown inputs the cause is upstream, already recorded there.
            return unknown[0], unknown[1], message if complete else None
        shapes: list[Shape | None] = []
        dtypes: list[int | None] = []
        for output in node.outputs:
            type_proto = out.get(output.name or "")
            if type_proto is None or not type_proto.tensor_type.HasField("shape"):
                shapes.append(None)
                dtypes.append(None)
                continue
            dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in type_proto.tensor_type.shape.dim)
            shapes.append(dims)
            dtypes.append(type_proto.tensor_type.elem_type)
        return tuple(shapes), tuple(dtypes), None

    def check_volume(self, node: ir.Node, source: Facts | None, shape: Shape | None, probe: int) -> None:
        before = _full(source.shapes[probe]) if source is not None else None
        after = _full(shape)
        if before is None or after is None:
            return
        if int(np.prod(before, dtype=np.int64)) != int(np.prod(after, dtype=np.int64)):
            self.analysis.issues.append(Issue(
                node, "volume-mismatch",
                f"reshape of {list(before)} into {list(after)} changes the number of elements", probe))

    def schema(self, node: ir.Node) -> onnx.defs.OpSchema | None:
        domain = "" if node.domain == "ai.onnx" else node.domain
        key = (domain, node.op_type)
        if key not in self.schemas:
            imports = self.analysis.model.opset_imports
            version = (imports.get("", imports.get("ai.onnx")) if domain == "" else imports.get(domain))
            try:
                self.schemas[key] = onnx.defs.get_schema(node.op_type, version or 1, domain) if version else None
            except onnx.defs.SchemaError:
                self.schemas[key] = None
        return self.schemas[key]

    def proto(self, node: ir.Node) -> onnx.NodeProto:
        cached = self._protos.get(node)
        if cached is None:
            cached = ir.serde.serialize_node(node)
            self._protos[node] = cached
        return cached

    def set_outputs(
        self,
        node: ir.Node,
        shapes: list[list[Shape | None]],
        values: list[list[np.ndarray | None]],
        *,
        runtime: bool,
        derived: bool,
    ) -> None:
        for index, output in enumerate(node.outputs):
            probe_shapes = [s[index] if index < len(s) else None for s in shapes]
            probe_values = [v[index] if index < len(v) else None for v in values]
            dtype = _dtype(output)
            for array in probe_values:
                if array is not None:
                    dtype = _tensor_dtype(array.dtype)
                    break
            else:
                dtype = self._inferred_dtypes.pop(output, dtype) or dtype
            self.analysis.facts[output] = Facts(dtype, probe_shapes, probe_values, runtime=runtime,
                                                shape_derived=derived)

    def unknown_outputs(self, node: ir.Node, runtime: bool) -> None:
        for output in node.outputs:
            self.analysis.facts[output] = Facts(_dtype(output), [None] * self.count, [None] * self.count,
                                                runtime=runtime)

    def note_unresolved(
        self, node: ir.Node, inputs: list[Facts | None], shapes: list[list[Shape | None]], standard: bool
    ) -> None:
        """Record the first node where shapes stop being known, so lint can say why."""
        named = [index for index, output in enumerate(node.outputs) if output.name]  # "" = omitted output
        if all(_full(probe[i]) is not None for probe in shapes for i in named if i < len(probe)):
            return
        inputs_known = all(f is None or all(_full(s) is not None for s in f.shapes) for f in inputs)
        if not inputs_known:
            return  # the cause is upstream, and already recorded there
        if any(i.node is node for i in self.analysis.issues[-self.count:]):
            return
        if not standard and self.schema(node) is None:
            kind = "unknown-op"
            where = "a local function" if (node.domain, node.op_type) in self.functions else "an op with no schema"
            message = f"{node.domain or 'ai.onnx'}::{node.op_type} is {where}; shapes after it are not analysed"
        elif node.op_type in DATA_DEPENDENT_OPS:
            kind = "data-dependent"
            message = f"the output shape of {node.op_type} depends on tensor values"
        else:
            shape_inputs = shape_input_indices(node, self.analysis.opset)
            facts = self.analysis.facts
            data_fed = [value for i in shape_inputs if i < len(node.inputs)
                        for value in [node.inputs[i]] if value is not None and not facts[value].known()]
            if data_fed:
                kind = "data-dependent"
                message = f"its {node.op_type} shape input {data_fed[0].name!r} depends on tensor values"
            else:
                kind = "unknown-op"
                message = f"shape inference cannot resolve {node.op_type}; shapes after it are not analysed"
        self.analysis.issues.append(Issue(node, kind, message))


def _full(shape: Shape | None) -> tuple[int, ...] | None:
    """``shape`` when every dim of it is known."""
    if shape is None or None in shape:
        return None
    return shape  # type: ignore[return-value]  # no None left


def _read_small(tensor: ir.TensorProtocol) -> np.ndarray | None:
    try:
        return np.asarray(tensor.numpy())
    except Exception:  # unreadable external data is reported by loading; here it is just unknown
        return None


def _constant_shape(node: ir.Node) -> Shape | None:
    attr = node.attributes.get("value")
    if attr is not None:
        return tuple(int(d) for d in attr.value.shape)
    for name in ("value_floats", "value_ints"):
        attr = node.attributes.get(name)
        if attr is not None:
            return (len(attr.value),)
    if "value_float" in node.attributes or "value_int" in node.attributes:
        return ()
    return None


def _constant_dtype(node: ir.Node) -> int:
    attr = node.attributes.get("value")
    if attr is not None:
        return int(attr.value.dtype.value)
    for name, dtype in (("value_float", 1), ("value_floats", 1), ("value_int", 7), ("value_ints", 7)):
        if name in node.attributes:
            return dtype
    return 0


@functools.lru_cache(maxsize=64)
def _tensor_dtype(dtype: np.dtype) -> int:
    return int(onnx.helper.np_dtype_to_tensor_dtype(dtype))


def _operands_key(inputs: list[Facts | None], probe: int) -> tuple[object, ...]:
    """What ``inputs`` are at ``probe``: element type, shape and (small) value of each."""
    return tuple([None if f is None else (f.dtype, f.shapes[probe], _value_key(f.values[probe])) for f in inputs])


def _value_key(array: np.ndarray | None) -> object:
    if array is None:
        return None
    return (array.dtype.str, array.shape, array.tobytes())
