"""Batch slots outside Reshape: where a Tile, Expand, ConstantOfShape, Range, Slice or a stored constant
holds the export batch, and what would make it follow the batch again (issue 8).

A slot is found where the batch stops flowing:

- a node fails at the batch probes because one input's dim 0 is a constant ``E`` while the tensor it meets
  carries the batch (``x + torch.full((int(b), c, 1, 1), 0.5)``, ``x * g.repeat(n, 1, 1, 1)``): the
  constant's origin is walked back to the op whose constant input fixed it;
- a Slice on the batch axis whose end is ``E`` (``x[:n]`` with ``n`` a Python int): its output's dim 0
  stops following the input's batch, and the graph then fails or an output declared dynamic is constant;
- in a static export, a Gather from a tensor flattened to ``[-1]`` with stored indices ``[E, ...]``, one row
  per image stepping by the per-image volume (the dynamo exporter's as_strided of a permuted tensor):
  repaired by flattening per image and gathering the first row along axis 1.

``E`` must be ``k * B`` for the export batch ``B`` the batch-carrying side has there (``alpha * B`` with
its dim 0 ``alpha * batch``). The repair writes the batch slot as ``k * batch`` in the shortest run-time form
(:class:`graphfix.linting.plans.BatchShape`), a stored constant whose rows are all equal becomes one row
(broadcast) or that row expanded to the batch (Concat), and a Slice end that is the whole batch becomes
"to the end". Everything else is reported with the reason. Reads the analysis only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
import onnx_ir as ir

from graphfix.analyse.analysis import Analysis
from graphfix.analyse.batch_forms import Form, linear_shape
from graphfix.analyse.evaluator import attribute
from graphfix.analyse.facts import Kind
from graphfix.analyse.operands import operand_array, shape_input_indices
from graphfix.analyse.rewrites import INT64_MAX, fails_downstream
from graphfix.ir.graphutil import downstream

# Ops that broadcast their inputs: a constant with one row there broadcasts to the batch by itself.
BROADCASTING = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Where", "Equal",
                          "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Mod",
                          "BitShift", "PRelu"})

_MAX_READ = 1 << 16  # elements of a stored constant read to see whether its rows are all equal

_CAUSES = {
    "Tile": "x.repeat(n, ...) with n a Python int (int(), .item() or .data of a size)",
    "Expand": "x.expand(n, ...) with n a Python int (int(), .item() or .data of a size)",
    "ConstantOfShape": "torch.zeros/ones/full((n, ...)) with n a Python int (int(), .item() or .data of a size)",
    "Range": "torch.arange(n) with n a Python int (int(), .item() or .data of a size)",
    "Slice": "x[:n] with n a Python int (int(), .item() or .data of x.shape[0])",
    "constant": "torch.zeros/ones/full((n, ...)) with n a Python int, folded into a constant at export",
    "Split": "a Python loop over the images (x.unbind(0), for s in x), unrolled by the export",
    "images": "a Python loop over the images (x.unbind(0), for s in x), unrolled by the export into one "
              "Slice per image",
    "state": "torch.zeros(layers, n, hidden) with n a Python int as the RNN's initial state",
    "Gather": "the dynamo exporter's as_strided of a permuted tensor (a pooling of x.permute(...)): the static "
              "export stores the flat indices of every image",
}

UNROLLED = ("a loop unrolled over the export batch (one branch per image) cannot be rewritten in general; "
            "re-export with the loop body applied to the whole batch (vectorised: f(x) rather than "
            "torch.stack([f(s) for s in x.unbind(0)])), or with batch-aware ops")


@dataclass(frozen=True)
class BakedSlot:
    """Input ``index`` of ``node`` holds the export batch ``export_batch`` (as ``baked``). ``entries`` (a
    shape vector; ``expand``: the row expanded to it; ``scalar``: a Range limit) or ``constant`` repair it;
    both None: ``reason`` says why it is only reported."""

    node: ir.Node
    index: int
    kind: str  # the op whose input holds the batch, or "constant" for a stored tensor
    export_batch: int
    baked: str
    cause: str
    failing: ir.Node | None = None
    entries: tuple[Form, ...] | None = None
    expand: np.ndarray | None = None
    scalar: bool = False
    constant: np.ndarray | None = None
    reason: str | None = None
    # kind "Gather": the Reshape that flattens the gathered tensor (its target becomes [-1, per_sample],
    # the Gather then takes ``constant``, the first image's indices, along axis 1), and the graph outputs
    # whose dim 0 follows the batch again once repaired.
    flatten: ir.Node | None = None
    per_sample: int = 0
    frees: tuple[str, ...] = ()
    # kind "state": optional inputs dropped (an all-zero initial state is the operator's default)
    drop: tuple[int, ...] = ()

    @property
    def repairable(self) -> bool:
        return self.entries is not None or self.constant is not None or bool(self.drop)


def find_baked_slots(analysis: Analysis) -> list[BakedSlot]:
    """Every batch slot outside Reshape that holds the export batch, in graph order."""
    if not analysis.has_batch_probes:
        return []
    found: dict[tuple[ir.Node, int], BakedSlot] = {}
    failing: list[ir.Node] = []
    dim_probe = analysis.dim_probe
    for issue in analysis.issues:
        if issue.probe is not None and issue.probe == dim_probe:
            continue  # fails only when a non-batch dim moves: a frozen H/W, not the batch
        if issue.kind in ("inference-failed", "volume-mismatch") and issue.node not in failing:
            failing.append(issue.node)
    from graphfix.analyse.stored_slots import expand_slot, gather_slot, state_slot  # they build on this module

    for node in failing:
        for slot in _slots_at_failure(analysis, node):
            found.setdefault((slot.node, slot.index), slot)
        expanded = expand_slot(analysis, node) if node.op_type == "Expand" else None
        if expanded is not None:
            found.setdefault((expanded.node, expanded.index), expanded)
    for node in analysis.nodes("Split"):
        loop = _split_slot(analysis, node)
        if loop is not None:
            found.setdefault((loop.node, loop.index), loop)
    for node in analysis.nodes("Slice"):
        cut = _slice_slot(analysis, node)
        if cut is not None:
            found.setdefault((cut.node, cut.index), cut)
    for loop in _image_slices(analysis):
        found.setdefault((loop.node, loop.index), loop)
    static = _static_batches(analysis)
    for node in [*analysis.nodes("LSTM"), *analysis.nodes("GRU"), *analysis.nodes("RNN")]:
        state = state_slot(analysis, node)
        if state is not None:
            found.setdefault((state.node, state.index), state)
    for node in analysis.nodes("Gather") if static else []:
        strided = gather_slot(analysis, node, static)
        if strided is not None:
            found.setdefault((strided.node, strided.index), strided)
    if static:  # a static export analysed as dynamic: its export batch is the inputs' dim 0
        found = {key: slot for key, slot in found.items() if slot.export_batch in static}
    positions = analysis.positions
    return sorted(found.values(), key=lambda s: positions.get(s.node, 0))


def _static_batches(analysis: Analysis) -> set[int]:
    """The inputs' static dim 0 when the analysis takes it as the batch (``assume_batch``), else empty."""
    if not analysis.assume_batch:
        return set()
    initializers = set(analysis.model.graph.initializers.values())
    return {int(v.shape[0]) for v in analysis.model.graph.inputs if v not in initializers and v.shape is not None
            and len(v.shape) > 0 and isinstance(v.shape[0], int)}


