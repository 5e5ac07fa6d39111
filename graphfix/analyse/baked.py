"""Reshapes that bake the export batch, found from the probes, and the walk that sees through them.

A Reshape bakes the batch ``B`` the model was exported with when

- its input carries the batch in dim 0 and its target holds ``B`` where the batch belongs: it fails at
  other batch sizes (``[2, 16, 8, 8]``, ``[8, 16, 16]``: ``B`` solves the volume equation), or its -1
  absorbs the batch and the graph fails further on (``[2, 2, 2, 4, 4, -1]``); the target may be a
  constant or computed at run time with ``B`` frozen in it (``int(x.shape[0] / n)``);
- its input has no batch (a constant or parameter, ``[1, 80, 128]``) and one entry of its target is the
  run-time batch: right only at ``B`` = 1 (a batch-1 tensor viewed with the image batch); repaired as
  the target at batch 1 and an Expand to the batch (``t.expand(bs, ...)`` before the view).

A failing Reshape hides everything after it from the analysis. :func:`see_through` walks the graph again
with each baked Reshape's output as if repaired (:class:`~graphfix.analyse.facts.BakedReshape.shapes`), until
no new one shows, so one analysis finds every baked Reshape and the facts downstream of them. Those facts
are hypothetical; a repaired node's own target is never offered as a safe constant (GF101 asks
:attr:`Analysis.repairs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np
import onnx_ir as ir

from graphfix.analyse.analysis import Analysis
from graphfix.analyse.evaluator import attribute
from graphfix.analyse.facts import BakedReshape, Kind, SeenThrough, Shape
from graphfix.analyse.ops import is_standard
from graphfix.analyse.operands import input_value
from graphfix.analyse.rewrites import baked_reshape_target, baked_resize_scales

_FAILED = ("inference-failed", "volume-mismatch")
_BROADCASTING = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where", "Equal",
                           "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "PRelu", "Mod"})
_COMPARING = frozenset({"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor"})
_SHOWN_BATCHES = (1, 2, 3, 4, 5)

Walk = Callable[[dict[ir.Node, BakedReshape], dict[ir.Node, SeenThrough]], Analysis]


def see_through(analysis: Analysis, walk: Walk) -> Analysis:
    """``analysis``, or the analysis ``walk`` gives with every baked Reshape walked as if repaired, and every
    node that fails only because a repairable batch slot feeds it walked as if the slot were repaired."""
    if not analysis.has_batch_probes:
        return analysis
    repairs: dict[ir.Node, BakedReshape] = {}
    seen: dict[ir.Node, SeenThrough] = {}
    # Each walk finds the baked Reshapes the last could not see (one per block in series: 50 and more in a
    # transformer), or else nodes a repairable batch slot makes fail, and at least one new one: so there are
    # never more walks than Reshapes, Resizes and nodes a slot can feed.
    rounds = sum(1 for node in analysis.order
                 if node.op_type in ("Reshape", "Resize", "Concat") or node.op_type in _BROADCASTING)
    for _ in range(rounds):
        found = find_baked_reshapes(analysis)
        explained = {} if found else find_slot_failures(analysis)  # Reshapes first: they may explain these
        if not found and not explained:
            break
        repairs = {**repairs, **found}
        seen = {**seen, **explained}
        analysis = walk(repairs, seen)
    return analysis


def find_slot_failures(analysis: Analysis) -> dict[ir.Node, SeenThrough]:
    """Nodes not seen through yet that fail only because a repairable batch slot feeds them (a broadcasting
    op or a Concat off the batch axis), with their output shapes as if the slot were repaired."""
    found: dict[ir.Node, SeenThrough] = {}
    for slot in analysis.batch.baked_slots:  # cached: the last walk's slots are the ones the rules read
        node = slot.failing
        if not slot.repairable or node is None or node in analysis.seen_through or node in found:
            continue
        shapes = tuple(_as_repaired(analysis, node, probe) for probe in range(len(analysis.probes)))
        if any(shape is None for shape in shapes):
            continue
        facts = [analysis.facts.get(v) for v in node.inputs if v is not None]
        if node.op_type in _COMPARING:
            dtype = 9  # BOOL
        else:
            source = facts[1] if node.op_type == "Where" and len(facts) > 1 else (facts[0] if facts else None)
            dtype = source.dtype if source is not None else 0
        issues = tuple(i for i in analysis.issues if i.node is node)
        found[node] = SeenThrough(node, shapes, dtype, issues)
    return found


def _as_repaired(analysis: Analysis, node: ir.Node, probe: int) -> Shape | None:
    """``node``'s output shape at ``probe`` with the batch slot repaired: where its inputs disagree on a dim,
    the input whose dim follows the batch there gives it (broadcasting ops; Concat off the batch axis)."""
    inputs = [v for v in node.inputs if v is not None]
    shapes: list[tuple[int, ...]] = []
    for value in inputs:
        facts = analysis.facts.get(value)
        shape = facts.shapes[probe] if facts is not None else None
        if shape is None or any(d is None for d in shape):
            return None
        shapes.append(tuple(int(d) for d in shape if d is not None))
    if not shapes:
        return None
    rank = max(len(s) for s in shapes)

    def carried(axis: int) -> int | None:  # the dim at ``axis`` (of the output) of an input following the batch
        for value, shape in zip(inputs, shapes):
            own = axis - (rank - len(shape))
            if own >= 0 and analysis.dim_kind(value, own) is Kind.BATCH:
                return shape[own]
        return None

    if node.op_type == "Concat":
        if len({len(s) for s in shapes}) != 1:
            return None
        along = int(attribute(node, "axis", 0)) % rank
        if along == 0:
            return None
        out = []
        for axis in range(rank):
            if axis == along:
                out.append(sum(s[axis] for s in shapes))
                continue
            dims = {s[axis] for s in shapes}
            dim = dims.pop() if len(dims) == 1 else carried(axis)
            if dim is None:
                return None
            out.append(dim)
        return tuple(out)
    if node.op_type not in _BROADCASTING:
        return None
    out = []
    for axis in range(rank):
        dims = {s[axis - (rank - len(s))] for s in shapes if axis - (rank - len(s)) >= 0} - {1}
        dim = (dims.pop() if dims else 1) if len(dims) <= 1 else carried(axis)
        if dim is None:
            return None
        out.append(dim)
    return tuple(out)


def export_batch(analysis: Analysis) -> int | None:
    """The batch the model was exported with, where the analysis tells: a static batch taken as dynamic,
    else the one the repaired Reshapes agree on (None when unknown or inconsistent)."""
    if analysis.assume_batch and not analysis.batch_declared:
        graph = analysis.model.graph
        dims = {v.shape[0] for v in graph.inputs if v.name in analysis.input_dims and v.shape is not None
                and len(v.shape) > 0}
        static = [d for d in dims if isinstance(d, int)]
        return static[0] if len(dims) == 1 and static else None
    found = {r.export_batch for r in analysis.repairs.values()}
    return found.pop() if len(found) == 1 else None


def find_baked_reshapes(analysis: Analysis) -> dict[ir.Node, BakedReshape]:
    """The baked Reshapes this walk shows that are not repaired yet. A Reshape downstream of one found in
    the same walk waits for the next walk (its input is only right once the upstream one is repaired)."""
    batch = export_batch(analysis)
    found: dict[ir.Node, BakedReshape] = {}
    after: set[ir.Value] = set()
    for node in analysis.order:
        if any(v is not None and v in after for v in node.inputs):
            after.update(node.outputs)
            continue
        if (node.op_type not in ("Reshape", "Resize") or not is_standard(node) or node in analysis.repairs
                or len(node.inputs) < 2 or node.inputs[0] is None):
            continue
        repair = baked_reshape(analysis, node, batch) if node.op_type == "Reshape" else baked_resize(analysis, node)
        if repair is None:
            continue
        if batch is not None and repair.export_batch != batch:
            continue  # not the batch the rest of the graph bakes: reported, not repaired
        batch = repair.export_batch
        found[node] = repair
        after.update(node.outputs)
    return found


def baked_reshape(analysis: Analysis, node: ir.Node, batch: int | None = None) -> BakedReshape | None:
    """``node`` as a Reshape that bakes the export batch (``batch`` when known), or None."""
    data, target = node.inputs[0], node.inputs[1]
    if data is None or target is None:
        return None
    in_shapes = analysis.full_shapes(data)
    facts = analysis.facts.get(target)
    if in_shapes is None or facts is None or not facts.known() or not in_shapes[0]:
        return None
    targets = [tuple(int(x) for x in np.asarray(v).reshape(-1)) for v in facts.values]
    if len({len(t) for t in targets}) != 1 or not targets[0]:
        return None
    kinds = [analysis.dim_kind(data, axis) for axis in range(len(in_shapes[0]))]
    if all(kind is Kind.CONSTANT for kind in kinds):
        return _batch_less(analysis, node, in_shapes, targets, analysis.entry_kinds(target))
    if kinds[0] is Kind.BATCH and analysis.value_kind(target) is Kind.CONSTANT:
        return _batch_slot(analysis, node, in_shapes, targets[0], batch)
    return None


def baked_resize(analysis: Analysis, node: ir.Node) -> BakedReshape | None:
    """``node`` as a Resize whose constant ``sizes`` hold the export batch (``F.interpolate(size=...)`` in a
    static export), or None."""
    sizes = input_value(node, "sizes", analysis.opset)
    in_shapes = analysis.full_shapes(node.inputs[0])
    if sizes is None or in_shapes is None or analysis.value_kind(sizes) is not Kind.CONSTANT:
        return None
    rewrite = baked_resize_scales(analysis, node)
    if rewrite.value is None or rewrite.export_batch is None:
        return None
    axes_attribute = attribute(node, "axes")
    rank = len(in_shapes[0])
    axes = list(range(rank)) if axes_attribute is None else [int(a) % rank for a in axes_attribute]
    scales = [float(s) for s in np.asarray(rewrite.value).reshape(-1)]
    shapes: list[Shape] = []
    for shape in in_shapes:
        dims = list(shape)
        for axis, scale in zip(axes, scales):
            dims[axis] = int(np.floor(shape[axis] * np.float32(scale)))
        shapes.append(tuple(dims))
    original = tuple(int(v) for v in np.asarray(analysis.value(sizes)).reshape(-1))
    return BakedReshape(node, "resize-sizes", rewrite.export_batch, 0, original, original, None, tuple(shapes),
                        (), tuple(scales))


def _batch_slot(analysis: Analysis, node: ir.Node, in_shapes: list[tuple[int, ...]], target: tuple[int, ...],
                batch: int | None) -> BakedReshape | None:
    allowzero = int(attribute(node, "allowzero", 0))
    probes = analysis.probes
    b0, b1 = probes[0].batch, probes[1].batch
    candidates: list[int] = []
    rewrite = baked_reshape_target(analysis, node)
    if rewrite.export_batch is not None:
        candidates.append(rewrite.export_batch)
    elif _fails(analysis, node):
        volumes = [int(np.prod(s, dtype=np.int64)) for s in in_shapes[:2]]
        per_sample = Fraction(volumes[1] - volumes[0], b1 - b0)
        if per_sample <= 0 or Fraction(volumes[0]) != per_sample * b0:
            return None  # the volume does not grow with the batch alone
        known = [d for d in target if d not in (-1, 0)]
        if -1 in target or (0 in target and not allowzero):
            first = Fraction(target[0]) if target[0] > 0 else None
            slope = Fraction(in_shapes[1][0] - in_shapes[0][0], b1 - b0)
            if first is not None:
                candidates += [int(c) for c in (first, first / slope) if c.denominator == 1 and c > 0]
        else:
            solved = Fraction(int(np.prod(known, dtype=np.int64))) / per_sample
            if solved.denominator == 1 and solved > 0:
                candidates.append(int(solved))
    if batch is not None:
        candidates = [c for c in candidates if c == batch] or ([batch] if _fails(analysis, node) else [])
    for candidate in dict.fromkeys(candidates):
        source = _at(in_shapes, (b0, b1), candidate)
        out = _resolve(source, target, allowzero) if source is not None else None
        if out is None or len(out) < 2:
            continue
        rest = int(np.prod(out[1:], dtype=np.int64))
        shapes: list[Shape] = []
        for shape in in_shapes:
            volume = int(np.prod(shape, dtype=np.int64))
            if volume % rest:
                break
            shapes.append((volume // rest, *out[1:]))
        else:
            runs = _runs(in_shapes, (b0, b1), lambda b: target, allowzero, candidate)
            return BakedReshape(node, "batch-slot", candidate, 0, target, (-1, *out[1:]), None, tuple(shapes), runs)
    return None


def _batch_less(analysis: Analysis, node: ir.Node, in_shapes: list[tuple[int, ...]],
                targets: list[tuple[int, ...]], kinds: list[Kind]) -> BakedReshape | None:
    """A tensor without a batch reshaped to a target with one entry that is the batch."""
    axes = [axis for axis, kind in enumerate(kinds) if kind is Kind.BATCH]
    if len(axes) != 1 or any(k is not Kind.CONSTANT for i, k in enumerate(kinds) if i != axes[0]):
        return None
    axis = axes[0]
    probes = analysis.probes
    factors = {Fraction(t[axis], p.batch) for t, p in zip(targets, probes) if p.dims == probes[0].dims}
    if len(factors) != 1:
        return None
    factor = factors.pop()
    if factor != 1:
        return None  # only one sample (the target at batch 1) can be given to every sample by an Expand
    allowzero = int(attribute(node, "allowzero", 0))
    at_batch = tuple(1 if i == axis else d for i, d in enumerate(targets[0]))
    out = _resolve(in_shapes[0], at_batch, allowzero)
    if out is None:
        return None
    batch = 1
    expand: tuple[int | tuple[str, int], ...] | None = None
    if not _broadcast_carries(analysis, node, axis):
        expand = tuple(("batch", int(factor)) if i == axis else d for i, d in enumerate(out))
    shapes = tuple(out if expand is None else tuple(t[axis] if i == axis else d for i, d in enumerate(out))
                   for t in targets)

    def target_at(b: int) -> tuple[int, ...]:
        return tuple(int(factor) * b if i == axis else d for i, d in enumerate(targets[0]))

    runs = _runs(in_shapes, (probes[0].batch, probes[1].batch), target_at, allowzero, batch)
    return BakedReshape(node, "batch-less-input", batch, axis, at_batch, at_batch, expand,
                        shapes, runs)


def _broadcast_carries(analysis: Analysis, node: ir.Node, axis: int) -> bool:
    """Whether every consumer of ``node``'s output broadcasts it against a tensor that carries the batch in
    the same (right-aligned) axis, so a dim of 1 there needs no Expand."""
    output = node.outputs[0]
    shape = analysis.shape(output)
    uses = list(output.uses())
    if not uses or shape is None or output in analysis.model.graph.outputs:
        return False
    from_end = len(shape) - axis
    for use in uses:
        user = use.node
        if user.op_type not in _BROADCASTING or not is_standard(user):
            return False
        others = [v for i, v in enumerate(user.inputs) if i != use.idx and v is not None]
        carried = False
        for other in others:
            other_shape = analysis.shape(other)
            position = len(other_shape) - from_end if other_shape is not None else -1
            if position >= 0 and analysis.dim_kind(other, position) is Kind.BATCH:
                carried = True
        if not carried:
            return False
    return True


def _fails(analysis: Analysis, node: ir.Node) -> bool:
    """Whether ``node`` fails at a batch probe (not only at the probe that moves non-batch dims)."""
    dim_probe = analysis.dim_probe
    return any(i.node is node and i.kind in _FAILED and (i.probe is None or i.probe != dim_probe)
               for i in analysis.issues)


def _at(shapes: Sequence[tuple[int, ...]], batches: tuple[int, int], batch: int) -> tuple[int, ...] | None:
    """A shape that follows the batch linearly, at another batch size (None: not a positive integer)."""
    b0, b1 = batches
    result = []
    for d0, d1 in zip(shapes[0], shapes[1]):
        value = d0 + Fraction(d1 - d0, b1 - b0) * (batch - b0)
        if value.denominator != 1 or value <= 0:
            return None
        result.append(int(value))
    return tuple(result)


def _resolve(shape: Sequence[int], target: Sequence[int], allowzero: int) -> tuple[int, ...] | None:
    """What Reshape gives for ``shape`` and ``target`` (None: it fails, or gives an empty dim)."""
    dims = [shape[i] if d == 0 and not allowzero and i < len(shape) else d for i, d in enumerate(target)]
    volume = int(np.prod(shape, dtype=np.int64))
    known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
    if dims.count(-1) > 1 or known <= 0 or any(d < -1 for d in dims):
        return None
    if -1 in dims:
        if volume % known:
            return None
        dims = [volume // known if d == -1 else d for d in dims]
    if int(np.prod(dims, dtype=np.int64)) != volume or 0 in dims:
        return None
    return tuple(dims)


def _runs(in_shapes: Sequence[tuple[int, ...]], batches: tuple[int, int],
          target_at: Callable[[int], tuple[int, ...]], allowzero: int, batch: int) -> tuple[tuple[int, str], ...]:
    """Per batch size 1..5 but ``batch``: whether the original Reshape fails there or runs, wrongly."""
    found: list[tuple[int, str]] = []
    for b in _SHOWN_BATCHES:
        if b == batch:
            continue
        source = _at(in_shapes, batches, b)
        if source is None:
            continue
        found.append((b, "wrong" if _resolve(source, target_at(b), allowzero) is not None else "fails"))
    return tuple(found)


def describe_runs(repair: BakedReshape) -> str:
    """``right only at batch 1 (fails at batch 3, silently wrong at batches 2, 4 and 5)``."""
    parts = []
    wrong = "silently wrong at" if repair.kind == "batch-less-input" else "folds the batch into another dim at"
    for what, text in (("fails", "fails at"), ("wrong", wrong)):
        batches = [str(b) for b, how in repair.runs if how == what]
        if batches:
            listed = batches[0] if len(batches) == 1 else ", ".join(batches[:-1]) + " and " + batches[-1]
            parts.append(f"{text} batch{'es' if len(batches) > 1 else ''} {listed}")
    return f"right only at batch {repair.export_batch}" + (f" ({', '.join(parts)})" if parts else "")
