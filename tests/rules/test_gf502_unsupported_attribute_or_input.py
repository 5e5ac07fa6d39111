"""GF502: attribute, input and output forms a TensorRT version's importer refuses or ignores, per version."""

import numpy as np
import pytest
from graphs import findings, parse, run, save

import graphfix
from graphfix.fixing import fix

SQUEEZE = """
agraph (float[N, 1, 20, 16] x) => (float[N, 20, 16] y) {
    y = Squeeze (x)
}
"""

# A residual add hides the batch dim the axis-less Squeeze also drops at batch 1 (the seed case 11).
SQUEEZE_RESIDUAL = """
agraph (float[N, 20, 16] x) => (float[N, 20, 16] y) {
    ax = Constant <value = int64[1] {1}> ()
    u = Unsqueeze (x, ax)
    s = Squeeze (u)
    y = Add (x, s)
}
"""


@pytest.mark.parametrize(("version", "expected"), [("8.6", 1), ("10.0", 1), ("10.16", 1), ("11.2", 1), ("11.5", 0)])
def test_squeeze_without_axes_on_a_dynamic_input(version: str, expected: int):
    found = findings(parse(SQUEEZE), "GF502", trt_version=version)
    assert len(found) == expected
    if expected:
        [finding] = found
        assert finding.severity == "error" and "has no axes" in finding.message
        assert "[Squeeze/squeeze-axes-required-for-dynamic]" in finding.message
        assert finding.fixable and list(finding.fix[0].inputs[1]) == [1]


def test_squeeze_without_axes_on_a_static_input_is_fine():
    model = parse(SQUEEZE.replace("float[N, 1, 20, 16] x", "float[2, 1, 20, 16] x").replace("float[N, 20, 16] y",
                                                                                          "float[2, 20, 16] y"))
    assert not findings(model, "GF502", trt_version="8.6")


def test_fix_writes_the_squeeze_axes_and_verifies_at_batch_1(tmp_path):
    source = save(parse(SQUEEZE_RESIDUAL), tmp_path / "squeeze.onnx")
    result = fix(source, tmp_path / "fixed.onnx", trt_version="10.16", select="GF502")
    assert result.verification is not None and result.verification.passed
    assert 1 in result.verification.batches
    assert not result.remaining
    x = np.random.default_rng(0).standard_normal((1, 20, 16)).astype(np.float32)
    np.testing.assert_array_equal(run(source, {"x": x})[0], run(tmp_path / "fixed.onnx", {"x": x})[0])


REDUCE_AXES = """
agraph (float[N, 4, 6] x) => (float[N, 4] y) {
    a = Constant <value = int64[1] {1}> ()
    b = Constant <value = int64[1] {1}> ()
    ax = Add (a, b)
    y = ReduceMean <keepdims = 0> (x, ax)
}
"""


@pytest.mark.parametrize("version", ["8.6", "10.16"])
def test_reduce_axes_computed_from_constants_are_written_as_a_constant(version: str, tmp_path):
    [finding] = findings(parse(REDUCE_AXES, opset=18), "GF502", trt_version=version)
    assert "computed from constants (always [2])" in finding.message
    assert finding.fixable and list(finding.fix[0].inputs[1]) == [2]
    result = fix(save(parse(REDUCE_AXES, opset=18), tmp_path / "r.onnx"), tmp_path / "f.onnx",
                 trt_version=version, select="GF502")
    assert result.verification.passed and not result.remaining


def test_reduce_axes_read_from_the_data_are_not_fixable():
    model = parse("""
    agraph (float[N, 4, 6] x, int64[1] k) => (float[N, 4] y) {
        y = ReduceMean <keepdims = 0> (x, k)
    }""", opset=18)
    [finding] = findings(model, "GF502", trt_version="10.16")
    assert not finding.fixable and finding.severity == "error"
    assert "must be an initializer" in finding.message or "axes must be" in finding.message


PAD_WRAP = """
agraph (float[N, 4] x) => (float[N, 8] y) {
    p = Constant <value = int64[4] {0, 2, 0, 2}> ()
    y = Pad <mode = "wrap"> (x, p)
}
"""


@pytest.mark.parametrize(("version", "expected"), [("8.6", 1), ("10.0", 0), ("10.16", 0)])
def test_pad_wrap_mode(version: str, expected: int):
    found = findings(parse(PAD_WRAP, opset=19), "GF502", trt_version=version)
    assert len(found) == expected
    if expected:
        assert "mode is 'wrap' (allowed: 'constant', 'reflect', 'edge')" in found[0].message