def _batch_form(analysis: Analysis, value: ir.Value, axis: int) -> tuple[Fraction, Fraction] | None:
    forms = linear_shape(analysis, value)
    form = forms[axis] if forms is not None and axis < len(forms) else None
    return None if form is None or form[0] == 0 else form


def _slots_at_failure(analysis: Analysis, node: ir.Node) -> list[BakedSlot]:
    """Inputs of a failing node whose constant dim meets a dim that carries the batch."""
    if node.op_type not in BROADCASTING and node.op_type != "Concat":
        return []
    inputs = [v for v in node.inputs if v is not None]
    shapes = {v: analysis.shape(v) for v in inputs}
    if any(s is None for s in shapes.values()):
        return []
    rank = max(len(s) for s in shapes.values() if s is not None)
    if node.op_type == "Concat" and int(attribute(node, "axis", 0)) % max(rank, 1) == 0:
        return []  # torch.cat along the batch: not a batch slot
    slots: list[BakedSlot] = []
    for index, value in enumerate(node.inputs):
        shape = shapes.get(value) if value is not None else None
        if value is None or shape is None or not shape or analysis.dim_kind(value, 0) is not Kind.CONSTANT:
            continue
        axis = rank - len(shape)  # where this input's dim 0 sits once broadcast
        carrier, carrier_axis = None, 0
        for other in inputs:
            other_shape = shapes[other] or ()
            other_axis = axis - (rank - len(other_shape))
            if other is not value and 0 <= other_axis < len(other_shape) and analysis.dim_kind(
                    other, other_axis) is Kind.BATCH:
                carrier, carrier_axis = other, other_axis
                break
        if carrier is None:
            continue
        form = _batch_form(analysis, carrier, carrier_axis)
        dim = shape[0]
        if form is None or dim is None or form[1] != 0 or form[0].denominator != 1:
            continue
        if dim == 1 and node.op_type in BROADCASTING:
            continue  # one row broadcasts to any batch: not what fails here
        alpha = int(form[0])
        if dim % alpha:
            continue
        batch = dim // alpha
        slot = _origin_slot(analysis, node, index, value, alpha, batch)
        if slot is not None:
            slots.append(slot)
    return slots


