"""GF504: the model's opset against each TensorRT version's parser range; the fix converts it (verified)."""

import numpy as np
import onnx
import pytest
from graphs import findings, parse, run, save

import graphfix
from graphfix.cli import main
from graphfix.fixing import fix

MLP = """
agraph (float[N, 8] x) => (float[N, 8] y) {
    g = Gelu (x)
    ax = Constant <value = int64[1] {1}> ()
    m = ReduceMean <keepdims = 1> (g, ax)
    c = Sub (g, m)
    a, b, d = Split <axis = 1, num_outputs = 3> (c)
    e = Relu (a)
    y = Concat <axis = 1> (e, b, d)
}
"""


@pytest.mark.parametrize(("opset", "version", "expected"), [
    (20, "8.6", True), (17, "8.6", False), (20, "10.0", False), (21, "10.0", True), (21, "10.16", False),
    (24, "10.16", False), (24, "10.14", True), (24, "11", False)])
def test_opset_against_each_version(opset: int, version: str, expected: bool):
    model = parse("agraph (float[N, 8] x) => (float[N, 8] y) { y = Relu (x) }", opset=opset)
    found = findings(model, "GF504", trt_version=version)
    assert bool(found) == expected
    if expected:
        [finding] = found
        assert f"imports ONNX opset {opset}" in finding.message and f"TensorRT {version}'s parser" in finding.message
        assert finding.fixable and finding.severity == "error"


def test_fix_converts_to_the_highest_opset_the_target_parses(tmp_path):
    source = save(parse(MLP, opset=20), tmp_path / "mlp.onnx")
    [finding] = findings(onnx.load(str(source)), "GF504", trt_version="8.6")
    assert "converts it to opset 17" in finding.message
    result = fix(source, tmp_path / "fixed.onnx", trt_version="8.6")
    assert result.verification is not None and result.verification.passed
    fixed = onnx.load(str(tmp_path / "fixed.onnx"))
    assert {o.domain: o.version for o in fixed.opset_import} == {"": 17}
    assert "Gelu" not in {n.op_type for n in fixed.graph.node}
    assert not graphfix.lint(fixed, trt_version="8.6", select="GF5").errors
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_allclose(run(tmp_path / "fixed.onnx", {"x": x})[0], run(source, {"x": x})[0], rtol=1e-5,
                               atol=1e-6)


def test_a_model_that_cannot_be_converted_names_the_node(tmp_path):
    model = parse("""
    agraph (int32[N, 4] a, int32[N, 4] b) => (int32[N, 4] y) {
        y = BitwiseAnd (a, b)
    }""", opset=18)
    [finding] = findings(model, "GF504", trt_version="8.6")
    assert not finding.fixable and "BitwiseAnd(y)" in finding.reason
    assert "re-export with opset_version=17" in finding.message


def test_the_cli_converts_for_8_6(tmp_path, capsys):
    source = save(parse(MLP, opset=20), tmp_path / "mlp.onnx")
    assert main(["lint", str(source), "--trt-version", "8.6", "--select", "GF5"]) == 1
    assert main(["fix", str(source), "-o", str(tmp_path / "out.onnx"), "--trt-version", "8.6"]) == 0
    out = capsys.readouterr().out
    assert "fixed GF504" in out and "opset 20 -> 17" in out and "verification PASSED" in out
    assert main(["lint", str(tmp_path / "out.onnx"), "--trt-version", "8.6", "--select", "GF5"]) == 0


def test_an_opset_below_the_range_is_converted_up(tmp_path):
    source = save(parse("agraph (float[N, 8] x) => (float[N, 8] y) { y = Relu (x) }", opset=8), tmp_path / "old.onnx")
    [finding] = findings(onnx.load(str(source)), "GF504", trt_version="10.16")
    assert "below the opsets" in finding.message and finding.fixable
    result = fix(source, tmp_path / "new.onnx", trt_version="10.16")
    assert result.verification.passed
    assert {o.domain: o.version for o in onnx.load(str(tmp_path / "new.onnx")).opset_import} == {"": 9}
