"""Converting a model to another default-domain opset: onnx's version converter, with graphfix's adapters
where it has none or gets one wrong.

    new_model = convert_opset(model, 17, analysis=analysis)   # raises OpsetConversionError naming the node

Tried on torch's exports (both exporters, opset 18 and 20), onnx's converter alone fails or writes an
invalid model for the operators below; graphfix converts these itself, through its editor on onnx-ir:

======================================  ========================================================================
operator (version)                      down to an opset before it
======================================  ========================================================================
ReduceMean/Max/Min/Prod/L1/L2/LogSum/   the ``axes`` input (a constant) becomes the attribute, and
LogSumExp/SumSquare (18; Max/Min 20)    ``noop_with_empty_axes`` (which onnx's adapter leaves behind) is dropped,
                                        or the node becomes an Identity where it meant "reduce nothing"
Split (18)                              ``num_outputs`` becomes split sizes (the last chunk smaller, as opset 18
                                        defines it), or is dropped where the dim divides evenly
Pad (18, 19, 21, 23, 24)                ``axes`` becomes full-rank pads; ``wrap`` mode (19) is refused below 19
Resize (18, 19)                         ``antialias=0``, ``keep_aspect_ratio_policy="stretch"`` and an ``axes``
                                        listing every dim are dropped; other values are refused
ConstantOfShape (20+)                   kept when its value type exists in the older version
Gelu (20)                               ``0.5*x*(1+Erf(x/sqrt(2)))``, or the tanh form for
                                        ``approximate="tanh"``
Mish (18)                               ``x*Tanh(Softplus(x))``
======================================  ========================================================================

The nodes graphfix converts are moved to a private domain while onnx's converter runs (it leaves other
domains alone), then written in the target form. Every other node is onnx's converter's. A node neither
can convert is named in ``OpsetConversionError``; ``conversion_blocker`` finds such nodes cheaply, for lint.
The caller validates (``onnx.checker``) and verifies the result; this module only converts.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnx.defs
import onnx_ir as ir

from graphfix.errors import GraphfixError

if TYPE_CHECKING:
    from graphfix.analysis import Analysis

# Operators that do not exist in older opsets, which the conversion writes with older operators.
DECOMPOSED_OPS = frozenset({"Gelu", "Mish"})
HOLD_DOMAIN = "graphfix.opset-hold"
REDUCE_OPS = frozenset({"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})
# Types ConstantOfShape's value may have before opset 20 (BFLOAT16 and the FP8 types came with 20/21).
_OLD_CONSTANT_OF_SHAPE_TYPES = frozenset({"FLOAT16", "FLOAT", "DOUBLE", "INT8", "INT16", "INT32", "INT64", "UINT8",
                                          "UINT16", "UINT32", "UINT64", "BOOL"})


@dataclass(frozen=True)
class ConvertOpset:
    """Fix plan: convert the whole model from default-domain opset ``source`` to ``target``."""

    source: int
    target: int

    def describe(self) -> str:
        return f"model: opset {self.source} -> {self.target} (onnx's version converter and graphfix's adapters)"


class OpsetConversionError(GraphfixError):
    """The model cannot be converted; the message names the node and why."""

    def __init__(self, message: str, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node


# -- reading the model ----------------------------------------------------------------------------------


def _label(node: ir.Node) -> str:
    if node.name:
        return node.name
    first = node.outputs[0].name if node.outputs else "?"
    return f"{node.op_type}({first})"


def _default(domain: str) -> bool:
    return domain in ("", "ai.onnx")


@functools.lru_cache(maxsize=1024)
def _since(op_type: str, opset: int) -> int | None:
    try:
        return int(onnx.defs.get_schema(op_type, opset).since_version)
    except onnx.defs.SchemaError:
        return None


def _exists(op_type: str, opset: int) -> bool:
    return _since(op_type, opset) is not None


def _nodes(graph: ir.Graph) -> Iterator[ir.Node]:
    """A graph's nodes and, recursively, its subgraphs' nodes."""
    for node in graph:
        yield node
        for attr in node.attributes.values():
            if attr.type is ir.AttributeType.GRAPH:
                yield from _nodes(attr.value)
            elif attr.type is ir.AttributeType.GRAPHS:
                for sub in attr.value:
                    yield from _nodes(sub)


def _input(node: ir.Node, index: int) -> ir.Value | None:
    if index < len(node.inputs):
        value = node.inputs[index]
        if value is not None and value.name != "":
            return value
    return None


def _constant(value: ir.Value | None) -> np.ndarray | None:
    """The values of an initializer or a Constant node's output (None otherwise)."""
    if value is None:
        return None
    if value.const_value is not None:
        try:
            return np.asarray(value.const_value.numpy())
        except Exception:  # noqa: BLE001 - unreadable external data
            return None
    producer = value.producer()
    if producer is not None and producer.op_type == "Constant" and _default(producer.domain):
        from graphfix.evaluator import constant_value

        return constant_value(producer)
    return None


