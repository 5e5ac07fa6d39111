"""Evaluating small tensors: the integer arithmetic that computes shapes.

The analysis runs the shape-carrying part of a graph (``Shape``, ``Gather``, ``Concat``, arithmetic on the
results, ...) on concrete values at each probe batch size. Only small tensors are evaluated, so weights
are never touched. The common shape ops are written here in numpy (they run thousands of times on a
large model); anything else falls back to ONNX's reference implementation, one node at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
import onnx.helper
import onnx_ir as ir

from graphfix.analyse.operands import attribute_array, operand

# Tensors above this many elements are never evaluated: shape tensors are tiny, and a bound keeps the
# analysis independent of the model's size.
MAX_ELEMENTS = 4096

Array = np.ndarray


class Values:
    """A node's input values; None marks an omitted optional input (reading it is not evaluable)."""

    def __init__(self, values: Sequence[Array | None]) -> None:
        self._values = list(values)

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index: int) -> Array:
        value = self._values[index]
        if value is None:
            raise NotEvaluable(f"input {index} is omitted")
        return value

    def optional(self, index: int) -> Array | None:
        """Input ``index``, or None when it is omitted or absent."""
        return self._values[index] if index < len(self._values) else None

    def tail(self, start: int) -> list[Array]:
        """Inputs ``start`` and after (none may be omitted)."""
        return [self[index] for index in range(start, len(self._values))]

    def present(self) -> list[Array]:
        """The inputs that are not omitted."""
        return [value for value in self._values if value is not None]


Evaluate = Callable[[ir.Node, Values, int], list[Array]]


# Float tensors above this size are weights (embedding tables, masks of a model's maximum length): the
# analysis never reads them, so it never folds weight-derived data into constants.
MAX_FLOAT_ELEMENTS = 16


def is_shape_like(tensor: ir.TensorProtocol) -> bool:
    """Integer, boolean or tiny tensors: the ones shape computations use."""
    if tensor.size > MAX_ELEMENTS:
        return False
    dtype = tensor.dtype
    return dtype.is_integer() or dtype == ir.DataType.BOOL or tensor.size <= MAX_FLOAT_ELEMENTS


class NotEvaluable(Exception):
    """The node cannot be evaluated on the values given (unsupported op, too large, bad values)."""


def attribute(node: ir.Node, name: str, default: Any = None) -> Any:
    attr = node.attributes.get(name)
    if attr is None:
        return default
    if attr.is_ref():  # a function body's reference to its caller's attribute: not known here
        raise NotEvaluable(f"attribute {name} refers to the caller's")
    value = attr.value
    if attr.type is ir.AttributeType.TENSOR:
        return value.numpy()
    if isinstance(value, (tuple, list)):
        return list(value)
    return value


def constant_value(node: ir.Node) -> Array | None:
    """The value of a ``Constant`` node, or None when it is large or not a plain tensor."""
    for name in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        attr = node.attributes.get(name)
        if attr is None:
            continue
        if name == "value":
            tensor = attr.value
            if not is_shape_like(tensor):
                return None
            return np.asarray(tensor.numpy())
        dtype = np.float32 if "float" in name else np.int64
        return np.asarray(attr.value, dtype=dtype)
    return None


def _operand(node: ir.Node, values: Values, name: str, opset: int) -> Array | None:
    """Operand ``name`` where the operator's schema at ``opset`` has it: an input or an attribute."""
    where = operand(node, name, opset)
    if where.index is not None:
        return values.optional(where.index)
    if where.attribute:
        if name in node.attributes and node.attributes[name].is_ref():
            raise NotEvaluable(f"attribute {name} refers to the caller's")
        return attribute_array(node, name)
    return None


def _axes(node: ir.Node, values: Values, opset: int) -> list[int] | None:
    given = _operand(node, values, "axes", opset)
    return None if given is None else [int(a) for a in np.asarray(given).reshape(-1)]


