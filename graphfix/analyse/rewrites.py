"""What a rewrite would write, derived from the analysis' probes.

These functions answer "which constant computes the same thing at every batch size?" for the
shape-carrying inputs rules care about. Each returns the constant, or ``None`` with the reason it
cannot be expressed. They never mutate the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import onnx_ir as ir

from graphfix.analyse.analysis import Analysis
from graphfix.analyse.batch_forms import Form, vector_forms
from graphfix.analyse.evaluator import attribute
from graphfix.analyse.facts import Kind
from graphfix.analyse.operands import input_index, input_value, operand_array
from graphfix.ir.graphutil import downstream

INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Rewrite:
    value: np.ndarray | None
    reason: str | None = None
    export_batch: int | None = None  # set when the rewrite recovers a batch baked at export time


def _fail(reason: str) -> Rewrite:
    return Rewrite(None, reason)


def _batch_axes(shapes: list[tuple[int, ...]]) -> list[int]:
    return [axis for axis in range(len(shapes[0])) if len({s[axis] for s in shapes}) > 1]


def reshape_target(analysis: Analysis, node: ir.Node) -> Rewrite:
    """The constant Reshape target that reproduces the output at every probe: -1 only for the batch."""
    source = node.inputs[0]
    out_shapes = analysis.full_shapes(node.outputs[0])
    in_shapes = analysis.full_shapes(source)
    if out_shapes is None or in_shapes is None:
        return _fail("the reshape's shapes are not known at every batch size")
    if any(issue.node is node for issue in analysis.issues):
        return _fail("the reshape fails at batch sizes other than the export one")
    if any(0 in s for s in out_shapes):
        return _fail("the output has an empty dimension")
    # Dims that change between probes (with the batch or another dynamic dim) are written as 0 where
    # they copy the input's dim, and as the single -1 otherwise.
    varying = _batch_axes(out_shapes)
    result = list(out_shapes[0])
    allowzero = int(attribute(node, "allowzero", 0))
    if len(varying) > 1:
        # Dims copied from the input at the same position can be 0, leaving one -1.
        copies = [a for a in varying if a < len(in_shapes[0]) and all(o[a] == i[a] for o, i in zip(out_shapes, in_shapes))]
        rest = [a for a in varying if a not in copies]
        if allowzero or len(rest) > 1:
            return _fail(f"{len(varying)} output dims change at run time; one -1 cannot express them")
        for axis in copies:
            result[axis] = 0
        varying = rest
    for axis in varying:
        result[axis] = -1
    return Rewrite(np.array(result, dtype=np.int64))


def batch_at(shapes: list[tuple[int, ...]], probes_batches: tuple[int, int], batch: int) -> tuple[int, ...] | None:
    """Extrapolate a shape that follows the batch linearly to another batch size."""
    b0, b1 = probes_batches
    result = []
    for d0, d1 in zip(shapes[0], shapes[1]):
        slope = Fraction(d1 - d0, b1 - b0)
        value = d0 + slope * (batch - b0)
        if value.denominator != 1 or value <= 0:
            return None
        result.append(int(value))
    return tuple(result)


def baked_reshape_target(analysis: Analysis, node: ir.Node) -> Rewrite:
    """For a constant target that bakes the export batch (``[2, 256]``, ``[1, -1]``): the -1 form."""
    target = analysis.value(node.inputs[1]) if node.inputs[1] is not None else None
    in_shapes = analysis.full_shapes(node.inputs[0])
    if (target is None or in_shapes is None or not analysis.has_batch_probes
            or analysis.value_kind(node.inputs[1]) is not Kind.CONSTANT):
        return _fail("not a constant reshape of a batch-dependent tensor")
    target = target.reshape(-1)
    if target.size == 0 or int(target[0]) <= 0:
        return _fail("the first entry of the target is not a literal batch")
    plain = _batch_axes(in_shapes[:2]) == [0] and in_shapes[0][0] == analysis.probes[0].batch
    # The batch also flows in dim 0 as k * batch (windows), or reached this node already baked upstream
    # (its dim 0 the export batch while a later dim carries the batch).
    data = node.inputs[0]
    carried = data is not None and bool(_batch_axes(in_shapes[:2])) and (
        analysis.dim_kind(data, 0) is Kind.BATCH or data in analysis.batch.batch_lost) and (
        analysis.dim_kind(node.outputs[0], 0) is not Kind.BATCH)
    # Without a literal batch in dim 0 the constant could be another size (seq-first layouts put the
    # sequence there): it is the export batch when the graph fails at other batches past this node, or a
    # multiple of the batch other Reshapes bake while the batch is the outer factor of the input's dim 0
    # (windows [4 * batch, ...] viewed as [2, 2, 2, ...] fold the batch silently: nothing fails).
    known = _repaired_batch(analysis)
    outer = carried and known is not None and int(target[0]) % known == 0 and _outer_factor(in_shapes, analysis)
    carried = carried and (outer or fails_downstream(analysis, node))
    if not (plain or carried):
        return _fail("the batch is not the first dimension of the reshaped tensor")
    batch = known if outer and known is not None else int(target[0])
    source = batch_at(in_shapes[:2], (analysis.probes[0].batch, analysis.probes[1].batch), batch)
    if source is None:
        return _fail("the input shape at the export batch cannot be worked out")
    allowzero = int(attribute(node, "allowzero", 0))
    dims = [int(d) for d in target]
    dims = [source[i] if d == 0 and not allowzero and i < len(source) else d for i, d in enumerate(dims)]
    volume = int(np.prod(source, dtype=np.int64))
    known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
    if dims.count(-1) > 1 or known == 0 or volume % known:
        return _fail(f"the target {dims} does not fit the input at batch {batch}")
    output = [volume // known if d == -1 else d for d in dims]
    if int(np.prod(output, dtype=np.int64)) != volume:
        return _fail(f"the target {dims} does not fit the input at batch {batch}")
    output[0] = -1
    return Rewrite(np.array(output, dtype=np.int64), export_batch=batch)


def _repaired_batch(analysis: Analysis) -> int | None:
    """The export batch the Reshapes repaired so far agree on (None: none yet, or they disagree)."""
    found = {r.export_batch for r in analysis.repairs.values()}
    return found.pop() if len(found) == 1 else None


def _outer_factor(in_shapes: list[tuple[int, ...]], analysis: Analysis) -> bool:
    """Whether dim 0 is ``k * batch`` at both batch probes (the batch its outermost factor, no offset)."""
    (d0, d1), (b0, b1) = (in_shapes[0][0], in_shapes[1][0]), (analysis.probes[0].batch, analysis.probes[1].batch)
    return d0 * b1 == d1 * b0 and d0 % b0 == 0


def fails_downstream(analysis: Analysis, node: ir.Node) -> bool:
    """Whether ``node`` or a node fed by it fails at the batch probes (a volume or broadcast mismatch)."""
    dim_probe = analysis.dim_probe
    failing = {i.node for i in analysis.issues if i.kind in ("inference-failed", "volume-mismatch")
               and (i.probe is None or i.probe != dim_probe)}
    if not failing:
        return False
    return any(current in failing for current in downstream(node))


def expand_shape(analysis: Analysis, node: ir.Node) -> Rewrite:
    """An Expand shape with batch entries written as 1 where the input already carries the batch."""
    shape_value = node.inputs[1]
    in_shapes = analysis.full_shapes(node.inputs[0])
    facts = analysis.facts.get(shape_value) if shape_value is not None else None
    if shape_value is None or facts is None or not facts.known() or in_shapes is None:
        return _fail("the expand's shapes are not known at every batch size")
    values = [np.asarray(v).reshape(-1) for v in facts.values]
    result = values[0].copy()
    rank = len(result)
    for axis, kind in enumerate(analysis.entry_kinds(shape_value)):
        if kind is Kind.CONSTANT:
            continue
        if kind is not Kind.BATCH:
            return _fail("an entry follows a dynamic non-batch dimension")
        source_axis = axis - (rank - len(in_shapes[0]))
        if source_axis < 0 or any(s[source_axis] != v[axis] for s, v in zip(in_shapes, values)):
            return _fail("an entry brings the batch into a tensor that does not have it; it needs the "
                         "batch at run time")
        result[axis] = 1
    return Rewrite(result)


def slice_input(analysis: Analysis, node: ir.Node, index: int) -> Rewrite:
    """Slice starts/ends/axes/steps: batch-dependent ends that mean "to the end" become INT64_MAX."""
    value = node.inputs[index]
    facts = analysis.facts.get(value) if value is not None else None
    if value is None or facts is None or not facts.known():
        return _fail("not known at every batch size")
    kinds = analysis.entry_kinds(value)
    result = np.asarray(facts.values[0]).reshape(-1).copy()
    if all(k is Kind.CONSTANT for k in kinds):
        return Rewrite(np.asarray(facts.values[0]))
    if index != input_index(node, "ends", analysis.opset):
        return _fail("a slice start, axis or step follows the batch")
    in_shapes = analysis.full_shapes(node.inputs[0])
    axes_value = operand_array(analysis, node, "axes")
    if in_shapes is None:
        return _fail("the sliced tensor's shape is not known")
    axes = list(range(len(result))) if axes_value is None else [int(a) for a in axes_value.reshape(-1)]
    for position, kind in enumerate(kinds):
        if kind is Kind.CONSTANT:
            continue
        axis = axes[position] % len(in_shapes[0])
        ends = [int(np.asarray(v).reshape(-1)[position]) for v in facts.values]
        # Only an end that *is* the dim at every probe means "to the end" at every batch size.
        if kind is not Kind.BATCH or any(e != s[axis] for e, s in zip(ends, in_shapes)):
            return _fail("a slice end follows the batch without meaning 'to the end'")
        result[position] = INT64_MAX
    return Rewrite(result.astype(np.asarray(facts.values[0]).dtype))


def exact_scale(out: int, size: int) -> float | None:
    """A float32 scale that reproduces a Resize from ``size`` to ``out`` exactly, or None.

    ``out / size`` when float32 holds it exactly; otherwise the float32 quotient ``float(out) / float(size)``,
    which is the scale a runtime derives from ``sizes`` (ONNX Runtime computes it so; the sampling grid is
    then the same), provided the output size it gives back, ``floor(size * scale)``, is ``out`` in float32
    and in float64 arithmetic (8/3 is; 5/3 rounds down to 4.9999998 and is not)."""
    if size <= 0:
        return None
    ratio = Fraction(out, size)
    as_float = float(np.float32(float(ratio)))
    if Fraction(as_float) == ratio:
        return as_float
    quotient = np.float32(out) / np.float32(size)
    if int(np.floor(np.float32(size) * quotient)) != out or int(np.floor(float(size) * float(quotient))) != out:
        return None
    return float(quotient)


def resize_scales(analysis: Analysis, node: ir.Node) -> Rewrite:
    """Constant ``scales`` that reproduce a Resize's output at every probe."""
    policy = attribute(node, "keep_aspect_ratio_policy", "stretch")
    if isinstance(policy, bytes):
        policy = policy.decode()
    if policy != "stretch":
        return _fail(f"keep_aspect_ratio_policy={policy} makes the scales depend on the input")
    mode = attribute(node, "coordinate_transformation_mode", "half_pixel")
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode == "tf_crop_and_resize":
        return _fail("tf_crop_and_resize takes its scales from the roi")
    in_shapes = analysis.full_shapes(node.inputs[0])
    out_shapes = analysis.full_shapes(node.outputs[0])
    if in_shapes is None or out_shapes is None:
        return _fail("the resize's shapes are not known at every batch size")
    axes = attribute(node, "axes")
    rank = len(in_shapes[0])
    axes = list(range(rank)) if axes is None else [int(a) % rank for a in axes]
    scales: list[float] = []
    for axis in axes:
        ratios = {exact_scale(o[axis], i[axis]) for o, i in zip(out_shapes, in_shapes)}
        if len(ratios) != 1:
            return _fail(f"the ratio along axis {axis} changes with the batch size")
        ratio = ratios.pop()
        if ratio is None:
            return _fail(f"the ratio along axis {axis} ({out_shapes[0][axis]}/{in_shapes[0][axis]}) has no "
                         "float32 scale that gives the same output size")
        scales.append(ratio)
    return Rewrite(np.array(scales, dtype=np.float32))