def test_maxpool_indices_output_is_refused_everywhere():
    model = parse("""
    agraph (float[N, 3, 8, 8] x) => (float[N, 3, 4, 4] y, int64[N, 3, 4, 4] i) {
        y, i = MaxPool <kernel_shape = [2, 2], strides = [2, 2]> (x)
    }""")
    for version in ("8.6", "10.16", "11.5"):
        [finding] = findings(model, "GF502", trt_version=version)
        assert "produces output 1 (Indices)" in finding.message and "rejects" in finding.message


RESIZE_ANTIALIAS = """
agraph (float[N, 3, 8, 8] x) => (float[N, 3, 4, 4] y) {
    s = Constant <value = float[4] {1, 1, 0.5, 0.5}> ()
    y = Resize <mode = "linear", antialias = 1> (x, , s)
}
"""


def test_resize_antialias_is_silently_ignored_by_8_6_and_refused_by_10():
    [old] = findings(parse(RESIZE_ANTIALIAS, opset=18), "GF502", trt_version="8.6")
    assert "imports it but computes something else" in old.message and old.severity == "error"
    assert "[Resize/attribute-ignored/antialias]" in old.message
    [new] = findings(parse(RESIZE_ANTIALIAS, opset=18), "GF502", trt_version="10.16")
    assert "rejects it" in new.message and "[Resize/attribute-value/antialias]" in new.message


def test_resize_with_default_opset_18_attributes_is_fine():
    model = parse(RESIZE_ANTIALIAS.replace("antialias = 1", "antialias = 0, keep_aspect_ratio_policy = \"stretch\""),
                  opset=18)
    assert not findings(model, "GF502", trt_version="8.6")


def test_scatter_reduction_max_is_silent_on_8_6_only():
    model = parse("""
    agraph (float[N, 4] x, int64[N, 2] i, float[N, 2] u) => (float[N, 4] y) {
        y = ScatterElements <axis = 1, reduction = "max"> (x, i, u)
    }""", opset=18)
    [finding] = findings(model, "GF502", trt_version="8.6")
    assert "reduction is 'max'" in finding.message and "computes something else" in finding.message
    assert not findings(model, "GF502", trt_version="10.16")


def test_if_branches_of_different_ranks_are_refused():
    model = parse("""
    agraph (float[N, 1, 4] x, bool c) => (float[N, 4] y) {
        y = If (c) <then_branch = g1 () => (float[N, 4] a) { ax = Constant <value = int64[1] {1}> ()
                                                               a = Squeeze (x, ax) },
                    else_branch = g2 () => (float[N, 1, 4] b) { b = Identity (x) }>
    }""")
    [finding] = findings(model, "GF502", trt_version="10.16")
    assert finding.severity == "error" and "rank 2 in then_branch and 3 in else_branch" in finding.message


def test_undecidable_restrictions_are_information():
    model = parse("""
    agraph (float[N] x, bool c) => (float[N] y) {
        y = If (c) <then_branch = g1 () => (a) { a = Identity (x) },
                    else_branch = g2 () => (b) { b = Neg (x) }>
    }""")
    [finding] = findings(model, "GF502", trt_version="10.16")
    assert finding.severity == "info" and "could not be decided statically" in finding.message


@pytest.mark.parametrize(("version", "expected"), [("8.6", 1), ("10.16", 0)])
def test_einsum_ellipsis(version: str, expected: int):
    model = parse("""
    agraph (float[N, 3, 4] a, float[N, 4, 5] b) => (float[N, 3, 5] y) {
        y = Einsum <equation = "...ij,...jk->...ik"> (a, b)
    }""")
    assert len(findings(model, "GF502", trt_version=version)) == expected


def test_nothing_on_a_plain_conv_net():
    model = parse("""
    agraph (float[N, 3, 8, 8] x, float[4, 3, 3, 3] w) => (float[N, 4, 4, 4] y) {
        c = Conv <pads = [1, 1, 1, 1]> (x, w)
        r = Relu (c)
        y = MaxPool <kernel_shape = [2, 2], strides = [2, 2]> (r)
    }""")
    for version in ("8.6", "10.0", "10.16", "11.5"):
        report = graphfix.lint(model, trt_version=version, select="GF5")
        assert report.trt_version == version and not report.errors


def test_einsum_broadcasting_is_decided_from_the_shapes_at_every_batch():
    same = parse("""
    agraph (float[N, 3, 4] a, float[N, 4, 5] b) => (float[N, 3, 5] y) {
        y = Einsum <equation = "bij,bjk->bik"> (a, b)
    }""")
    assert not findings(same, "GF502", trt_version="8.6")  # the batch is dynamic but equal in both operands
    broadcast = parse("""
    agraph (float[N, 3, 4] a, float[1, 4, 5] b) => (float[N, 3, 5] y) {
        y = Einsum <equation = "bij,bjk->bik"> (a, b)
    }""")
    [finding] = findings(broadcast, "GF502", trt_version="8.6")
    assert finding.severity == "error" and "subscripts b have different sizes" in finding.message