def _attr(node: ir.Node, name: str, default: Any = None) -> Any:
    attr = node.attributes.get(name)
    if attr is None or attr.is_ref():
        return default
    value = attr.value
    return list(value) if isinstance(value, tuple) else value


class _Shapes:
    """Static shapes and ranks, from graphfix's analysis when there is one, else from declared shapes."""

    def __init__(self, analysis: Analysis | None) -> None:
        self.analysis = analysis

    def shape(self, value: ir.Value | None) -> tuple[int, ...] | None:
        if value is None:
            return None
        if self.analysis is not None and value in self.analysis.facts:
            from graphfix.targets.check import static_shape

            found = static_shape(self.analysis, value)
            if found is not None:
                return found
        if value.shape is not None and all(isinstance(d, int) for d in value.shape):
            return tuple(int(d) for d in value.shape)  # type: ignore[arg-type]
        if value.const_value is not None:
            return tuple(int(d) for d in value.const_value.shape)  # type: ignore[arg-type]
        return None

    def dim(self, value: ir.Value | None, axis: int) -> int | None:
        """One dim's size when it is the same at every batch size (the others may be dynamic)."""
        if value is None:
            return None
        if self.analysis is not None and value in self.analysis.facts:
            from graphfix.analysis import Kind

            facts = self.analysis.facts[value]
            if self.analysis.dim_kind(value, axis) is Kind.CONSTANT and facts.shapes[0] is not None:
                return int(facts.shapes[0][axis])  # type: ignore[arg-type]
        if value.shape is not None and 0 <= axis < len(value.shape) and isinstance(value.shape[axis], int):
            return int(value.shape[axis])  # type: ignore[arg-type]
        return None

    def rank(self, value: ir.Value | None) -> int | None:
        if value is None:
            return None
        if self.analysis is not None:
            from graphfix.targets.check import rank

            found = rank(self.analysis, value)
            if found is not None:
                return found
        return len(value.shape) if value.shape is not None else None

    def dtype(self, value: ir.Value | None) -> ir.DataType | None:
        if value is None:
            return None
        if value.dtype is not None:
            return value.dtype
        if self.analysis is not None:
            facts = self.analysis.facts.get(value)
            if facts is not None and facts.dtype:
                return ir.DataType(facts.dtype)
        return None


# -- adapters -------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What an adapter decided for one node before conversion (the node is found again by name)."""

    op_type: str
    params: dict[str, Any] = field(default_factory=dict)


Decide = Callable[[ir.Node, int, int, _Shapes], "tuple[_Plan | None, str | None]"]


def _decide_reduce(node: ir.Node, source: int, target: int, shapes: _Shapes) -> tuple[_Plan | None, str | None]:
    dtype = shapes.dtype(_input(node, 0))
    if target < 20 and dtype is ir.DataType.BOOL:
        return None, f"{node.op_type} of BOOL needs opset 20"
    if target >= 18:
        return _Plan(node.op_type, {"keep": True}), None
    axes_value = _input(node, 1)
    noop = int(_attr(node, "noop_with_empty_axes", 0) or 0)
    axes: list[int] | None = None
    if axes_value is not None:
        array = _constant(axes_value)
        if array is None:
            return None, "its axes are computed at run time (opset 17 needs them as an attribute)"
        axes = [int(a) for a in np.asarray(array).reshape(-1)]
    if not axes and noop:
        return _Plan(node.op_type, {"identity": True}), None
    return _Plan(node.op_type, {"axes": axes or None}), None


