from graphs import findings, parse

RUNTIME_SCALES = """
agraph (float[N, 3, 8, 8] x) => (float[N, 3, 16, 16] y) {
    s = Shape(x)
    i2 = Constant <value = int64 {2}> ()
    h = Gather <axis = 0> (s, i2)
    hf = Cast <to = 1> (h)
    two = Constant <value = float {2.0}> ()
    h2 = Mul (hf, two)
    ratio = Div (h2, hf)
    ax = Constant <value = int64[1] {0}> ()
    r = Unsqueeze (ratio, ax)
    ones = Constant <value = float[2] {1, 1}> ()
    scales = Concat <axis = 0> (ones, r, r)
    y = Resize <mode = "nearest"> (x, , scales)
}
"""


def test_scales_computed_from_shapes_become_constant():
    [finding] = findings(parse(RUNTIME_SCALES), "GF202")
    assert finding.fixable
    assert list(finding.fix[0].inputs[2]) == [1.0, 1.0, 2.0, 2.0]


def test_scales_following_the_batch_are_not_fixable():
    model = parse(RUNTIME_SCALES.replace("int64 {2}> ()\n    h = Gather", "int64 {0}> ()\n    h = Gather").replace(
        "h2 = Mul (hf, two)", "h2 = Add (hf, two)"))
    [finding] = findings(model, "GF202")
    assert not finding.fixable and "batch" in finding.reason