def baked_resize_scales(analysis: Analysis, node: ir.Node) -> Rewrite:
    """Scales for a constant ``sizes`` that bakes the export batch (``sizes=[1, 3, 16, 16]``)."""
    sizes_input = input_value(node, "sizes", analysis.opset)
    sizes_value = analysis.value(sizes_input) if sizes_input is not None else None
    in_shapes = analysis.full_shapes(node.inputs[0])
    if sizes_value is None or in_shapes is None or not analysis.has_batch_probes:
        return _fail("not a constant sizes on a batch-dependent input")
    axes = attribute(node, "axes")
    rank = len(in_shapes[0])
    axes = list(range(rank)) if axes is None else [int(a) % rank for a in axes]
    sizes = [int(s) for s in sizes_value.reshape(-1)]
    if 0 not in axes or _batch_axes(in_shapes[:2]) != [0]:
        return _fail("the batch is not the first dimension of the resized tensor")
    batch = sizes[axes.index(0)]
    source = batch_at(in_shapes[:2], (analysis.probes[0].batch, analysis.probes[1].batch), batch)
    if source is None:
        return _fail("the input shape at the export batch cannot be worked out")
    scales = []
    for position, axis in enumerate(axes):
        ratio = exact_scale(sizes[position], source[axis])
        if ratio is None:
            return _fail(f"the ratio along axis {axis} has no float32 scale that gives the same output size")
        scales.append(ratio)
    return Rewrite(np.array(scales, dtype=np.float32), export_batch=batch)