def _decide_split(node: ir.Node, source: int, target: int, shapes: _Shapes) -> tuple[_Plan | None, str | None]:
    if _input(node, 1) is not None:
        return _Plan("Split", {}), None
    count = int(_attr(node, "num_outputs", len(node.outputs)) or len(node.outputs))
    rank = shapes.rank(_input(node, 0))
    axis = int(_attr(node, "axis", 0) or 0)
    if rank is not None and axis < 0:
        axis += rank
    size = shapes.dim(_input(node, 0), axis)
    if size is None:
        return None, f"it splits dim {axis} into {count} parts and that dim's size is not static"
    if size % count == 0:
        return _Plan("Split", {}), None  # Split-13 splits evenly into its outputs
    chunk = math.ceil(size / count)
    sizes = [chunk] * (count - 1) + [size - chunk * (count - 1)]
    if sizes[-1] <= 0:
        return None, f"{count} chunks of {chunk} exceed dim {axis} of size {size}"
    return _Plan("Split", {"split": sizes}), None


def _decide_pad(node: ir.Node, source: int, target: int, shapes: _Shapes) -> tuple[_Plan | None, str | None]:
    mode = _attr(node, "mode", "constant")
    if mode == "wrap" and target < 19:
        return None, "mode 'wrap' exists from opset 19 on"
    axes_value = _input(node, 3)
    if axes_value is None or target >= 18:
        return _Plan("Pad", {}), None
    axes = _constant(axes_value)
    pads = _constant(_input(node, 1))
    rank = shapes.rank(_input(node, 0))
    if axes is None or pads is None or rank is None:
        return None, "its axes input needs constant axes and pads and a known rank to become full-rank pads"
    axes_list = [int(a) + rank if int(a) < 0 else int(a) for a in np.asarray(axes).reshape(-1)]
    flat = [int(p) for p in np.asarray(pads).reshape(-1)]
    full = [0] * (2 * rank)
    for index, axis in enumerate(axes_list):
        full[axis] = flat[index]
        full[axis + rank] = flat[index + len(axes_list)]
    return _Plan("Pad", {"pads": full}), None


def _decide_resize(node: ir.Node, source: int, target: int, shapes: _Shapes) -> tuple[_Plan | None, str | None]:
    if target < 19 and _attr(node, "coordinate_transformation_mode") == "half_pixel_symmetric":
        return None, "coordinate_transformation_mode 'half_pixel_symmetric' exists from opset 19 on"
    if target >= 18:
        return _Plan("Resize", {}), None
    if int(_attr(node, "antialias", 0) or 0) != 0:
        return None, "antialias=1 exists from opset 18 on"
    policy = _attr(node, "keep_aspect_ratio_policy", "stretch")
    if policy != "stretch" and _input(node, 3) is not None:
        return None, f"keep_aspect_ratio_policy {policy!r} exists from opset 18 on"
    axes = _attr(node, "axes")
    params: dict[str, Any] = {}
    if axes is not None:
        rank = shapes.rank(_input(node, 0))
        if rank is None:
            return None, "its axes attribute needs the input's rank"
        axes = [int(a) + rank if int(a) < 0 else int(a) for a in axes]
        if axes != list(range(rank)):
            for index, fill in ((2, 1.0), (3, None)):
                value = _constant(_input(node, index))
                if _input(node, index) is None:
                    continue
                if value is None:
                    return None, f"its axes attribute needs constant {'scales' if index == 2 else 'sizes'}"
                full: list[Any]
                if fill is None:
                    full = list(shapes.shape(_input(node, 0)) or [])
                    if len(full) != rank:
                        return None, "its axes attribute with sizes needs the input's static shape"
                else:
                    full = [fill] * rank
                for position, axis in enumerate(axes):
                    full[axis] = np.asarray(value).reshape(-1)[position].item()
                params["scales" if index == 2 else "sizes"] = full
    return _Plan("Resize", params), None


def _decide_constant_of_shape(node: ir.Node, source: int, target: int, shapes: _Shapes) -> tuple[_Plan | None, str | None]:
    attr = node.attributes.get("value")
    if attr is not None and target < 20:
        name = onnx.TensorProto.DataType.Name(int(attr.value.dtype.value))
        if name not in _OLD_CONSTANT_OF_SHAPE_TYPES:
            return None, f"its {name} value exists from opset 20 on"
    return _Plan("ConstantOfShape", {}), None


