"""A run-time shape vector as a function of the batch, beyond the probes.

The analysis knows a value at the probe batches (3, 5, 4) only. A vector whose entries are not linear in
the batch (``F.pad`` to an even batch: ``n % 2``; to a multiple: ``(m - n % m) % m``) needs more: its chain
is run again at batches 1 to :data:`SAMPLED`, with the shape of every tensor the chain reads taken as its
linear form in the batch (fitted on the probes and confirmed at every batch probe; a source that is not
linear gives no answer). The entries are then matched against the forms graphfix can write with a few
nodes (:func:`entry_form`): a constant, ``k * batch``, or ``(k * batch + c) mod m``.

Reads the analysis only; never mutates the model.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import onnx_ir as ir

from graphfix.analyse.analysis import Analysis
from graphfix.analyse.evaluator import NotEvaluable, attribute, evaluate
from graphfix.analyse.facts import BATCH_PROBES, Kind

SAMPLED = 24  # batches 1..SAMPLED: enough to tell moduli up to MAX_MODULUS apart
MAX_MODULUS = 8

# An entry's form: an int constant, ("batch", k) for k * batch, ("mod", k, c, m) for (k * batch + c) mod m.
Form = int | tuple[str, int] | tuple[str, int, int, int]


def linear_shape(analysis: Analysis, value: ir.Value) -> list[tuple[Fraction, Fraction] | None] | None:
    """Each dim of ``value`` as ``(alpha, beta)`` with dim = alpha * batch + beta at every batch probe (None
    for a dim that is not linear in the batch or that another dynamic dim moves), or None when the shape is
    not known at every probe."""
    shapes = analysis.full_shapes(value)
    if shapes is None or not analysis.has_batch_probes:
        return None
    count = len(BATCH_PROBES)
    if len(shapes) < count or len({len(s) for s in shapes}) != 1:
        return None
    b0, b1 = analysis.probes[0].batch, analysis.probes[1].batch
    forms: list[tuple[Fraction, Fraction] | None] = []
    for axis in range(len(shapes[0])):
        alpha = Fraction(shapes[1][axis] - shapes[0][axis], b1 - b0)
        beta = shapes[0][axis] - alpha * b0
        linear = all(alpha * analysis.probes[i].batch + beta == shapes[i][axis] for i in range(count))
        # The dim probe has the first probe's batch: a dim it moves depends on another dynamic dim.
        moved = any(shapes[i][axis] != shapes[0][axis] for i in range(count, len(shapes)))
        forms.append((alpha, beta) if linear and not moved else None)
    return forms


def values_by_batch(analysis: Analysis, value: ir.Value, batches: range = range(1, SAMPLED + 1)
                    ) -> dict[int, np.ndarray] | None:
    """``value`` (computed at run time from shapes) at each of ``batches``, or None when its chain reads a
    tensor whose shape is not linear in the batch or has a node that cannot be evaluated."""
    nodes, sources = analysis.chain(value)
    if not nodes or value.producer() not in nodes:
        return None
    forms: dict[ir.Value, list[tuple[Fraction, Fraction]]] = {}
    for source in sources:
        form = linear_shape(analysis, source)
        if form is None or any(f is None for f in form):
            return None
        forms[source] = [f for f in form if f is not None]
    opset = analysis.opset
    result: dict[int, np.ndarray] = {}
    for batch in batches:
        known: dict[ir.Value, np.ndarray] = {}
        try:
            for node in nodes:
                if node.op_type in ("Shape", "Size"):
                    read = node.inputs[0]
                    if read is None or read not in forms:
                        return None
                    dims = [alpha * batch + beta for alpha, beta in forms[read]]
                    if any(d.denominator != 1 or d < 0 for d in dims):
                        return None
                    shape = [int(d) for d in dims]
                    outputs = [_shape_output(node, shape)]
                else:
                    inputs: list[np.ndarray | None] = []
                    for v in node.inputs:
                        if v is None:
                            inputs.append(None)
                        elif v in known:
                            inputs.append(known[v])
                        elif not analysis.is_runtime(v) and analysis.value_kind(v) is Kind.CONSTANT:
                            inputs.append(analysis.value(v))
                        else:
                            return None
                    if any(i is None and v is not None for i, v in zip(inputs, node.inputs)):
                        return None
                    outputs = evaluate(node, inputs, opset)
                known.update(zip(node.outputs, outputs))
        except NotEvaluable:
            return None
        if value not in known:
            return None
        result[batch] = np.asarray(known[value])
    return result


def _shape_output(node: ir.Node, shape: list[int]) -> np.ndarray:
    if node.op_type == "Size":
        return np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    rank = len(shape)
    start = int(attribute(node, "start", 0))
    end = attribute(node, "end")
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = rank if end is None else min(max(int(end) + rank if int(end) < 0 else int(end), 0), rank)
    return np.array(shape[start:end], dtype=np.int64)


def entry_form(numbers: dict[int, int]) -> Form | None:
    """The shortest form that gives ``numbers`` (``{batch: entry}``) at every batch, or None."""
    values = set(numbers.values())
    if len(values) == 1:
        return values.pop()
    factors = {Fraction(v, b) for b, v in numbers.items()}
    if len(factors) == 1 and (k := factors.pop()).denominator == 1 and k > 0:
        return ("batch", int(k))
    for modulus in range(2, MAX_MODULUS + 1):
        for factor in range(1, modulus):
            for offset in range(modulus):
                if all(v == (factor * b + offset) % modulus for b, v in numbers.items()):
                    return ("mod", factor, offset, modulus)
    return None


def vector_forms(analysis: Analysis, value: ir.Value) -> tuple[Form, ...] | None:
    """Each entry of a 1-D int64 run-time vector as a :data:`Form` valid at batches 1..SAMPLED, or None."""
    by_batch = values_by_batch(analysis, value)
    if by_batch is None:
        return None
    arrays = list(by_batch.values())
    if arrays[0].ndim != 1 or arrays[0].dtype != np.int64 or any(a.shape != arrays[0].shape for a in arrays):
        return None
    values = analysis.facts[value].values
    probes = {analysis.probes[i].batch: np.asarray(values[i]).reshape(-1) for i in range(len(BATCH_PROBES))
              if values[i] is not None}
    for batch, known in probes.items():  # the re-evaluation must agree with the walk where both exist
        if batch in by_batch and not np.array_equal(by_batch[batch], known):
            return None
    forms: list[Form] = []
    for position in range(arrays[0].size):
        form = entry_form({b: int(a[position]) for b, a in by_batch.items()})
        if form is None:
            return None
        forms.append(form)
    return tuple(forms)
