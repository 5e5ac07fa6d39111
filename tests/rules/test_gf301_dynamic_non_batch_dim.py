from graphs import findings, parse

from graphfix.linting import Safety

DYNAMIC_HW = """
agraph (float[N, 3, H, W] x) => (float[N, 3, H, W] y) {
    y = Relu (x)
}
"""


def test_dynamic_height_and_width_are_reported_and_not_guessed():
    found = findings(parse(DYNAMIC_HW), "GF301")
    inputs = [f for f in found if "input 'x'" in f.message]
    assert len(inputs) == 2 and not any(f.fixable for f in inputs)
    assert "--input-shape" in inputs[0].message


def test_user_shape_makes_the_pin_fixable_and_keeps_the_batch():
    found = findings(parse(DYNAMIC_HW), "GF301", input_shapes={"x": [1, 3, 32, 32]})
    [pin] = [f for f in found if f.fixable and "input" in f.message]
    assert pin.safety is Safety.NEEDS_SHAPE
    assert pin.fix[0].dims == ("N", 3, 32, 32)


def test_output_dim_left_symbolic_but_constant_is_fixable():
    model = parse("""
    agraph (float[N, 4, 8, 8] x) => (float[N, F] y) {
        t = Constant <value = int64[2] {-1, 256}> ()
        y = Reshape (x, t)
    }""")
    [finding] = findings(model, "GF301")
    assert finding.fixable and finding.fix[0].dims == ("N", 256)
    # Information (issue 8 item 5): the model follows the rules; lint exits 0, fix still writes 256.
    assert finding.severity == "info" and not finding.is_error
    assert finding.to_dict()["severity"] == "info"


def test_constant_output_dim_is_information_for_the_cli(tmp_path, capsys):
    import json

    import onnx

    from graphfix.cli import main

    path = tmp_path / "m.onnx"
    onnx.save(parse("""
    agraph (float[N, 4, 8, 8] x) => (float[N, F] y) {
        t = Constant <value = int64[2] {-1, 256}> ()
        y = Reshape (x, t)
    }"""), path)
    assert main(["lint", str(path), "--format", "json"]) == 0
    [finding] = json.loads(capsys.readouterr().out)["files"][0]["findings"]
    assert finding["code"] == "GF301" and finding["severity"] == "info"
    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(path), "-o", str(fixed)]) == 0
    assert onnx.load(str(fixed)).graph.output[0].type.tensor_type.shape.dim[1].dim_value == 256
    # A dynamic input dim still asks for a change.
    onnx.save(parse(DYNAMIC_HW), path)
    assert main(["lint", str(path)]) == 1


def test_only_a_dynamic_batch_is_clean():
    assert findings(parse(DYNAMIC_HW.replace("H, W", "8, 8")), "GF301") == []


def test_unnamed_dims_stay_unnamed():
    model = parse("""
    agraph (float[N, 4, 8, 8] x) => (float[N, F] y) {
        t = Constant <value = int64[2] {-1, 256}> ()
        y = Reshape (x, t)
    }""")
    model.graph.output[0].type.tensor_type.shape.dim[0].ClearField("dim_param")
    [finding] = findings(model, "GF301")
    assert finding.fix[0].dims == (None, 256)


# A sequence-first output (CRNN, seq-first RNNs and attention): the batch in dim 1.
SEQUENCE_FIRST = """
agraph (float[N, 4, 8] x) => (float[4, M, 8] y, float[4, K] z) {
    y = Transpose <perm = [1, 0, 2]> (x)
    t = Constant <value = int64[2] {4, -1}> ()
    z = Reshape (y, t)
}"""


def test_an_output_dim_that_is_the_batch_is_information_named_like_the_batch(tmp_path):
    import numpy as np
    import onnx
    from graphs import run

    from graphfix.cli import main

    found = findings(parse(SEQUENCE_FIRST), "GF301")
    assert len(found) == 2 and all(f.severity == "info" and "follows the batch" in f.message for f in found)
    [named] = [f for f in found if f.fixable]  # M is the batch; K is 8 * batch, left as it is
    assert "output 'y' dim 1" in named.message and named.fix[0].dims == (4, "N", 8)
    path = tmp_path / "m.onnx"
    onnx.save(parse(SEQUENCE_FIRST), path)
    assert main(["lint", str(path)]) == 0
    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(path), "-o", str(fixed)]) == 0
    assert onnx.load(str(fixed)).graph.output[0].type.tensor_type.shape.dim[1].dim_param == "N"
    x = np.random.default_rng(0).standard_normal((3, 4, 8)).astype(np.float32)
    for got, expected in zip(run(fixed, {"x": x}), run(path, {"x": x})):
        np.testing.assert_array_equal(got, expected)