def _decide_decomposition(node: ir.Node, source: int, target: int, shapes: _Shapes) -> tuple[_Plan | None, str | None]:
    dtype = shapes.dtype(_input(node, 0))
    if dtype is None:
        return None, "its input's element type is not known"
    if node.op_type == "Gelu":
        approximate = _attr(node, "approximate", "none")
        if approximate not in ("none", "tanh"):
            return None, f"approximate={approximate!r}"
        return _Plan("Gelu", {"dtype": dtype, "approximate": approximate}), None
    return _Plan(node.op_type, {"dtype": dtype}), None


_ADAPTERS: dict[str, Decide] = {
    **dict.fromkeys(REDUCE_OPS, _decide_reduce),
    "Split": _decide_split,
    "Pad": _decide_pad,
    "Resize": _decide_resize,
    "ConstantOfShape": _decide_constant_of_shape,
    "Gelu": _decide_decomposition,
    "Mish": _decide_decomposition,
}


def _needs_conversion(node: ir.Node, source: int, target: int) -> int | None:
    """The node's version at ``source`` when it changes between ``target`` and ``source``, else None."""
    if not _default(node.domain):
        return None
    since = _since(node.op_type, source)
    if since is None or since <= target:
        return None
    return since


def _plans(model: ir.Model, source: int, target: int, analysis: Analysis | None) -> dict[ir.Node, _Plan]:
    """What graphfix converts itself; raises OpsetConversionError for a node nobody can convert."""
    shapes = _Shapes(analysis)
    plans: dict[ir.Node, _Plan] = {}
    for function in model.functions.values():
        inner = dict(function.opset_imports)
        if max(inner.get("", 0), inner.get("ai.onnx", 0)) > target:
            raise OpsetConversionError(f"local function {function.domain}::{function.name} imports opset "
                                       f"{max(inner.get('', 0), inner.get('ai.onnx', 0))}; graphfix does not "
                                       "convert function bodies (inline it first)")
    if source < target:
        return plans  # onnx's upward adapters cover every operator
    for node in _nodes(model.graph):
        since = _needs_conversion(node, source, target)
        if since is None:
            continue
        decide = _ADAPTERS.get(node.op_type)
        if decide is None:
            if not _exists(node.op_type, target):
                raise OpsetConversionError(f"node {_label(node)!r} ({node.op_type}-{since}): {node.op_type} does not "
                                           f"exist in opset {target} and graphfix has no adapter for it",
                                           _label(node))
            continue  # onnx's converter's job
        plan, reason = decide(node, source, target, shapes)
        if plan is None:
            raise OpsetConversionError(f"node {_label(node)!r} ({node.op_type}-{since}) cannot be converted to "
                                       f"opset {target}: {reason}", _label(node))
        plans[node] = plan
    return plans


def conversion_blocker(model: ir.Model, target: int, analysis: Analysis | None = None) -> str | None:
    """Why the model cannot be converted to ``target`` (the failing node), or None. Cheap: it runs graphfix's
    adapters' checks, not onnx's converter."""
    source = model.opset_imports.get("", model.opset_imports.get("ai.onnx", 0))
    try:
        _plans(model, source, target, analysis)
    except OpsetConversionError as error:
        return str(error)
    return None


# -- converting -----------------------------------------------------------------------------------------


def convert_opset(model: ir.Model, target: int, *, analysis: Analysis | None = None,
                  base_dir: str | Path | None = None) -> ir.Model:
    """A copy of ``model`` at default-domain opset ``target``; ``model`` itself is left as it is.

    ``analysis`` (graphfix's shape analysis of ``model``) supplies static shapes the model does not declare;
    ``base_dir`` is where the model's external data lives. Raises ``OpsetConversionError`` naming the node
    that neither onnx's converter nor graphfix's adapters can convert.
    """
    from onnx import version_converter

    source = model.opset_imports.get("", model.opset_imports.get("ai.onnx", 0))
    if source == target:
        return model
    plans = _plans(model, source, target, analysis)
    if base_dir is None:  # in-memory models keep where their external data lives
        base_dir = next((str(t.const_value.base_dir) for t in model.graph.initializers.values()
                         if isinstance(t.const_value, ir.ExternalTensor) and t.const_value.base_dir), None)
    proto = ir.serde.serialize_model(model)
    held = _hold(proto, {_key(node): plan for node, plan in plans.items()})
    try:
        converted = version_converter.convert_version(proto, target)
    except Exception as error:  # noqa: BLE001 - onnx raises RuntimeError with its C++ assertion text
        raise _converter_error(error, proto, target) from None
    result = ir.serde.deserialize_model(converted)
    if base_dir is not None:
        from onnx_ir import external_data

        external_data.set_base_dir(result.graph, str(base_dir))
    _apply_plans(result, held)
    result.opset_imports.pop(HOLD_DOMAIN, None)
    result.opset_imports.pop("ai.onnx", None)
    result.opset_imports[""] = target
    return result


