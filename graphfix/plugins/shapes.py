"""Output shapes of custom nodes, from their reference implementation.

The shape analysis calls ``infer_shapes`` for a custom node at each probe (batch 3, 5, 4, ...): it runs
the registered shape function, or else the reference itself on arrays of the probe's input shapes (the
known small values where the analysis has them, seeded random data elsewhere), and reports the shapes
and dtypes of what comes back. The plugin scaffold uses ``symbolic_output_shapes`` to turn the same
probes into TensorRT shape expressions (``inp0.shape_expr[0]``, ``inp1.shape_expr[2] * 2``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir

from graphfix.plugins.registry import NodeView, ReferenceError, Registry, active_registry, default_registry

Shape = tuple[int, ...]


@dataclass(frozen=True)
class TensorFacts:
    """One input or output of a custom node at one probe: shape, dtype, and value when known."""

    shape: Shape | None
    dtype: np.dtype
    value: np.ndarray | None = None


def numpy_dtype(dtype: np.dtype | int | ir.DataType | None) -> np.dtype:
    """A numpy dtype from a numpy dtype, an ONNX TensorProto data type number or an onnx-ir DataType."""
    if dtype is None:
        return np.dtype(np.float32)
    if isinstance(dtype, ir.DataType):
        return np.dtype(dtype.numpy())
    if isinstance(dtype, (int, np.integer)):
        if int(dtype) == 0:
            return np.dtype(np.float32)
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(int(dtype)))
    return np.dtype(dtype)


def probe_array(shape: Shape, dtype: np.dtype, seed: int = 0) -> np.ndarray:
    """Data for running a reference only to learn its output shapes: floats uniform in [0.5, 1.5)
    (no zeros, negatives or overflow to trip a reference), integers and booleans zero."""
    if dtype.kind == "f":
        return np.random.default_rng(seed).uniform(0.5, 1.5, size=shape).astype(dtype)
    return np.zeros(shape, dtype=dtype)


def infer_shapes(
    node: ir.Node | onnx.NodeProto | NodeView,
    inputs: Sequence[TensorFacts | None],
    registry: Registry | None = None,
) -> list[TensorFacts] | None:
    """Shapes and dtypes of a custom node's outputs for inputs of these shapes (one probe).

    ``inputs`` has one entry per node input (None for an omitted optional input). Returns one
    ``TensorFacts`` per output, with a value only when every input's value was known (the reference is
    then evaluated on the real data); None when there is no reference or an input shape is unknown.
    Raises ``ReferenceError`` when the reference or shape function fails: the caller records an analysis
    issue naming the node.
    """
    registry = registry if registry is not None else active_registry()
    view = NodeView.of(node)
    if registry.lookup(view) is None:
        return None
    present = [f for f in inputs if f is not None]
    if any(f.shape is None or any(d is None for d in f.shape) for f in present):
        return None
    declared = _declared_dtypes(node)
    shaped = registry.shapes(view, [f.shape if f is not None else None for f in inputs])
    if shaped is not None:
        fallback = next((f.dtype for f in present if f.dtype.kind == "f"), present[0].dtype if present else
                        np.dtype(np.float32))
        return [TensorFacts(shape, declared[i] or fallback) for i, shape in enumerate(shaped)]
    arrays = [None if f is None else (f.value if f.value is not None else
                                      probe_array(f.shape, f.dtype, seed=i))  # type: ignore[arg-type]
              for i, f in enumerate(inputs)]
    results = registry.run(view, arrays)
    known = all(f is None or f.value is not None for f in inputs)
    return [TensorFacts(tuple(int(d) for d in r.shape), r.dtype, r if known else None) for r in results]


def _declared_dtypes(node: ir.Node | onnx.NodeProto | NodeView) -> list[np.dtype | None]:
    if isinstance(node, ir.Node):
        return [numpy_dtype(o.dtype) if o.dtype is not None else None for o in node.outputs]
    count = NodeView.of(node).num_outputs
    return [None] * count


# -- shape expressions for the plugin scaffold ------------------------------------------------------

# Sizes a dynamic dim takes at the three probes: the batch moves through small odd sizes (never 1, which
# hides broadcasting), other dynamic dims through multiples of 64 (strided ops stay valid).
BATCH_VALUES = (3, 5, 7)
DIM_VALUES = (128, 192, 320)


@dataclass(frozen=True)
class OutputShape:
    """One output's shape as TensorRT shape expressions over the inputs, and how it was found."""

    dims: tuple[str, ...] | None  # e.g. ("inp0.shape_expr[0]", "3", "inp1.shape_expr[2] * 2"); None: unknown
    dtype: np.dtype | None
    how: str  # "reference", "shape function", "declared" or "unknown"


