import numpy as np
from graphs import SCALE_BY_SHAPE, VIEW_SIZE0, findings, parse

from graphfix.linting import BatchShape, Safety, SetInputs


def test_view_size0_chain_is_found_and_fixable_as_minus_one():
    [finding] = findings(parse(VIEW_SIZE0), "GF101")
    assert finding.fixable and finding.safety is Safety.SAFE
    assert finding.node.op_type == "Reshape"
    assert "[batch, -1]" in finding.message and "Shape(x)" in finding.message
    assert list(finding.fix[0].inputs[1]) == [-1, 256]
    assert len(finding.chain) == 4  # Shape, Gather, Unsqueeze, Concat


def test_view_size0_size1_product_becomes_concrete():
    model = parse("""
    agraph (float[N, 4, 8, 8] x) => (float[N, 4, 64] y) {
        s = Shape(x)
        i0 = Constant <value = int64 {0}> ()
        i1 = Constant <value = int64 {1}> ()
        i2 = Constant <value = int64 {2}> ()
        i3 = Constant <value = int64 {3}> ()
        b = Gather <axis = 0> (s, i0)
        c = Gather <axis = 0> (s, i1)
        h = Gather <axis = 0> (s, i2)
        w = Gather <axis = 0> (s, i3)
        hw = Mul (h, w)
        ax = Constant <value = int64[1] {0}> ()
        bu = Unsqueeze (b, ax)
        cu = Unsqueeze (c, ax)
        hwu = Unsqueeze (hw, ax)
        t = Concat <axis = 0> (bu, cu, hwu)
        y = Reshape (x, t)
    }""")
    [finding] = findings(model, "GF101")
    assert list(finding.fix[0].inputs[1]) == [-1, 4, 64]


def test_constant_target_is_not_reported():
    model = parse("""
    agraph (float[N, 4, 8, 8] x) => (float[N, 256] y) {
        t = Constant <value = int64[2] {-1, 256}> ()
        y = Reshape (x, t)
    }""")
    assert findings(model, "GF101") == []


def test_target_with_a_dynamic_non_batch_dim_copies_the_batch_with_zero():
    model = parse(VIEW_SIZE0.replace("float[N, 4, 8, 8] x", "float[N, 4, H, 8] x").replace("float[N, 256] y",
                                                                                          "float[N, M] y"))
    [finding] = findings(model, "GF101")
    assert list(finding.fix[0].inputs[1]) == [0, -1]
    assert findings(model, "GF301")


def test_target_computed_from_tensor_data_is_not_foldable():
    model = parse("""
    agraph (float[N, 256] x, int64[2] t) => (float[N, 256] y) {
        y = Reshape (x, t)
    }""")
    assert findings(model, "GF101") == []


def test_expand_that_brings_in_the_batch_gets_the_shortest_batch_chain():
    model = parse("""
    agraph (float[N, 4, 8] x) => (float[N, 5, 8] y) {
        cls = Constant <value = float[1, 1, 8] {1, 2, 3, 4, 5, 6, 7, 8}> ()
        s = Shape(x)
        i0 = Constant <value = int64[1] {0}> ()
        b = Gather <axis = 0> (s, i0)
        rest = Constant <value = int64[2] {1, 8}> ()
        shape = Concat <axis = 0> (b, rest)
        e = Expand (cls, shape)
        y = Concat <axis = 1> (e, x)
    }""")
    [finding] = findings(model, "GF101")
    [plan] = finding.fix
    assert isinstance(plan, BatchShape)
    assert plan.source.name == "x" and plan.entries == (("batch", 1), 1, 8)
    assert "needs the batch at run time" in finding.message


def test_shortest_batch_chain_is_not_reported_again():
    model = parse("""
    agraph (float[N, 4, 8] x) => (float[N, 5, 8] y) {
        cls = Constant <value = float[1, 1, 8] {1, 2, 3, 4, 5, 6, 7, 8}> ()
        b = Shape <start = 0, end = 1> (x)
        rest = Constant <value = int64[2] {1, 8}> ()
        shape = Concat <axis = 0> (b, rest)
        e = Expand (cls, shape)
        y = Concat <axis = 1> (e, x)
    }""")
    assert findings(model, "GF101") == []


def test_expand_of_a_tensor_that_has_the_batch_becomes_constant_ones():
    model = parse("""
    agraph (float[N, 1, 8] x) => (float[N, 4, 8] y) {
        s = Shape(x)
        i0 = Constant <value = int64[1] {0}> ()
        b = Gather <axis = 0> (s, i0)
        rest = Constant <value = int64[2] {4, 8}> ()
        shape = Concat <axis = 0> (b, rest)
        y = Expand (x, shape)
    }""")
    [finding] = findings(model, "GF101")
    assert list(finding.fix[0].inputs[1]) == [1, 4, 8]


def test_shape_arithmetic_used_as_data_is_foldable():
    model = parse(SCALE_BY_SHAPE)
    [finding] = findings(model, "GF101")
    assert finding.node.op_type == "Div"
    assert np.isclose(float(finding.fix[0].inputs[1]), np.sqrt(32.0))


def test_value_that_only_changes_with_the_batch_parity_is_not_a_constant():
    # x.size(0) % 2 is 1 at batch 3 and at batch 5: an even probe shows it follows the batch.
    model = parse("""
    agraph (float[N, 4] x) => (float[N, 4] y) {
        s = Shape(x)
        i0 = Constant <value = int64 {0}> ()
        b = Gather <axis = 0> (s, i0)
        two = Constant <value = int64 {2}> ()
        odd = Mod (b, two)
        f = Cast <to = 1> (odd)
        y = Add (x, f)
    }""")
    assert findings(model, "GF101") == []


