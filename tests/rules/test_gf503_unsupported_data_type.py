"""GF503: element types a TensorRT version does not take, per version; INT64 narrowing is information."""

import pytest
from graphs import findings, parse

import graphfix

BF16 = """
agraph (float[N, 4] x) => (float[N, 4] y) {
    h = Cast <to = 16> (x)
    r = Relu (h)
    y = Cast <to = 1> (r)
}
"""


@pytest.mark.parametrize(("version", "expected"), [("8.6", True), ("10.0", False), ("11.5", False)])
def test_bfloat16_needs_10_0(version: str, expected: bool):
    found = findings(parse(BF16), "GF503", trt_version=version)
    assert bool(found) == expected
    if expected:
        messages = " | ".join(f.message for f in found)
        assert "to is BFLOAT16" in messages  # the Cast target (Cast/attribute-dtype)
        assert "'r' (Relu(r)) is BFLOAT16: TensorRT 8.6 has no BFLOAT16 tensors" in messages


@pytest.mark.parametrize("version", ["8.6", "10.16", "11.5"])
def test_double_is_narrowed_to_float_everywhere(version: str):
    model = parse("""
    agraph (float[N, 4] x) => (float[N, 4] y) {
        d = Cast <to = 11> (x)
        e = Exp (d)
        y = Cast <to = 1> (e)
    }""")
    found = findings(model, "GF503", trt_version=version)
    assert {f.node_name for f in found} == {"Cast(d)", "Exp(e)"}
    assert all("imports it as FLOAT" in f.message and f.severity == "error" for f in found)


def test_uint8_inside_the_network():
    model = parse("""
    agraph (uint8[N, 4] x) => (float[N, 4] y) {
        s = Add (x, x)
        y = Cast <to = 1> (s)
    }""")
    found = findings(model, "GF503", trt_version="10.16")
    assert len(found) == 2  # the input feeds an Add, and the Add makes UINT8
    assert "'x' (graph input) is UINT8 inside the network" in found[0].message
    assert "'s' (Add(s)) is UINT8 inside the network" in found[1].message


def test_uint8_input_cast_to_float_is_fine():
    model = parse("""
    agraph (uint8[N, 4] x) => (float[N, 4] y) {
        y = Cast <to = 1> (x)
    }""")
    assert not findings(model, "GF503", trt_version="8.6")


INT64_CONSTANT = """
agraph (int64[N, 4] x) => (int64[N, 4] y) {
    c = Constant <value = int64[1] {VALUE}> ()
    y = Add (x, c)
}
"""


def test_int64_out_of_the_int32_range_on_8_6():
    model = parse(INT64_CONSTANT.replace("VALUE", str(-(2 ** 40))))
    errors = [f for f in findings(model, "GF503", trt_version="8.6") if f.severity == "error"]
    [finding] = errors
    assert "outside the int32 range" in finding.message and "narrows INT64 to INT32" in finding.message
    assert not findings(model, "GF503", trt_version="10.0")  # INT64 is native from 10.0


def test_int64_in_range_is_information_that_never_fails(tmp_path):
    model = parse(INT64_CONSTANT.replace("VALUE", "7"))
    [finding] = findings(model, "GF503", trt_version="8.6")
    assert finding.severity == "info" and finding.node is None
    assert "1 constant with values in the int32 range" in finding.message
    assert "'x'" in finding.message  # an input whose values graphfix cannot bound
    report = graphfix.lint(model, trt_version="8.6", select="GF5")
    assert report.findings and not report.errors


def test_int64_max_slice_ends_are_clamped_harmlessly():
    model = parse("""
    agraph (float[N, 8] x) => (float[N, 7] y) {
        s = Constant <value = int64[1] {1}> ()
        e = Constant <value = int64[1] {9223372036854775807}> ()
        a = Constant <value = int64[1] {1}> ()
        y = Slice (x, s, e, a)
    }""")
    found = findings(model, "GF503", trt_version="8.6")
    assert [f.severity for f in found] == ["info"]


@pytest.mark.parametrize(("version", "expected"), [("8.6", 1), ("10.16", 1)])
def test_matmul_of_int32_is_refused(version: str, expected: int):
    model = parse("""
    agraph (int32[N, 4] a, int32[4, 2] b) => (int32[N, 2] y) {
        y = MatMul (a, b)
    }""")
    found = [f for f in findings(model, "GF503", trt_version=version) if f.severity == "error"]
    assert len(found) == expected and "input 0 (A) is INT32" in found[0].message


DOUBLE_INSIDE = """
agraph (float[N, 4] x) => (float[N, 4] y) {
    d = Cast <to = 11> (x)
    k = Constant <value = double {OFFSET}> ()
    a = Add (d, k)
    b = Sub (a, k)
    y = Cast <to = 1> (b)
}
"""


def test_double_inside_the_network_is_computed_in_float_when_nothing_changes(tmp_path):
    import onnx

    from graphfix.fixing import fix
    from graphs import save

    source = save(parse(DOUBLE_INSIDE.replace("OFFSET", "0.5")), tmp_path / "d.onnx")
    found = findings(onnx.load(str(source)), "GF503", trt_version="10.16")
    assert found and all(f.fixable for f in found)
    result = fix(source, tmp_path / "f.onnx", trt_version="10.16")
    assert result.verification.passed and not [f for f in result.remaining if f.is_error]
    fixed = onnx.load(str(tmp_path / "f.onnx"))
    assert all(a.i != 11 for n in fixed.graph.node for a in n.attribute if a.name == "to")
    assert not graphfix.lint(fixed, trt_version="10.16", select="GF5").findings


def test_double_that_matters_is_left_as_it_is(tmp_path):
    from graphfix.fixing import fix
    from graphs import save

    source = save(parse(DOUBLE_INSIDE.replace("OFFSET", "1e10")), tmp_path / "d.onnx")  # float32 loses x
    result = fix(source, tmp_path / "f.onnx", trt_version="10.16")
    remaining = [f for f in result.remaining if f.code == "GF503"]
    assert remaining and all(not f.fixable and "changes the outputs" in f.reason for f in remaining)
    assert not any(f.code == "GF503" for f in result.applied)


def test_a_double_graph_input_is_not_narrowed():
    model = parse("""
    agraph (double[N, 4] x) => (float[N, 4] y) {
        y = Cast <to = 1> (x)
    }""")
    [finding] = findings(model, "GF503", trt_version="10.16")
    assert not finding.fixable and "graph input 'x' is DOUBLE" in finding.reason
