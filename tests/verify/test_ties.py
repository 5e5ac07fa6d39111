"""Outputs that tie: compared up to the order of tied values when they come from a sort-like operator."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir
from graphs import parse, save

from graphfix.compare.order import equal_up_to_order
from graphfix.verify import InputSpec, tie_outputs, verify

F32 = np.dtype(np.float32)
SPECS = [InputSpec("scores", F32, (None, 8)), InputSpec("boxes", F32, (None, 8, 4))]

# A detection head: scores rounded to 0/1 (random inputs in [0, 1) tie massively), sorted by TopK, the
# boxes gathered in that order, one row [score, x1, y1, x2, y2] per detection; plus a plain output.
DETECTIONS = """
agraph (float[N, 8] scores, float[N, 8, 4] boxes) => (float[N, 8, 5] dets, float[N, 8] plain) {
    two = Constant <value = float {2}> ()
    doubled = Mul (scores, two)
    s = Floor (doubled)
    SORT_INPUTS
    k = Constant <value = int64[1] {8}> ()
    values, idx = TopK <axis = 1> (ss, k)
    a2 = Constant <value = int64[1] {2}> ()
    idx3 = Unsqueeze (idx, a2)
    bshape = Shape (bb)
    idx4 = Expand (idx3, bshape)
    picked = GatherElements <axis = 1> (bb, idx4)
    v3 = Unsqueeze (values, a2)
    dets = Concat <axis = 2> (v3, picked)
    plain = PLAIN
}
"""
AS_IS = "ss = Identity (s)\n    bb = Identity (boxes)"
# Equal models whose tie order differs: the candidates are reversed before TopK, so ties come out reversed.
REVERSED = """st = Constant <value = int64[1] {-1}> ()
    en = Constant <value = int64[1] {-100}> ()
    ax = Constant <value = int64[1] {1}> ()
    ss = Slice (s, st, en, ax, st)
    bb = Slice (boxes, st, en, ax, st)"""


def detections(sort_inputs: str, plain: str = "Relu (scores)") -> str:
    return DETECTIONS.replace("SORT_INPUTS", sort_inputs).replace("PLAIN", plain)


def test_outputs_downstream_of_a_sort_like_operator_are_found():
    model = ir.serde.deserialize_model(parse(detections(AS_IS)))
    assert tie_outputs(model) == frozenset({"dets"})


def test_equal_up_to_order_matches_rows_and_still_compares_values():
    rows = np.array([[[1, 0, 0, 1, 1], [1, 5, 5, 6, 6], [0, 2, 2, 3, 3]]], np.float32)
    swapped = rows[:, [1, 0, 2]]
    assert equal_up_to_order(rows, swapped, 1e-5, 1e-4)
    wrong = swapped.copy()
    wrong[0, 0, 1] += 0.5
    assert not equal_up_to_order(rows, wrong, 1e-5, 1e-4)
    # The fields of a row are never reordered; rows of one image are never matched with another's.
    assert not equal_up_to_order(rows, rows[:, :, [0, 1, 3, 2, 4]], 1e-5, 1e-4)
    two = np.concatenate([rows, rows + 10])
    assert not equal_up_to_order(two, two[::-1, [1, 0, 2]], 1e-5, 1e-4)


def test_a_fix_that_only_reorders_tied_detections_passes_and_says_so(tmp_path):
    original = save(parse(detections(AS_IS)), tmp_path / "o.onnx")
    reordered = save(parse(detections(REVERSED)), tmp_path / "r.onnx")
    unordered = tie_outputs(ir.load(original))
    elementwise = verify(original, reordered, SPECS, batches=[1, 3], pinned={}, ranges={})
    assert not elementwise.passed and "output 'dets' differs" in elementwise.message
    result = verify(original, reordered, SPECS, batches=[1, 3], pinned={}, ranges={}, unordered=unordered)
    assert result.passed, result.message
    assert result.message == "'dets' equal up to the order of tied values"
    assert {o.output for o in result.outputs if o.tie_order} == {"dets"}
    assert result.to_dict()["outputs"][0]["tie_order"] is True


def test_order_is_forgiven_only_downstream_of_the_sort_and_values_still_count(tmp_path):
    original = save(parse(detections(AS_IS)), tmp_path / "o.onnx")
    unordered = frozenset({"dets"})
    # A plain output whose value changed fails, even when the detections only reorder.
    other = save(parse(detections(REVERSED, plain="Sigmoid (scores)")), tmp_path / "p.onnx")
    result = verify(original, other, SPECS, batches=[1], pinned={}, ranges={}, unordered=unordered)
    assert not result.passed and "output 'plain' differs" in result.message
    # Detections whose boxes moved fail, order or not.
    moved = detections(REVERSED).replace("dets = Concat <axis = 2> (v3, picked)",
                                         "half = Constant <value = float {0.5}> ()\n"
                                         "    shifted = Add (picked, half)\n"
                                         "    dets = Concat <axis = 2> (v3, shifted)")
    wrong = save(parse(moved), tmp_path / "w.onnx")
    result = verify(original, wrong, SPECS, batches=[1], pinned={}, ranges={}, unordered=unordered)
    assert not result.passed and "output 'dets' differs" in result.message