def _shown(array: np.ndarray | None) -> str:
    if array is None:
        return "?"
    flat = np.asarray(array).reshape(-1)
    if flat.size > 8:
        return f"a {list(np.asarray(array).shape)} tensor"
    return "[" + ", ".join(str(int(v)) if flat.dtype.kind in "iu" else f"{float(v):g}" for v in flat) + "]" \
        if np.asarray(array).ndim else str(flat[0])


def _origin_slot(analysis: Analysis, consumer: ir.Node, index: int, value: ir.Value, alpha: int, batch: int
                 ) -> BakedSlot | None:
    """Walk back from ``value`` (dim 0 = alpha * batch) to the input that fixed its dim 0."""
    dim = alpha * batch
    current = value
    for _ in range(64):
        producer = current.producer()
        if producer is None or producer.op_type == "Constant":
            if current is value:
                return _constant_slot(analysis, consumer, index, current, alpha, batch)
            return BakedSlot(node=consumer, index=index, kind="constant", export_batch=batch,
                             baked=f"computed from {current.name!r}", cause=_CAUSES["constant"], failing=consumer,
                             reason=f"it is computed from the stored constant {current.name!r} by other nodes")
        kind = producer.op_type
        if kind in ("Tile", "Expand", "ConstantOfShape", "Range"):
            return _op_slot(analysis, producer, consumer, alpha, batch)
        if kind == "Reshape":
            return None  # the Reshape side of the baked batch (GF103's Reshape findings)
        shape_inputs = shape_input_indices(producer, analysis.opset)
        upstream = [v for i, v in enumerate(producer.inputs) if v is not None and i not in shape_inputs
                    and (s := analysis.shape(v)) is not None and len(s) > 0 and s[0] == dim
                    and analysis.dim_kind(v, 0) is Kind.CONSTANT]
        if len(upstream) != 1:
            return None  # several candidates: the cause is not known
        current = upstream[0]
    return None


def _stored(analysis: Analysis, value: ir.Value) -> np.ndarray | None:
    """A stored constant's value (None: computed, or too large to read)."""
    array = analysis.value(value)
    if array is None:
        producer = value.producer()
        if producer is not None and producer.op_type != "Constant":
            return None
        attr = producer.attributes.get("value") if producer is not None else None
        tensor = attr.value if attr is not None else value.const_value
        if not isinstance(tensor, ir.TensorProtocol) or tensor.size > _MAX_READ:
            return None  # a large stored tensor is not read to find out whether its rows are equal
        array = tensor.numpy()
    return np.asarray(array)


def _constant_slot(analysis: Analysis, consumer: ir.Node, index: int, value: ir.Value, alpha: int, batch: int
                   ) -> BakedSlot | None:
    array = _stored(analysis, value)
    if array is None:
        return None
    common = BakedSlot(node=consumer, index=index, kind="constant", export_batch=batch,
                       baked=f"a {list(array.shape)} constant", cause=_CAUSES["constant"], failing=consumer)
    if array.ndim == 0 or not all(np.array_equal(array[0], row) for row in array[1:]):
        return replace(common, reason="its rows differ, so it is not one value repeated for each image")
    row = array[:1]
    if consumer.op_type in BROADCASTING and alpha == 1:
        return replace(common, constant=row)
    entries: tuple[Form, ...] = (("batch", alpha), *(int(d) for d in array.shape[1:]))
    return replace(common, entries=entries, expand=row)


