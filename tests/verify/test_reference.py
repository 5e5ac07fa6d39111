"""Verification per sample, batches where the original fails, and messages that name the model at fault."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from graphs import BAKED_RESHAPE, parse, save

from graphfix.errors import VerificationError
from graphfix.fixing import fix
from graphfix.verify import InputSpec, verify

F32 = np.dtype(np.float32)
X = [InputSpec("x", F32, (None, 16, 16))]

# The batch baked at 2 twice, as the window-reverse helper does: both Reshapes only work at batch 2.
BAKED_TWICE = """
agraph (float[N, 16, 16] x) => (float[A, B, C] y) {
    t = Constant <value = int64[2] {2, 256}> ()
    f = Reshape (x, t)
    g = Relu (f)
    u = Constant <value = int64[3] {2, 16, 16}> ()
    y = Reshape (g, u)
}
"""
# The right repair: the batch follows the input again.
REPAIRED = """
agraph (float[N, 16, 16] x) => (float[A, B] y) {
    t = Constant <value = int64[2] {-1, 256}> ()
    y = Reshape (x, t)
}
"""
# A half repair (seed 1376's kind): the rows end at the export batch 2, whatever the batch.
ROWS_END_AT_2 = """
agraph (float[N, 16, 16] x) => (float[A, B] y) {
    t = Constant <value = int64[2] {-1, 256}> ()
    f = Reshape (x, t)
    s = Constant <value = int64[1] {0}> ()
    e = Constant <value = int64[1] {2}> ()
    y = Slice (f, s, e, s)
}
"""
# Mixes the samples: every row gets the batch's first row (a model that is not sample-independent).
MIXES_SAMPLES = """
agraph (float[N, 16, 16] x) => (float[A, B] y) {
    t = Constant <value = int64[2] {2, 256}> ()
    f = Reshape (x, t)
    s = Constant <value = int64[1] {0}> ()
    e = Constant <value = int64[1] {1}> ()
    m = Slice (f, s, e, s)
    y = Add (f, m)
}
"""


def named(text: str) -> onnx.ModelProto:
    model = parse(text)
    for index, node in enumerate(model.graph.node):
        node.name = f"/{node.op_type}_{index}"
    return model


def test_a_repair_is_verified_per_sample_at_1_3_and_the_export_batch(tmp_path):
    original, repaired = save(parse(BAKED_RESHAPE), tmp_path / "o.onnx"), save(parse(REPAIRED), tmp_path / "r.onnx")
    result = verify(original, repaired, X, batches=[1, 3], pinned={}, ranges={}, export_batch=2, repaired=True)
    assert result.passed, result.message
    assert result.batches == [1, 2, 3] and {o.batch for o in result.outputs} == {1, 2, 3}
    assert result.reference == "the original model in ONNX Runtime per sample at its export batch 2"
    assert any("permuting the batch permutes its outputs" in note for note in result.notes)


def test_a_half_repair_that_passes_at_the_export_batch_is_caught_per_sample(tmp_path):
    original = save(parse(BAKED_RESHAPE), tmp_path / "o.onnx")
    wrong = save(parse(ROWS_END_AT_2), tmp_path / "w.onnx")
    at_b_only = verify(original, wrong, X, batches=[2], pinned={}, ranges={})
    assert at_b_only.passed  # the hole the per-sample reference closes: at batch 2 the two agree
    result = verify(original, wrong, X, batches=[1, 3], pinned={}, ranges={}, export_batch=2, repaired=True)
    assert not result.passed
    assert "batch 3: output y has shape (2, 256), expected (3, 256)" in result.message


def test_an_original_that_mixes_its_samples_cannot_be_a_per_sample_reference(tmp_path):
    original, repaired = save(parse(MIXES_SAMPLES), tmp_path / "o.onnx"), save(parse(REPAIRED), tmp_path / "r.onnx")
    result = verify(original, repaired, X, batches=[1, 3], pinned={}, ranges={}, export_batch=2, repaired=True)
    assert not result.passed and result.original_failed
    assert ("cannot verify per sample: the original at its export batch 2 does not treat its samples "
            "independently (output 'y' does not follow a permutation of the batch)") == result.message


def test_at_export_batch_1_there_is_nothing_to_permute(tmp_path):
    one = BAKED_RESHAPE.replace("{2, 256}", "{1, 256}")
    original, repaired = save(parse(one), tmp_path / "o.onnx"), save(parse(REPAIRED), tmp_path / "r.onnx")
    result = verify(original, repaired, X, batches=[1, 3], pinned={}, ranges={}, export_batch=1, repaired=True)
    assert result.passed and result.batches == [1, 3]
    assert any("at batch 1 there is nothing to permute" in note for note in result.notes)


def test_batches_where_the_original_fails_are_left_out_and_named(tmp_path):
    original = save(parse(BAKED_RESHAPE), tmp_path / "o.onnx")
    result = verify(original, original, X, batches=[1, 3], pinned={}, ranges={}, export_batch=2)
    assert result.passed and result.batches == [2]
    assert len(result.excluded) == 2
    assert result.excluded[0].startswith("the original fails at batch 1 at Reshape node ")
    assert "requested shape:{2,256}" in result.excluded[0]


def test_an_original_that_runs_nowhere_is_named_never_the_fixed_model(tmp_path):
    never = BAKED_RESHAPE.replace("{2, 256}", "{7, 999}")
    original = save(parse(never), tmp_path / "o.onnx")
    result = verify(original, original, X, batches=[1, 3], pinned={}, ranges={})
    assert not result.passed and result.original_failed
    assert result.message.startswith("cannot verify: the original model fails to run in ONNX Runtime at batch 1 "
                                     "at Reshape node ")
    assert "does not match" not in result.message


def test_the_export_batch_is_found_when_the_findings_do_not_give_it(tmp_path):
    original, repaired = save(named(BAKED_TWICE), tmp_path / "o.onnx"), save(parse(REPAIRED), tmp_path / "r.onnx")
    specs = [InputSpec("x", F32, (None, 16, 16))]
    result = verify(original, repaired, specs, batches=[1, 3], pinned={}, ranges={}, repaired=True)
    assert "the original runs at batch 2, taken as its export batch" in result.notes
    assert "per sample at its export batch 2" in result.reference


def test_fix_with_reshape_hooks_is_verified_per_sample_and_a_half_repair_is_refused(tmp_path):
    source = save(named(BAKED_TWICE), tmp_path / "m.onnx")
    node_names = [n.name for n in onnx.load(source).graph.node if n.op_type == "Reshape"]
    assert len(node_names) == 2
    first, second = node_names
    full = fix(source, tmp_path / "full.onnx", reshape={first: [-1, 256], second: [-1, 16, 16]})
    assert full.verification is not None and full.verification.passed
    assert full.verification.batches == [1, 2, 3] and "per sample" in full.verification.reference
    with pytest.raises(VerificationError) as error:
        fix(source, tmp_path / "half.onnx", reshape={first: [-1, 256]})
    message = str(error.value)
    assert "the fixed model fails to run in ONNX Runtime at batch 1 at Reshape node" in message
    assert f"{second!r}" in message and not (tmp_path / "half.onnx").exists()
    assert "does not match" not in message and "per sample at its export batch 2" in message


def test_fix_names_the_original_when_it_runs_nowhere(tmp_path):
    never = BAKED_TWICE.replace("{2, 16, 16}", "{7, 16, 16}")
    source = save(named(never), tmp_path / "m.onnx")
    first = next(n.name for n in onnx.load(source).graph.node if n.op_type == "Reshape")
    with pytest.raises(VerificationError) as error:
        fix(source, tmp_path / "out.onnx", reshape={first: [-1, 256]})
    assert "cannot verify: the original model fails to run in ONNX Runtime at batch 1" in str(error.value)
    assert "does not match" not in str(error.value)


def test_a_repair_of_a_model_whose_batch_stays_static_is_verified_at_that_batch(tmp_path):
    static = """
    agraph (float[2, 16, 16] x) => (float[2, 256] y) {
        t = Constant <value = int64[2] {2, 256}> ()
        y = Reshape (x, t)
    }"""
    source = save(named(static), tmp_path / "m.onnx")
    node = next(n.name for n in onnx.load(source).graph.node if n.op_type == "Reshape")
    result = fix(source, tmp_path / "out.onnx", reshape={node: [-1, 256]})
    assert result.verification is not None and result.verification.passed, result.verification
    assert result.verification.batches == [2]  # the fixed model still only takes batch 2
