"""Batch slots held by stored constants that only a static export (or a Python-int batch) writes.

- dynamo's as_strided in a static export: ``Gather(Reshape(t, [-1]), indices)`` with stored indices, one
  row per image stepping by the per-image volume: flattened per image, the first row gathered on axis 1;
- an LSTM / GRU / RNN whose stored initial state is all zeros with a fixed batch
  (``torch.zeros(layers, n, hidden)``): zeros are the operator's default, so the inputs are dropped;
- an Expand that fails because its stored input has the export batch in an axis where the target shape
  follows the batch (the legacy exporter's RNN state ``[layers, E, hidden]`` expanded to ``[layers, batch,
  hidden]``): when the slices along that axis are all equal, one slice, which the Expand broadcasts.

Reads the analysis only; :func:`graphfix.analyse.batch_slots.find_baked_slots` collects them.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import onnx_ir as ir

from graphfix.analyse.analysis import Analysis
from graphfix.analyse.batch_slots import _CAUSES, BakedSlot, _batch_form, _stored
from graphfix.analyse.evaluator import attribute
from graphfix.analyse.facts import Kind
from graphfix.ir.graphutil import downstream


def gather_slot(analysis: Analysis, node: ir.Node, static: set[int]) -> BakedSlot | None:
    """``Gather(Reshape(t, [-1]), indices)`` with stored indices ``[E, ...]`` whose rows step by ``t``'s
    per-sample volume: the export batch's images picked from the flattened tensor (dynamo's as_strided)."""
    if int(attribute(node, "axis", 0)) != 0 or len(node.inputs) < 2 or node.inputs[1] is None:
        return None
    data = node.inputs[0]
    flatten = data.producer() if data is not None else None
    if data is None or flatten is None or flatten.op_type != "Reshape" or len(list(data.uses())) != 1:
        return None
    source = flatten.inputs[0]
    flat = analysis.shape(data)
    shapes = analysis.full_shapes(source)
    if source is None or shapes is None or flat is None or len(flat) != 1 or not shapes[0]:
        return None
    if _batch_form(analysis, source, 0) != (Fraction(1), Fraction(0)):
        return None  # dim 0 of the flattened tensor is not exactly the batch
    per_sample = int(np.prod(shapes[0][1:], dtype=np.int64))
    indices = _stored(analysis, node.inputs[1])
    if indices is None or indices.ndim < 1 or indices.dtype.kind not in "iu" or indices.shape[0] not in static:
        return None
    batch = int(indices.shape[0])
    row = indices[0]
    steps = [np.array_equal(indices[b], row + b * per_sample) for b in range(batch)]
    if per_sample < 1 or row.size == 0 or int(row.min()) < 0 or int(row.max()) >= per_sample or not all(steps):
        return None
    frees = tuple(v.name or "" for v in _downstream_outputs(analysis, node))
    return BakedSlot(node=node, index=1, kind="Gather", export_batch=batch,
                     baked=f"a {list(indices.shape)} index tensor", cause=_CAUSES["Gather"], constant=row,
                     flatten=flatten, per_sample=per_sample, frees=frees)


def _downstream_outputs(analysis: Analysis, node: ir.Node) -> list[ir.Value]:
    outputs = set(analysis.model.graph.outputs)
    found: list[ir.Value] = []
    for current in downstream(node):
        for output in current.outputs:
            if output in outputs and output not in found:
                found.append(output)
    return found


def state_slot(analysis: Analysis, node: ir.Node) -> BakedSlot | None:
    """An LSTM / GRU / RNN whose stored initial state (``initial_h``, ``initial_c``) is all zeros with a
    fixed batch while the sequence's batch follows the batch: the zeros are the operator's default, so
    the inputs are dropped."""
    data = node.inputs[0] if node.inputs else None
    layout = int(attribute(node, "layout", 0))
    axis = 1 if layout == 0 else 0  # the batch of X [seq, batch, in] and of the states [dirs, batch, hidden]
    if data is None or analysis.dim_kind(data, axis) is not Kind.BATCH:
        return None
    drop: list[int] = []
    batches: set[int] = set()
    for index in (5, 6) if node.op_type == "LSTM" else (5,):
        state = node.inputs[index] if index < len(node.inputs) else None
        if state is None:
            continue
        array = _stored(analysis, state)
        if array is None or array.ndim != 3 or analysis.dim_kind(state, axis) is not Kind.CONSTANT:
            return None
        if np.any(array != 0):
            return None  # a learnt or given state: not the default
        drop.append(index)
        batches.add(int(array.shape[axis]))
    if not drop or len(batches) != 1:
        return None
    batch = batches.pop()
    return BakedSlot(node=node, index=drop[0], kind="state", export_batch=batch,
                     baked=f"an all-zero initial state with batch {batch}", cause=_CAUSES["state"], drop=tuple(drop))


def expand_slot(analysis: Analysis, node: ir.Node) -> BakedSlot | None:
    """A failing Expand of a stored tensor whose dim ``E`` (the export batch) meets a target entry that
    follows the batch: the tensor with that dim 1 when its slices along it are all equal."""
    data, shape = (node.inputs[0], node.inputs[1]) if len(node.inputs) > 1 else (None, None)
    if data is None or shape is None:
        return None
    array = _stored(analysis, data)
    facts = analysis.facts.get(shape)
    if array is None or array.ndim == 0 or facts is None or not facts.known():
        return None
    kinds = analysis.entry_kinds(shape)
    offset = len(kinds) - array.ndim
    axes = [a for a in range(array.ndim) if offset + a >= 0 and kinds[offset + a] is Kind.BATCH and array.shape[a] > 1]
    if len(axes) != 1:
        return None
    axis = axes[0]
    first = np.take(array, [0], axis=axis)
    if not all(np.array_equal(np.take(array, [i], axis=axis), first) for i in range(array.shape[axis])):
        return None
    batch = int(array.shape[axis])
    return BakedSlot(node=node, index=0, kind="constant", export_batch=batch,
                     baked=f"a {list(array.shape)} constant", cause=_CAUSES["constant"], failing=node,
                     constant=first)
