import numpy as np
import onnx
import pytest
from graphs import RESIZE_SIZES, findings, parse, run

import graphfix

from graphfix.linting import Safety


def test_sizes_from_the_input_shape_become_constant_scales():
    [finding] = findings(parse(RESIZE_SIZES), "GF201")
    assert finding.fixable and finding.safety is Safety.SAFE
    plan = finding.fix[0]
    assert list(plan.inputs[2]) == [1.0, 1.0, 2.0, 2.0]
    assert plan.inputs[3] is None


def test_sizes_following_dynamic_height_and_width_still_have_constant_scales():
    model = parse("""
    agraph (float[N, 3, H, W] x) => (float[N, 3, A, B] y) {
        s = Shape(x)
        two = Constant <value = int64[4] {1, 1, 2, 2}> ()
        sizes = Mul (s, two)
        y = Resize <mode = "nearest"> (x, , , sizes)
    }""")
    [finding] = findings(model, "GF201")
    assert list(finding.fix[0].inputs[2]) == [1.0, 1.0, 2.0, 2.0]


def test_ratio_whose_float32_scale_rounds_down_is_not_fixed():
    # 3 -> 5: float32(5/3) = 1.6666666, and floor(3 * 1.6666666) = 4: constant scales would change the size.
    model = parse(RESIZE_SIZES.replace("8, 8] x", "3, 3] x").replace("{16, 16}", "{5, 5}").replace(
        "16, 16] y", "5, 5] y"))
    [finding] = findings(model, "GF201")
    assert not finding.fixable and "no float32 scale that gives the same output size" in finding.reason


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_ratio_inexact_in_float32_takes_the_scale_a_runtime_derives_from_sizes(mode: str, tmp_path):
    # 3 -> 8 (F.interpolate(x, size=(8, 8)) after a pool): float32(8/3) = 2.6666667 gives floor(3 * s) = 8, and
    # is the scale ONNX Runtime computes from sizes, so the output size and the sampling grid are the same.
    model = parse(RESIZE_SIZES.replace("8, 8] x", "3, 3] x").replace("{16, 16}", "{8, 8}").replace(
        "16, 16] y", "8, 8] y").replace('<mode = "nearest">', f'<mode = "{mode}">'))
    [finding] = findings(model, "GF201")
    assert finding.fixable and finding.safety is Safety.SAFE
    scale = float(np.float32(8) / np.float32(3))
    assert list(finding.fix[0].inputs[2]) == [1.0, 1.0, scale, scale]
    result = graphfix.fix(model, tmp_path / "fixed.onnx")
    assert result.verification is not None and result.verification.passed
    fixed = onnx.load(str(tmp_path / "fixed.onnx"))
    assert [n.op_type for n in fixed.graph.node] == ["Resize"]
    for batch in (1, 2, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 3, 3)).astype(np.float32)
        np.testing.assert_array_equal(run(fixed, {"x": x})[0], run(model, {"x": x})[0])  # bit-identical


def test_constant_sizes_baking_the_batch_need_unsafe_fixes():
    model = parse("""
    agraph (float[N, 3, 8, 8] x) => (float[N, 3, 16, 16] y) {
        sizes = Constant <value = int64[4] {1, 3, 16, 16}> ()
        y = Resize <mode = "nearest"> (x, , , sizes)
    }""")
    [finding] = findings(model, "GF201")
    assert finding.safety is Safety.UNSAFE and "bakes in batch 1" in finding.message
    assert list(finding.fix[0].inputs[2]) == [1.0, 1.0, 2.0, 2.0]


def test_resize_by_constant_scales_is_clean():
    model = parse("""
    agraph (float[N, 3, 8, 8] x) => (float[N, 3, 16, 16] y) {
        scales = Constant <value = float[4] {1, 1, 2, 2}> ()
        y = Resize <mode = "nearest"> (x, , scales)
    }""")
    assert findings(model) == []


def test_opset_11_gets_an_empty_roi():
    model = parse(RESIZE_SIZES.replace("(x, , , sizes)", "(x, roi, scl, sizes)").replace(
        "    y = Resize", '    roi = Constant <value = float[0] {}> ()\n    scl = Constant <value = float[0] {}> ()\n'
        "    y = Resize"), opset=11)
    [finding] = findings(model, "GF201")
    assert finding.fixable and 1 not in finding.fix[0].inputs  # roi already given


def test_ratio_equal_at_every_batch_but_changing_with_a_dynamic_dim_is_not_a_constant_scale():
    """Output height fixed at 32 from a dynamic input height: 32/H is the same at batch 3, 5 and 4, and
    changes only at the probe that moves H."""
    from graphs import RESIZE_FIXED_FROM_DYNAMIC_HEIGHT

    [finding] = findings(parse(RESIZE_FIXED_FROM_DYNAMIC_HEIGHT), "GF201")
    assert not finding.fixable and finding.reason == "the ratio along axis 2 changes with the batch size"