def batch_vector(analysis: Analysis, value: ir.Value) -> tuple[tuple[Form, ...] | None, str]:
    """A 1-D shape vector as constants and ``k * batch`` entries (or, when an entry is not linear in the
    batch, ``(k * batch + c) mod m`` ones, checked at batches 1 to 24: :mod:`graphfix.analyse.batch_forms`),
    or None with the reason."""
    facts = analysis.facts.get(value)
    if facts is None or not facts.known() or not analysis.has_batch_probes:
        return None, "not known at every batch size"
    flat = [np.asarray(v) for v in facts.values]
    if flat[0].ndim != 1 or flat[0].dtype.kind not in "iu":
        return None, "not a 1-D integer vector"
    batch_probes = [i for i, p in enumerate(analysis.probes) if p.dims == analysis.probes[0].dims]
    entries: list[Form] = []
    for position, kind in enumerate(analysis.entry_kinds(value)):
        first = int(flat[0][position])
        factors = {Fraction(int(flat[i][position]), analysis.probes[i].batch) for i in batch_probes}
        if kind is Kind.CONSTANT:
            entries.append(first)
        elif kind is Kind.BATCH and len(factors) == 1 and (k := factors.pop()).denominator == 1 and k > 0:
            entries.append(("batch", int(k)))
        else:
            forms = vector_forms(analysis, value)
            if forms is None:
                return None, "an entry is not a multiple of the batch"
            return forms, ""
    return tuple(entries), ""