def _int_div(a: Array, b: Array) -> Array:
    if np.issubdtype(a.dtype, np.integer):
        if np.any(b == 0):
            raise NotEvaluable("integer division by zero")
        quotient = np.abs(a) // np.abs(b)  # ONNX integer Div truncates toward zero
        return np.asarray(quotient * np.sign(a) * np.sign(b)).astype(a.dtype)
    return np.asarray(a / b, dtype=a.dtype)


def _slice(node: ir.Node, v: Values, opset: int) -> Array:
    data = v[0]
    # Inputs from Slice-10, attributes in Slice-1 (which has no steps).
    starts, ends = _operand(node, v, "starts", opset), _operand(node, v, "ends", opset)
    axes, steps = _operand(node, v, "axes", opset), _operand(node, v, "steps", opset)
    if starts is None or ends is None:
        raise NotEvaluable("Slice without starts or ends")
    starts = np.asarray(starts).reshape(-1)
    ends = np.asarray(ends).reshape(-1)
    axes = np.arange(len(starts)) if axes is None else np.asarray(axes).reshape(-1)
    steps = np.ones(len(starts), dtype=np.int64) if steps is None else np.asarray(steps).reshape(-1)
    index: list[slice] = [slice(None)] * data.ndim
    for start_entry, end_entry, axis_entry, step_entry in zip(starts, ends, axes, steps):
        axis = int(axis_entry) % data.ndim
        size = data.shape[axis]
        start, end, step = int(start_entry), int(end_entry), int(step_entry)
        # numpy treats huge ends the same as ONNX (clamped); negative huge ends need clamping to -size-1.
        if step > 0:  # ONNX clamps starts/ends into [0, size] for positive steps
            start = min(max(start + size if start < 0 else start, 0), size)
            end = min(max(end + size if end < 0 else end, 0), size)
        else:  # and starts into [0, size - 1], ends into [-1, size - 1] for negative ones
            start = min(max(start + size if start < 0 else start, 0), size - 1)
            end = min(max(end + size if end < 0 else end, -1), size - 1)
        # -1 with a negative step is "before the first element", which a Python slice spells as None.
        index[axis] = slice(start, None if step < 0 and end == -1 else end, step)
    return np.asarray(data[tuple(index)])


def _reduce(fn: Callable[..., Array]) -> Evaluate:
    def run(node: ir.Node, v: Values, opset: int) -> list[Array]:
        axes = _axes(node, v, opset)  # an input from opset 13 (ReduceSum) or 18 (the others)
        keepdims = bool(attribute(node, "keepdims", 1))
        if not axes:  # absent or empty: every axis, unless noop_with_empty_axes
            if attribute(node, "noop_with_empty_axes", 0):
                return [v[0]]
            axes = None
        data = v[0]
        return [np.asarray(fn(data, axis=None if axes is None else tuple(axes), keepdims=keepdims), dtype=data.dtype)]

    return run


def _binary(fn: Callable[[Array, Array], Array], keep_dtype: bool = True) -> Evaluate:
    def run(node: ir.Node, v: Values, opset: int) -> list[Array]:
        a, b = v[0], v[1]
        result = np.asarray(fn(a, b))
        return [result.astype(a.dtype) if keep_dtype else result]

    return run


def _unary(fn: Callable[[Array], Array]) -> Evaluate:
    return lambda node, v, opset: [np.asarray(fn(v[0])).astype(v[0].dtype)]


def _variadic(fn: Callable[[Array, Array], Array]) -> Evaluate:
    def run(node: ir.Node, v: Values, opset: int) -> list[Array]:
        result = v[0]
        for other in v.tail(1):
            result = fn(result, other)
        return [np.asarray(result).astype(v[0].dtype)]

    return run


def _gather(node: ir.Node, v: Values, opset: int) -> list[Array]:
    data, indices = v[0], v[1]
    axis = int(attribute(node, "axis", 0))
    size = data.shape[axis]
    indices = np.where(indices < 0, indices + size, indices)
    if np.any(indices < 0) or np.any(indices >= size):
        raise NotEvaluable("Gather index out of range")
    return [np.take(data, indices, axis=axis)]