def _op_slot(analysis: Analysis, node: ir.Node, consumer: ir.Node, alpha: int, batch: int) -> BakedSlot | None:
    kind = node.op_type
    index = {"Tile": 1, "Expand": 1, "ConstantOfShape": 0, "Range": 1}[kind]
    slot_value = node.inputs[index] if index < len(node.inputs) else None
    if slot_value is None or analysis.value_kind(slot_value) is not Kind.CONSTANT:
        return None
    vector = np.asarray(analysis.value(slot_value))
    common = BakedSlot(node=node, index=index, kind=kind, export_batch=batch, baked=_shown(vector),
                       cause=_CAUSES[kind], failing=consumer)
    dim = alpha * batch
    if kind == "Range":
        start, delta = (analysis.value(v) if v is not None else None for v in (node.inputs[0], node.inputs[2]))
        if start is None or delta is None or int(start) != 0 or int(delta) != 1 or int(vector) != dim or \
                vector.dtype != np.int64:
            return replace(common, reason="only torch.arange(n) from 0 by 1 in int64 is rewritten")
        return replace(common, entries=(("batch", alpha),), scalar=True)
    flat = vector.reshape(-1)
    if flat.size == 0 or flat.dtype != np.int64:
        return None
    entries: list[Form] = [int(v) for v in flat]
    data = node.inputs[0] if kind != "ConstantOfShape" else None
    in_shape = analysis.shape(data) if data is not None else None
    if kind == "Tile":
        if in_shape is None or not in_shape or in_shape[0] is None or alpha % in_shape[0] or \
                in_shape[0] * int(flat[0]) != dim:
            return replace(common, reason="the tiled tensor's dim 0 does not divide the batch")
        entries[0] = ("batch", alpha // in_shape[0])
    elif kind == "Expand":
        offset = flat.size - len(in_shape) if in_shape is not None else -1
        if in_shape is None or offset > 0 or int(flat[0]) != dim or (offset == 0 and in_shape[0] != 1):
            return replace(common, reason="the expanded tensor's dim 0 is not 1")
        entries[0] = ("batch", alpha)
    else:
        if int(flat[0]) != dim:
            return None
        entries[0] = ("batch", alpha)
    return replace(common, entries=tuple(entries))


def _slice_slot(analysis: Analysis, node: ir.Node) -> BakedSlot | None:
    """``x[:n]`` on the batch axis with ``n`` the export batch."""
    data = node.inputs[0] if node.inputs else None
    if data is None or analysis.opset < 10 or len(node.inputs) < 3 or analysis.dim_kind(data, 0) is not Kind.BATCH:
        return None  # (Slice-1 keeps its bounds in attributes: not rewritten here)
    if analysis.dim_kind(node.outputs[0], 0) is not Kind.CONSTANT:
        return None
    values = [analysis.value(v) if v is not None else None for v in node.inputs[1:5]]
    if any(v is not None and analysis.value_kind(node.inputs[i + 1]) is not Kind.CONSTANT
           for i, v in enumerate(values)):
        return None
    starts, ends = values[0], values[1]
    if starts is None or ends is None:
        return None
    starts, ends = starts.reshape(-1), ends.reshape(-1)
    axes = values[2].reshape(-1) if len(values) > 2 and values[2] is not None else np.arange(ends.size)
    steps = values[3].reshape(-1) if len(values) > 3 and values[3] is not None else np.ones(ends.size, np.int64)
    shape = analysis.shape(data)
    rank = len(shape) if shape is not None else 0
    positions = [p for p, a in enumerate(axes) if rank and int(a) % rank == 0]
    if len(positions) != 1:
        return None
    p = positions[0]
    end = int(ends[p])
    if int(starts[p]) != 0 or int(steps[p]) != 1 or end <= 1:
        return None  # (x[0:1] is the first image as much as x[:n] at batch 1: not told apart)
    form = _batch_form(analysis, data, 0)
    declared = _declared_dynamic_but_constant(analysis, node)
    if form is None or not (fails_downstream(analysis, node) or declared):
        return None
    if form != (Fraction(1), Fraction(0)):
        return None  # the sliced tensor is not exactly the batch: which end it means is not known
    repaired = ends.copy()
    repaired[p] = INT64_MAX
    return BakedSlot(node=node, index=2, kind="Slice", export_batch=end, baked=_shown(ends), cause=_CAUSES["Slice"],
                     constant=repaired.astype(ends.dtype))


def _image_slices(analysis: Analysis) -> list[BakedSlot]:
    """``x[0:1]``, ``x[1:2]``, ... ``x[n-1:n]`` on the batch axis of one tensor, every image of the export
    batch ``n`` (the dynamo exporter's ``x.unbind(0)``): an unrolled loop over the images. Reported only,
    on the first of the Slices."""
    pieces: dict[ir.Value, dict[int, ir.Node]] = {}
    for node in analysis.nodes("Slice"):
        image = _image_of(analysis, node)
        if image is not None:
            pieces.setdefault(node.inputs[0], {}).setdefault(image, node)  # type: ignore[arg-type]
    static = _static_batches(analysis)
    positions = analysis.positions
    slots = []
    for data, images in pieces.items():
        count = len(images)
        if count < 2 or sorted(images) != list(range(count)):
            continue
        first = min(images.values(), key=lambda n: positions.get(n, 0))
        kind = analysis.dim_kind(data, 0)
        if static:
            # The tensor's dim 0 is the batch, or unknown past an earlier failure where the export declared it
            # the static batch.
            declared = data.shape[0] if data.shape is not None and len(data.shape) else None
            if count not in static or not (kind is Kind.BATCH or (kind is Kind.UNKNOWN and declared == count)):
                continue
        elif _batch_form(analysis, data, 0) != (Fraction(1), Fraction(0)) or not any(fails_downstream(analysis, n) or _declared_dynamic_but_constant(analysis, n)
                     for n in images.values()):
            continue  # the first images of a batch, taken on purpose
        slots.append(BakedSlot(node=first, index=1, kind="Slice", export_batch=count,
                               baked=f"{count} Slices [i:i+1] of {data.name}, one per image", cause=_CAUSES["images"],
                               reason=UNROLLED))
    return slots


def _image_of(analysis: Analysis, node: ir.Node) -> int | None:
    """``i`` when ``node`` is ``x[i:i+1]`` on axis 0 only, with constant bounds (opset 10+)."""
    data = node.inputs[0] if node.inputs else None
    if data is None or analysis.opset < 10 or len(node.inputs) < 3 or analysis.dim_kind(data, 0) is Kind.CONSTANT:
        return None
    operands = list(node.inputs[1:5])
    if any(v is not None and analysis.value_kind(v) is not Kind.CONSTANT for v in operands):
        return None
    values = [analysis.value(v) if v is not None else None for v in operands]
    starts, ends = values[0], values[1]
    if starts is None or ends is None or np.asarray(starts).size != 1:
        return None
    axes = values[2] if len(values) > 2 else None
    steps = values[3] if len(values) > 3 else None
    rank = len(analysis.shape(data) or data.shape or ())
    if (axes is not None and (not rank or int(np.asarray(axes).reshape(-1)[0]) % rank != 0)) or (
            steps is not None and int(np.asarray(steps).reshape(-1)[0]) != 1):
        return None
    start, end = int(np.asarray(starts).reshape(-1)[0]), int(np.asarray(ends).reshape(-1)[0])
    return start if start >= 0 and end == start + 1 else None


def _declared_dynamic_but_constant(analysis: Analysis, node: ir.Node) -> bool:
    """Whether a graph output downstream of ``node`` declares a dynamic dim 0 that is always a constant."""
    outputs = set(analysis.model.graph.outputs)
    return any(output in outputs and output.shape is not None and len(output.shape) and not isinstance(
        output.shape[0], int) and analysis.dim_kind(output, 0) is Kind.CONSTANT
        for current in downstream(node) for output in current.outputs)


def _split_slot(analysis: Analysis, node: ir.Node) -> BakedSlot | None:
    """A Split along an axis that carries the batch into pieces summing to the export batch: an unrolled
    loop over the images. Reported only."""
    data = node.inputs[0] if node.inputs else None
    shape = analysis.shape(data) if data is not None else None
    if data is None or not shape:
        return None
    axis = int(attribute(node, "axis", 0)) % len(shape)
    form = _batch_form(analysis, data, axis)
    if form is None:
        return None
    split = operand_array(analysis, node, "split")  # an attribute before opset 13, an input after
    if split is not None:
        sizes = [int(v) for v in split.reshape(-1)]
    elif len(node.inputs) > 1 and node.inputs[1] is not None:
        return None  # sizes that follow the batch: the Split keeps working
    else:
        sizes = [1] * len(node.outputs)  # equal parts: one per output
    batch = (sum(sizes) - form[1]) / form[0]
    if batch.denominator != 1 or batch < 1 or len(sizes) < 2 or not any(
            issue.node is node for issue in analysis.issues):
        return None
    shown = "[" + ", ".join(map(str, sizes)) + "]"
    return BakedSlot(node=node, index=0, kind="Split", export_batch=int(batch), baked=shown,
                     cause=_CAUSES["Split"], reason=UNROLLED)