def batch_source(analysis: Analysis) -> ir.Value | None:
    """A graph input whose dim 0 is the batch: where the shortest batch chain reads it."""
    for value in analysis.model.graph.inputs:
        dims = analysis.input_dims.get(value.name or "")
        if dims and dims[0] == "batch":
            return value
    return None


def squeeze_axes(analysis: Analysis, node: ir.Node) -> Rewrite:
    """The constant axes input of a Squeeze without axes: the dims of its input that are 1 at every probe
    (int64, ascending), or why there is none; written where the opset keeps them (an input from 13, the
    attribute before: :func:`graphfix.linting.plans.operand_plan`). Shared by the rules that ask for
    explicit axes (GF502 for TensorRT's importer).

    With only the batch dynamic, the dims that are 1 at every probe are the ones the model means; the batch
    itself is 1 only at batch 1, where the axis-less Squeeze also drops it (verification at batch 1 shows
    whether anything downstream sees that).
    """
    if node.op_type != "Squeeze" or not node.inputs or node.inputs[0] is None:
        return _fail("not a Squeeze with an input")
    source = node.inputs[0]
    shapes = analysis.full_shapes(source)
    if shapes is None:
        return _fail("the Squeeze input's shape is not known")
    if len({len(s) for s in shapes}) != 1:
        return _fail("the Squeeze input's rank changes with the batch")
    axes: list[int] = []
    for axis in range(len(shapes[0])):
        if analysis.dim_kind(source, axis) is Kind.CONSTANT and shapes[0][axis] == 1:
            axes.append(axis)
    if not axes:
        return _fail("no dim of the Squeeze input is 1 at every batch size")
    return Rewrite(np.array(axes, dtype=np.int64))