def symbolic_output_shapes(
    node: ir.Node | onnx.NodeProto | NodeView,
    input_dims: Sequence[Sequence[int | str | None] | None],
    input_dtypes: Sequence[np.dtype],
    registry: Registry | None = None,
    input_values: Mapping[int, np.ndarray] | None = None,
    input_names: Sequence[str] | None = None,
) -> list[OutputShape] | None:
    """Express each output dim of ``node`` in terms of its input dims, by running the reference at three
    probes where every dynamic input dim takes different sizes.

    ``input_dims`` are the declared dims (int, a symbol name, or None for an unnamed dynamic dim);
    ``input_values`` the constant inputs (initializers), used as they are. An output dim equal at every
    probe to an input dim is that input dim; one related to an input dim by ``* k``, ``// k`` or ``+ k``
    at every probe is written so; a dim constant at every probe is an int. Anything else is None (the
    scaffold writes a TODO). Returns None without a reference or when it fails.
    """
    registry = registry if registry is not None else active_registry()
    names = list(input_names) if input_names is not None else [f"inp{i}" for i in range(len(input_dims))]
    symbols: dict[str, int] = {}
    probes: list[list[Shape | None]] = []
    for probe in range(len(BATCH_VALUES)):
        shapes: list[Shape | None] = []
        for index, dims in enumerate(input_dims):
            if input_values and index in input_values:
                shapes.append(tuple(input_values[index].shape))
                continue
            if dims is None:
                shapes.append(None)
                continue
            concrete = []
            for axis, dim in enumerate(dims):
                if isinstance(dim, int):
                    concrete.append(dim)
                    continue
                key = dim if dim else f"{index}:{axis}"
                if key not in symbols:
                    symbols[key] = len(symbols)
                sizes = BATCH_VALUES if axis == 0 else DIM_VALUES
                concrete.append(sizes[probe] + (64 * symbols[key] if axis else 0))
            shapes.append(tuple(concrete))
        probes.append(shapes)
    results = []
    try:
        for shapes in probes:
            facts = [None if s is None else TensorFacts(s, numpy_dtype(input_dtypes[i]),
                                                        (input_values or {}).get(i))
                     for i, s in enumerate(shapes)]
            out = infer_shapes(node, facts, registry)
            if out is None:
                return None
            results.append(out)
    except ReferenceError:
        return None
    how = "shape function" if _has_shape_fn(node, registry) else "reference"
    shapes_out = []
    for index in range(len(results[0])):
        per_probe = [r[index].shape for r in results]
        if any(s is None or len(s) != len(per_probe[0]) for s in per_probe):  # type: ignore[arg-type]
            shapes_out.append(OutputShape(None, results[0][index].dtype, "unknown"))
            continue
        dims = []
        for axis in range(len(per_probe[0])):  # type: ignore[arg-type]
            values = [s[axis] for s in per_probe]  # type: ignore[index]
            dims.append(_express(values, axis, probes, names))
        shapes_out.append(OutputShape(None if None in dims else tuple(dims),  # type: ignore[arg-type]
                                      results[0][index].dtype, how))
    return shapes_out


def _has_shape_fn(node: ir.Node | onnx.NodeProto | NodeView, registry: Registry) -> bool:
    op = registry.lookup(node)
    return op is not None and op.shape_fn is not None


def _express(values: list[int], axis: int, probes: list[list[Shape | None]], names: list[str]) -> str | None:
    """A shape expression for an output dim taking ``values`` at the probes."""
    candidates: list[tuple[int, int, list[int]]] = []
    for index in range(len(probes[0])):
        if probes[0][index] is None:
            continue
        for in_axis in range(len(probes[0][index])):  # type: ignore[arg-type]
            candidates.append((index, in_axis, [p[index][in_axis] for p in probes]))  # type: ignore[index]
    # Same axis first: an output that keeps an input's layout reads most naturally.
    candidates.sort(key=lambda c: (c[1] != axis, c[0]))
    varying = len(set(values)) > 1
    for index, in_axis, ins in candidates:
        if ins == values and (varying or len(set(ins)) == 1):
            return f"{names[index]}.shape_expr[{in_axis}]"
    if not varying:
        return str(values[0])
    for index, in_axis, ins in candidates:
        if len(set(ins)) == 1:
            continue
        term = f"{names[index]}.shape_expr[{in_axis}]"
        pairs = list(zip(ins, values))
        if all(i and v % i == 0 for i, v in pairs) and len({v // i for i, v in pairs}) == 1:
            return f"{term} * {values[0] // ins[0]}"
        if all(v and i % v == 0 for i, v in pairs) and len({i // v for i, v in pairs}) == 1:
            return f"{term} // {ins[0] // values[0]}"
        if len({v - i for i, v in zip(ins, values)}) == 1:
            delta = values[0] - ins[0]
            return f"{term} + {delta}" if delta > 0 else f"{term} - {-delta}"
    return None


def analysis_outputs(
    node: ir.Node, inputs: Sequence[Any | None], probe: int, registry: Registry | None = None,
) -> tuple[list[tuple[int, ...]], list[np.ndarray | None], list[int]] | None:
    """``infer_shapes`` in the shape analysis' terms: ``inputs`` are its per-value facts (anything with
    ``shapes``, ``values`` and an ONNX ``dtype`` number, indexed by probe). Returns (output shapes, output
    values or None, ONNX dtype numbers), or None when the node has no reference or an input shape is
    unknown. Raises ``ReferenceError`` when the reference fails (the analysis records it as an issue)."""
    facts = [None if f is None else TensorFacts(f.shapes[probe], numpy_dtype(f.dtype), f.values[probe])
             for f in inputs]
    out = infer_shapes(node, facts, registry)
    if out is None:
        return None
    dtypes = [int(onnx.helper.np_dtype_to_tensor_dtype(r.dtype)) for r in out]
    return [r.shape for r in out], [r.value for r in out], dtypes  # type: ignore[misc]