def _unsqueeze(node: ir.Node, v: Values, opset: int) -> list[Array]:
    axes = _axes(node, v, opset)
    data = v[0]
    rank = data.ndim + len(axes or [])
    result = data
    for axis in sorted(a % rank for a in axes or []):
        result = np.expand_dims(result, axis)
    return [result]


def _squeeze(node: ir.Node, v: Values, opset: int) -> list[Array]:
    axes = _axes(node, v, opset)
    data = v[0]
    if axes is None:
        return [np.squeeze(data)]
    return [np.squeeze(data, axis=tuple(a % data.ndim for a in axes))]


def _cast(node: ir.Node, v: Values, opset: int) -> list[Array]:
    to = onnx.helper.tensor_dtype_to_np_dtype(int(attribute(node, "to")))
    return [v[0].astype(to)]


def _constant_of_shape(node: ir.Node, v: Values, opset: int) -> list[Array]:
    shape = [int(d) for d in v[0].reshape(-1)]
    if int(np.prod(shape, dtype=np.int64)) > MAX_ELEMENTS or any(d < 0 for d in shape):
        raise NotEvaluable("too large")
    fill = attribute(node, "value")
    fill = np.zeros(1, np.float32) if fill is None else np.asarray(fill).reshape(-1)
    return [np.full(shape, fill[0], dtype=fill.dtype)]


def _range(node: ir.Node, v: Values, opset: int) -> list[Array]:
    start, limit, delta = (np.asarray(x).reshape(()) for x in (v[0], v[1], v[2]))
    if delta == 0:
        raise NotEvaluable("Range delta 0")
    count = max(int(np.ceil((limit - start) / delta)), 0)
    if count > MAX_ELEMENTS:
        raise NotEvaluable("too large")
    return [(start + np.arange(count) * delta).astype(start.dtype)]


