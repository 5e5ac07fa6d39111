"""The verification policy: batches, tolerances, and messages that never blame the fixed model wrongly."""

from __future__ import annotations

import numpy as np
import onnx
from graphs import VIEW_SIZE0, parse

from graphfix.verify import InputSpec, verification_batches, verify

F32 = np.dtype(np.float32)


def test_batches_follow_the_original():
    dynamic = [InputSpec("x", F32, (None, 4))]
    static = [InputSpec("x", F32, (2, 4))]
    assert verification_batches(dynamic, {}, set()) == [1, 3]
    assert verification_batches(dynamic, {"x": [5, 4]}, set()) == [3, 5]
    assert verification_batches(static, {}, set()) == [2]
    # A baked batch: its export batch is tried too (batches where the original fails are left out later).
    assert verification_batches(dynamic, {}, {2}) == [1, 2, 3]


def test_a_verification_keeps_its_json_fields_and_says_which_model_failed(tmp_path):
    original = tmp_path / "original.onnx"
    onnx.save(parse(VIEW_SIZE0), original)
    same = verify(original, original, [InputSpec("x", F32, (None, 4, 8, 8))], batches=[1, 3], pinned={}, ranges={})
    assert same.passed and set(same.to_dict()) == {"passed", "batches", "reference", "excluded", "notes", "message",
                                                    "outputs"}
    assert set(same.to_dict()["outputs"][0]) == {"output", "batch", "max_abs", "max_rel", "passed", "tie_order"}
    assert same.to_dict()["reference"] == "the original model in ONNX Runtime"
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"junk")
    failed = verify(broken, original, [InputSpec("x", F32, (None, 4, 8, 8))], batches=[1], pinned={}, ranges={})
    assert not failed.passed and "cannot load the original model" in failed.message
    assert failed.parameters == ("verify=False",) and "pass verify=False" in failed.message