def test_difference_of_two_dynamic_dims_is_not_a_constant():
    # S - T is 0 if both dynamic dims were probed with the same size.
    model = parse("""
    agraph (float[N, S, 4] x, float[N, T, 4] y) => (float[N, A, 4] z) {
        sx = Shape(x)
        sy = Shape(y)
        i1 = Constant <value = int64[1] {1}> ()
        gx = Gather <axis = 0> (sx, i1)
        gy = Gather <axis = 0> (sy, i1)
        d = Sub (gx, gy)
        zero = Constant <value = int64[1] {0}> ()
        z = Slice (x, zero, d, i1)
    }""")
    assert [f for f in findings(model, "GF101") if f.fixable] == []


def test_initializer_listed_as_input_is_not_folded():
    model = parse("""
    agraph (float[N, 4, 6] x, int64[3] t) => (float[N, A, B] y) <int64[3] t = {0, -1, 4}> {
        y = Reshape (x, t)
    }""")
    assert findings(model, "GF102") == [] and findings(model, "GF101") == []


def test_slice_end_equal_to_the_batch_is_not_to_the_end():
    # x[:, :N] keeps N of x.size(1) rows: never "to the end".
    model = parse("""
    agraph (float[N, 8, 4] x) => (float[N, A, 4] y) {
        b = Shape <start = 0, end = 1> (x)
        zero = Constant <value = int64[1] {0}> ()
        one = Constant <value = int64[1] {1}> ()
        y = Slice (x, zero, b, one)
    }""")
    assert all(not (f.fixable and isinstance(f.fix[0], SetInputs)) for f in findings(model, "GF101"))


def test_slice_end_that_is_the_batch_dim_means_to_the_end():
    from graphs import SLICE_TO_THE_END

    [finding] = findings(parse(SLICE_TO_THE_END), "GF101")
    assert finding.fixable and list(finding.fix[0].inputs[2]) == [np.iinfo(np.int64).max]


def test_slice_end_that_follows_the_batch_but_is_not_the_dim_is_not_to_the_end():
    """batch - 1 drops the last row: INT64_MAX would keep it."""
    from graphs import SLICE_BATCH_MINUS_ONE, run

    import graphfix

    model = parse(SLICE_BATCH_MINUS_ONE)
    [finding] = findings(model, "GF101")
    assert not finding.fixable and "without meaning 'to the end'" in finding.message
    assert finding.severity == "info"  # Shape -> Slice -> Sub: nothing shorter reads the batch
    result = graphfix.fix(model)
    assert result.applied == [] and result.verification is None
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert run(model, {"x": x})[0].shape == (2, 4)


# A residual block that drops a one-channel dim with squeeze() (no axes), as in ../shared/cases/11.
SQUEEZE_NO_AXES = """
agraph (float[N, 20, 16] x) => (float[N, 20, 16] y) {
    one = Constant <value = int64[1] {1}> ()
    u = Unsqueeze (x, one)
    t = Tanh (u)
    s = Squeeze (t)
    y = Add (x, s)
}"""


def test_squeeze_without_axes_on_a_dynamic_input_gets_its_axes():
    """The axes are decided at run time from the shape; with only the batch dynamic they are [1]. The residual
    Add hides that the axis-less Squeeze also drops the batch at batch 1, and verification there shows it."""
    from graphs import run

    import graphfix

    model = parse(SQUEEZE_NO_AXES)
    [finding] = findings(model, "GF101")
    assert finding.node.op_type == "Squeeze" and finding.fixable
    assert "[batch, 1, 20, 16]" in finding.message
    assert list(finding.fix[0].inputs[1]) == [1]
    result = graphfix.fix(model)
    assert result.verification is not None and result.verification.passed
    assert 1 in result.verification.batches
    [squeeze] = [n for n in result.model.graph if n.op_type == "Squeeze"]
    assert squeeze.inputs[1] is not None and list(squeeze.inputs[1].const_value.numpy()) == [1]
    import onnx_ir as ir

    proto = ir.serde.serialize_model(result.model)
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 20, 16)).astype(np.float32)
        np.testing.assert_allclose(run(proto, {"x": x})[0], run(model, {"x": x})[0], rtol=0, atol=0)
    assert findings(proto, "GF101") == []


def test_squeeze_without_axes_whose_output_shows_the_batch_is_refused_by_verification():
    """Without the residual Add the original returns [20, 16] at batch 1 and the fixed model [1, 20, 16]:
    the rewrite changes the model there, so it must not be written."""
    import graphfix
    from graphfix.errors import VerificationError

    model = parse(SQUEEZE_NO_AXES.replace("y = Add (x, s)", "y = Identity (s)"))
    [finding] = findings(model, "GF101")
    assert finding.fixable
    try:
        result = graphfix.fix(model)
    except VerificationError:
        return
    raise AssertionError(f"the rewrite was accepted: {result.verification}")


def test_squeeze_without_axes_on_a_static_input_is_not_reported():
    model = parse(SQUEEZE_NO_AXES.replace("float[N, 20, 16] x", "float[2, 20, 16] x").replace(
        "float[N, 20, 16] y", "float[2, 20, 16] y"))
    assert [f for f in findings(model, "GF101") if f.node is not None and f.node.op_type == "Squeeze"] == []