def _reshape(node: ir.Node, v: Values, opset: int) -> list[Array]:
    data, shape = v[0], [int(d) for d in v[1].reshape(-1)]
    allowzero = int(attribute(node, "allowzero", 0))
    if not allowzero:
        shape = [data.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [data.reshape(shape)]


def _expand(node: ir.Node, v: Values, opset: int) -> list[Array]:
    data, shape = v[0], [int(d) for d in v[1].reshape(-1)]
    out = np.broadcast_shapes(data.shape, tuple(shape))
    if int(np.prod(out, dtype=np.int64)) > MAX_ELEMENTS:
        raise NotEvaluable("too large")
    return [np.broadcast_to(data, out).copy()]


def _concat(node: ir.Node, v: Values, opset: int) -> list[Array]:
    return [np.concatenate(v.present(), axis=int(attribute(node, "axis", 0)))]


def _where(node: ir.Node, v: Values, opset: int) -> list[Array]:
    return [np.where(v[0], v[1], v[2]).astype(v[1].dtype)]


def _tile(node: ir.Node, v: Values, opset: int) -> list[Array]:
    return [np.tile(v[0], [int(r) for r in v[1].reshape(-1)])]


def _transpose(node: ir.Node, v: Values, opset: int) -> list[Array]:
    perm = attribute(node, "perm")
    return [np.transpose(v[0], perm)]


def _mod(node: ir.Node, v: Values, opset: int) -> list[Array]:
    if attribute(node, "fmod", 0):
        return [np.fmod(v[0], v[1])]
    return [np.mod(v[0], v[1])]


def _flatten(node: ir.Node, v: Values, opset: int) -> list[Array]:
    data = v[0]
    axis = int(attribute(node, "axis", 1))
    axis = axis + data.ndim if axis < 0 else axis
    outer = int(np.prod(data.shape[:axis], dtype=np.int64))
    return [data.reshape(outer, -1)]


def _compare(fn: Callable[[Array, Array], Array]) -> Evaluate:
    return lambda node, v, opset: [np.asarray(fn(v[0], v[1]))]


EVALUATORS: dict[str, Evaluate] = {
    "Identity": lambda node, v, opset: [v[0]],
    "Gather": _gather,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": _concat,
    "Slice": lambda node, v, opset: [_slice(node, v, opset)],
    "Cast": _cast,
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _binary(_int_div),
    "Mod": _mod,
    "Pow": _binary(np.power),
    "Neg": _unary(np.negative),
    "Abs": _unary(np.abs),
    "Sign": _unary(np.sign),
    "Floor": _unary(np.floor),
    "Ceil": _unary(np.ceil),
    "Round": _unary(np.round),
    "Sqrt": _unary(np.sqrt),
    "Reciprocal": _unary(np.reciprocal),
    "Relu": _unary(lambda x: np.maximum(x, 0)),
    "Min": _variadic(np.minimum),
    "Max": _variadic(np.maximum),
    "Sum": _variadic(np.add),
    "Equal": _compare(np.equal),
    "Less": _compare(np.less),
    "LessOrEqual": _compare(np.less_equal),
    "Greater": _compare(np.greater),
    "GreaterOrEqual": _compare(np.greater_equal),
    "Not": lambda node, v, opset: [np.logical_not(v[0])],
    "And": _compare(np.logical_and),
    "Or": _compare(np.logical_or),
    "Xor": _compare(np.logical_xor),
    "Where": _where,
    "ConstantOfShape": _constant_of_shape,
    "Range": _range,
    "Reshape": _reshape,
    "Expand": _expand,
    "Tile": _tile,
    "Transpose": _transpose,
    "ReduceProd": _reduce(np.prod),
    "ReduceSum": _reduce(np.sum),
    "ReduceMax": _reduce(np.max),
    "ReduceMin": _reduce(np.min),
    "Flatten": _flatten,
}


def evaluate(node: ir.Node, values: Sequence[Array | None], opset: int) -> list[Array]:
    """Run ``node`` on the given input values (None marks an omitted optional input)."""
    if any(v is not None and v.size > MAX_ELEMENTS for v in values):
        raise NotEvaluable("input too large")
    run = EVALUATORS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    try:
        outputs = run(node, Values(values), opset) if run else _reference(node, values, opset)
    except NotEvaluable:
        raise
    except Exception as error:  # bad indices, shapes that do not broadcast, ...: not a constant
        raise NotEvaluable(str(error)) from error
    if any(o.size > MAX_ELEMENTS for o in outputs):
        raise NotEvaluable("output too large")
    return [np.asarray(o) for o in outputs]


# Ops whose reference implementation is safe to run on small tensors; random and stateful ops are not.
_NOT_FOLDABLE = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                 "Bernoulli", "Dropout", "If", "Loop", "Scan", "SequenceConstruct", "SequenceAt"}


def _reference(node: ir.Node, values: Sequence[Array | None], opset: int) -> list[Array]:
    if node.domain not in ("", "ai.onnx") or node.op_type in _NOT_FOLDABLE:
        raise NotEvaluable(f"{node.op_type} is not evaluated")
    from onnx.reference import ReferenceEvaluator

    names = [f"i{index}" if value is not None else "" for index, value in enumerate(values)]
    proto = ir.serde.serialize_node(node)
    del proto.input[:]
    proto.input.extend(names)
    del proto.output[:]
    proto.output.extend(f"o{index}" for index in range(len(node.outputs)))
    inputs = [onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
              for n, v in zip(names, values) if v is not None]
    outputs = [onnx.helper.make_empty_tensor_value_info(o) for o in proto.output]
    graph = onnx.helper.make_graph([proto], "eval", inputs, outputs)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    session = ReferenceEvaluator(model)
    feeds = {n: v for n, v in zip(names, values) if v is not None}
    return [np.asarray(r) for r in session.run(None, feeds)]