def _key(node: ir.Node) -> tuple[str, tuple[str, ...]]:
    return node.op_type, tuple(o.name or "" for o in node.outputs)


def _hold(proto: onnx.ModelProto, wanted: dict[tuple[str, tuple[str, ...]], _Plan]) -> dict[str, _Plan]:
    """Move the nodes graphfix converts into the private domain, where onnx's converter leaves them; returns
    their plans by node name (unnamed nodes get one). Nodes are matched by op type and output names, which
    are unique in a valid model."""
    used = {node.name for node in _proto_nodes(proto.graph)}
    held: dict[str, _Plan] = {}
    counter = 0
    for node in _proto_nodes(proto.graph):
        plan = wanted.get((node.op_type, tuple(node.output)))
        if plan is None or node.domain not in ("", "ai.onnx"):
            continue
        if not node.name or node.name in held:
            counter += 1
            while f"graphfix/opset_{counter}" in used:
                counter += 1
            node.name = f"graphfix/opset_{counter}"
            used.add(node.name)
        node.domain = HOLD_DOMAIN
        held[node.name] = plan
    proto.opset_import.append(onnx.helper.make_opsetid(HOLD_DOMAIN, 1))
    return held


def _proto_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _proto_nodes(attr.g)
            for sub in attr.graphs:
                yield from _proto_nodes(sub)


def _apply_plans(model: ir.Model, held: dict[str, _Plan]) -> None:
    """Write the held nodes in the target opset's form, through graphfix's editor."""
    from graphfix.editor import Editor

    editor = Editor(model)
    for node in list(_nodes(model.graph)):
        if node.domain != HOLD_DOMAIN:
            continue
        node.domain = ""
        plan = held[node.name or ""]
        _REWRITES[plan.op_type if plan.op_type in _REWRITES else "Reduce"](editor, node, plan)
    if held:
        editor.cleanup()  # the axes and pads constants the rewrites replaced


def _drop(node: ir.Node, *names: str) -> None:
    for name in names:
        node.attributes.pop(name, None)


def _trim_inputs(node: ir.Node, count: int) -> None:
    for index in range(count, len(node.inputs)):
        node.replace_input_with(index, None)
    node.resize_inputs(min(count, len(node.inputs)))


def _rewrite_reduce(editor: Any, node: ir.Node, plan: _Plan) -> None:
    if plan.params.get("keep"):
        return
    if plan.params.get("identity"):
        # No axes and noop_with_empty_axes: no reduction, only the elementwise part (ONNX's reference).
        node.op_type = _NO_REDUCTION.get(node.op_type, "Identity")
        node.attributes.clear()
        _trim_inputs(node, 1)
        if node.op_type == "Mul":  # ReduceSumSquare: x * x
            node.resize_inputs(2)
            node.replace_input_with(1, node.inputs[0])
        return
    _trim_inputs(node, 1)
    _drop(node, "noop_with_empty_axes", "axes")
    if plan.params.get("axes"):
        node.attributes["axes"] = ir.AttrInt64s("axes", [int(a) for a in plan.params["axes"]])


_NO_REDUCTION = {"ReduceL1": "Abs", "ReduceL2": "Abs", "ReduceSumSquare": "Mul", "ReduceLogSum": "Log"}


def _rewrite_split(editor: Any, node: ir.Node, plan: _Plan) -> None:
    _drop(node, "num_outputs")
    sizes = plan.params.get("split")
    if sizes is not None:
        node.resize_inputs(2)
        node.replace_input_with(1, editor.constant(np.array(sizes, np.int64), f"{node.name}_split"))


