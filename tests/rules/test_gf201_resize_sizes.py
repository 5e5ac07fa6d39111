from graphs import RESIZE_SIZES, findings, parse

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


def test_ratio_that_is_not_exact_in_float32_is_not_fixed():
    model = parse(RESIZE_SIZES.replace("8, 8] x", "9, 9] x"))
    [finding] = findings(model, "GF201")
    assert not finding.fixable and "not exact" in finding.reason


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
