"""What converting a model to another default-domain opset takes: the nodes graphfix's adapters convert, and
the node nothing can convert (read-only; :mod:`graphfix.fixing.opset` does the conversion).

Tried on torch's exports (both exporters, opset 18 and 20), onnx's version converter alone fails or writes an
invalid model for the operators below; graphfix converts these itself:

======================================  ========================================================================
operator (version)                      down to an opset before it
======================================  ========================================================================
ReduceMean/Max/Min/Prod/L1/L2/LogSum/   the ``axes`` input (a constant) becomes the attribute, and
LogSumExp/SumSquare (18; Max/Min 20)    ``noop_with_empty_axes`` (which onnx's adapter leaves behind) is dropped,
                                        or, where it meant "reduce nothing", the node becomes its elementwise
                                        part (Identity, Abs, Log, x*x)
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

:func:`plan_conversion` decides, per node, what the adapter will write (from the graph and graphfix's shape
analysis, before anything changes); :func:`conversion_blocker` says which node cannot be converted (lint).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnx.defs
import onnx_ir as ir

from graphfix.errors import GraphfixError

if TYPE_CHECKING:
    from graphfix.analyse.analysis import Analysis

DECOMPOSED_OPS = frozenset({"Gelu", "Mish"})
REDUCE_OPS = frozenset({"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})
# Types ConstantOfShape's value may have before opset 20 (BFLOAT16 and the FP8 types came with 20/21).
_OLD_CONSTANT_OF_SHAPE_TYPES = frozenset({"FLOAT16", "FLOAT", "DOUBLE", "INT8", "INT16", "INT32", "INT64", "UINT8",
                                          "UINT16", "UINT32", "UINT64", "BOOL"})


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


def walk_nodes(graph: ir.Graph) -> Iterator[ir.Node]:
    """A graph's nodes and, recursively, its subgraphs' nodes."""
    for node in graph:
        yield node
        for attr in node.attributes.values():
            if attr.type is ir.AttributeType.GRAPH:
                yield from walk_nodes(attr.value)
            elif attr.type is ir.AttributeType.GRAPHS:
                for sub in attr.value:
                    yield from walk_nodes(sub)


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
        from graphfix.analyse.evaluator import constant_value

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
            from graphfix.targets.sites import static_shape

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
            from graphfix.analyse.facts import Kind

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
            from graphfix.targets.sites import rank

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
class ConversionPlan:
    """What an adapter decided for one node before conversion (the node is found again by name)."""

    op_type: str
    params: dict[str, Any] = field(default_factory=dict)


Decide = Callable[[ir.Node, int, int, _Shapes], "tuple[ConversionPlan | None, str | None]"]


def _decide_reduce(node: ir.Node, source: int, target: int, shapes: _Shapes) -> tuple[ConversionPlan | None, str | None]:
    dtype = shapes.dtype(_input(node, 0))
    if target < 20 and dtype is ir.DataType.BOOL:
        return None, f"{node.op_type} of BOOL needs opset 20"
    if target >= 18:
        return ConversionPlan(node.op_type, {"keep": True}), None
    axes_value = _input(node, 1)
    noop = int(_attr(node, "noop_with_empty_axes", 0) or 0)
    axes: list[int] | None = None
    if axes_value is not None:
        array = _constant(axes_value)
        if array is None:
            return None, "its axes are computed at run time (opset 17 needs them as an attribute)"
        axes = [int(a) for a in np.asarray(array).reshape(-1)]
    if not axes and noop:
        return ConversionPlan(node.op_type, {"identity": True}), None
    return ConversionPlan(node.op_type, {"axes": axes or None}), None


def _decide_split(node: ir.Node, source: int, target: int, shapes: _Shapes) -> tuple[ConversionPlan | None, str | None]:
    if _input(node, 1) is not None:
        return ConversionPlan("Split", {}), None
    count = int(_attr(node, "num_outputs", len(node.outputs)) or len(node.outputs))
    rank = shapes.rank(_input(node, 0))
    axis = int(_attr(node, "axis", 0) or 0)
    if rank is not None and axis < 0:
        axis += rank
    size = shapes.dim(_input(node, 0), axis)
    if size is None:
        return None, f"it splits dim {axis} into {count} parts and that dim's size is not static"
    if size % count == 0:
        return ConversionPlan("Split", {}), None  # Split-13 splits evenly into its outputs
    chunk = math.ceil(size / count)
    sizes = [chunk] * (count - 1) + [size - chunk * (count - 1)]
    if sizes[-1] <= 0:
        return None, f"{count} chunks of {chunk} exceed dim {axis} of size {size}"
    return ConversionPlan("Split", {"split": sizes}), None


def _decide_pad(node: ir.Node, source: int, target: int, shapes: _Shapes) -> tuple[ConversionPlan | None, str | None]:
    mode = _attr(node, "mode", "constant")
    if mode == "wrap" and target < 19:
        return None, "mode 'wrap' exists from opset 19 on"
    axes_value = _input(node, 3)
    if axes_value is None or target >= 18:
        return ConversionPlan("Pad", {}), None
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
    return ConversionPlan("Pad", {"pads": full}), None


def _decide_resize(node: ir.Node, source: int, target: int, shapes: _Shapes) -> tuple[ConversionPlan | None, str | None]:
    if target < 19 and _attr(node, "coordinate_transformation_mode") == "half_pixel_symmetric":
        return None, "coordinate_transformation_mode 'half_pixel_symmetric' exists from opset 19 on"
    if target >= 18:
        return ConversionPlan("Resize", {}), None
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
    return ConversionPlan("Resize", params), None


def _decide_constant_of_shape(node: ir.Node, source: int, target: int, shapes: _Shapes) -> tuple[ConversionPlan | None, str | None]:
    attr = node.attributes.get("value")
    if attr is not None and target < 20:
        name = onnx.TensorProto.DataType.Name(int(attr.value.dtype.value))
        if name not in _OLD_CONSTANT_OF_SHAPE_TYPES:
            return None, f"its {name} value exists from opset 20 on"
    return ConversionPlan("ConstantOfShape", {}), None


def _decide_decomposition(node: ir.Node, source: int, target: int, shapes: _Shapes) -> tuple[ConversionPlan | None, str | None]:
    dtype = shapes.dtype(_input(node, 0))
    if dtype is None:
        return None, "its input's element type is not known"
    if node.op_type == "Gelu":
        approximate = _attr(node, "approximate", "none")
        if approximate not in ("none", "tanh"):
            return None, f"approximate={approximate!r}"
        return ConversionPlan("Gelu", {"dtype": dtype, "approximate": approximate}), None
    return ConversionPlan(node.op_type, {"dtype": dtype}), None


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


def plan_conversion(model: ir.Model, source: int, target: int, analysis: Analysis | None) -> dict[ir.Node, ConversionPlan]:
    """What graphfix converts itself; raises OpsetConversionError for a node nobody can convert."""
    shapes = _Shapes(analysis)
    plans: dict[ir.Node, ConversionPlan] = {}
    for function in model.functions.values():
        inner = dict(function.opset_imports)
        if max(inner.get("", 0), inner.get("ai.onnx", 0)) > target:
            raise OpsetConversionError(f"local function {function.domain}::{function.name} imports opset "
                                       f"{max(inner.get('', 0), inner.get('ai.onnx', 0))}; graphfix does not "
                                       "convert function bodies (inline it first)")
    if source < target:
        return plans  # onnx's upward adapters cover every operator
    for node in walk_nodes(model.graph):
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
        plan_conversion(model, source, target, analysis)
    except OpsetConversionError as error:
        return str(error)
    return None


# -- converting -----------------------------------------------------------------------------------------