def _rewrite_pad(editor: Any, node: ir.Node, plan: _Plan) -> None:
    pads = plan.params.get("pads")
    if pads is None:
        return
    node.replace_input_with(1, editor.constant(np.array(pads, np.int64), f"{node.name}_pads"))
    _trim_inputs(node, 3)
    while len(node.inputs) > 2 and node.inputs[-1] is None:
        node.resize_inputs(len(node.inputs) - 1)


def _rewrite_resize(editor: Any, node: ir.Node, plan: _Plan) -> None:
    _drop(node, "antialias", "keep_aspect_ratio_policy", "axes")
    if "scales" in plan.params:
        node.replace_input_with(2, editor.constant(np.array(plan.params["scales"], np.float32), f"{node.name}_scales"))
    if "sizes" in plan.params:
        node.replace_input_with(3, editor.constant(np.array(plan.params["sizes"], np.int64), f"{node.name}_sizes"))


def _rewrite_nothing(editor: Any, node: ir.Node, plan: _Plan) -> None:
    del editor, node, plan


def _decompose(editor: Any, node: ir.Node, plan: _Plan) -> None:
    """Replace a Gelu or Mish by older operators computing the same function (its output keeps its name)."""
    graph = node.graph
    assert graph is not None
    x = node.inputs[0]
    assert x is not None
    dtype = plan.params["dtype"].numpy()
    created: list[ir.Node] = []
    prefix = f"{node.name or node.op_type}"

    def const(value: float, hint: str) -> ir.Value:
        made: ir.Value = editor.constant(np.array(value, dtype=dtype), f"{prefix}_{hint}")
        return made

    def add(op: str, *inputs: ir.Value) -> ir.Value:
        name = editor._unique(f"{prefix}/{op}")
        made = ir.node(op, list(inputs), name=name)
        made.outputs[0].name = editor._unique(f"{name}_output")
        made.outputs[0].dtype = plan.params["dtype"]
        created.append(made)
        return made.outputs[0]

    if node.op_type == "Mish":
        result = add("Mul", x, add("Tanh", add("Softplus", x)))
    elif plan.params.get("approximate") == "tanh":
        cube = add("Mul", add("Mul", x, x), x)
        inner = add("Mul", add("Add", x, add("Mul", cube, const(0.044715, "coef"))),
                    const(math.sqrt(2.0 / math.pi), "sqrt_2_over_pi"))
        result = add("Mul", add("Mul", x, add("Add", add("Tanh", inner), const(1.0, "one"))), const(0.5, "half"))
    else:
        erf = add("Erf", add("Div", x, const(math.sqrt(2.0), "sqrt2")))
        result = add("Mul", add("Mul", x, add("Add", erf, const(1.0, "one"))), const(0.5, "half"))
    graph.insert_before(node, created)
    old = node.outputs[0]
    name = old.name
    result.shape, result.type = old.shape, old.type
    old.replace_all_uses_with(result, replace_graph_outputs=True)
    graph.remove(node, safe=True)
    result.name = name


_REWRITES: dict[str, Callable[[Any, ir.Node, _Plan], None]] = {
    "Reduce": _rewrite_reduce,
    "Split": _rewrite_split,
    "Pad": _rewrite_pad,
    "Resize": _rewrite_resize,
    "ConstantOfShape": _rewrite_nothing,
    "Gelu": _decompose,
    "Mish": _decompose,
}


_NO_ADAPTER = re.compile(r"(?:No Adapter (?:To|From) Version \$?\d+ for|No Previous Version of) (\w+)")


def _converter_error(error: Exception, proto: onnx.ModelProto, target: int) -> OpsetConversionError:
    text = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    match = _NO_ADAPTER.search(str(error))
    if match:
        op = match.group(1)
        node = next((n for n in _proto_nodes(proto.graph) if n.op_type == op and n.domain in ("", "ai.onnx")), None)
        where = f"node {node.name or op!r} ({op})" if node is not None else op
        return OpsetConversionError(f"{where} cannot be converted to opset {target}: onnx's version converter has "
                                    f"no adapter for {op} and graphfix has none either",
                                    node.name if node is not None else None)
    text = re.sub(r"^.*?(?:Assertion `[^`]*` failed: )", "", text)
    return OpsetConversionError(f"onnx's version converter cannot convert the model to opset {target}: {text}")
