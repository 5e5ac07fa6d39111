"""GF505: Q/DQ forms a TensorRT version refuses or reads differently, per version."""

import pytest
from graphs import findings, parse

QDQ = """
agraph (float[N, 4] x) => (float[N, 4] y) {
    s = Constant <value = float {SCALE}> ()
    z = Constant <value = ZTYPE {ZERO}> ()
    q = QuantizeLinear (x, s, z)
    y = DequantizeLinear (q, s, z)
}
"""


def _qdq(scale: str = "0.1", ztype: str = "int8", zero: str = "0") -> str:
    return QDQ.replace("SCALE", scale).replace("ZTYPE", ztype).replace("ZERO", zero)


@pytest.mark.parametrize("version", ["8.6", "10.0", "10.16", "11.5"])
def test_symmetric_int8_is_accepted_everywhere(version: str):
    assert not findings(parse(_qdq()), "GF505", trt_version=version)


@pytest.mark.parametrize("version", ["8.6", "10.16"])
def test_asymmetric_uint8_quantization(version: str):
    found = findings(parse(_qdq(ztype="uint8", zero="128")), "GF505", trt_version=version)
    zero_points = [f for f in found if "zero point" in f.message and "[128]" in f.message]
    assert len(zero_points) == 2  # the Q and the DQ
    assert all("asymmetric" in f.message and f.severity == "error" for f in zero_points)
    uint8 = [f for f in found if "UINT8" in f.message]
    if version == "8.6":  # refused by 8.6; 10.x imports a UINT8 zero point as INT8 (silent)
        assert any("rejects it" in f.message for f in uint8)
    else:
        assert any("computes something else" in f.message for f in uint8)


def test_a_negative_scale_is_refused():
    found = findings(parse(_qdq(scale="-0.1")), "GF505", trt_version="10.16")
    assert len(found) == 2 and all("values <= 0" in f.message for f in found)


@pytest.mark.parametrize(("version", "expected"), [("8.6", 2), ("10.0", 0), ("10.16", 0)])
def test_a_missing_zero_point(version: str, expected: int):
    model = parse("""
    agraph (float[N, 4] x) => (float[N, 4] y) {
        s = Constant <value = float {0.1}> ()
        q = QuantizeLinear (x, s)
        y = DequantizeLinear (q, s)
    }""")
    found = findings(model, "GF505", trt_version=version)
    assert len([f for f in found if "is not given" in f.message]) == expected
    # Without a zero point ONNX quantizes to UINT8, which no version's DequantizeLinear takes.
    assert any("DequantizeLinear" in f.message and "input 0 (x) is UINT8" in f.message for f in found)


PER_CHANNEL = """
agraph (float[N, 3, 4] x) => (float[N, 3, 4] y) {
    s = Constant <value = float[3] {0.1, 0.2, 0.3}> ()
    z = Constant <value = int8[3] {0, 0, 0}> ()
    q = QuantizeLinear AXIS (x, s, z)
    y = DequantizeLinear AXIS (q, s, z)
}
"""


@pytest.mark.parametrize(("version", "axis", "expected"), [("8.6", "", 2), ("8.6", "<axis = 1>", 0),
                                                           ("10.16", "", 0)])
def test_per_channel_without_axis_is_read_as_axis_0_by_8_6(version: str, axis: str, expected: int):
    found = findings(parse(PER_CHANNEL.replace("AXIS", axis)), "GF505", trt_version=version)
    assert len(found) == expected
    assert all("computes something else" in f.message for f in found)
    if expected:
        assert "ONNX's default is 1, the parser's 0" in found[0].message
        assert "set axis=1 explicitly" in found[0].message


def test_blocked_quantization_is_refused_by_8_6():
    model = parse("""
    agraph (float[4, 8] x) => (float[4, 8] y) {
        s = Constant <value = float[4, 2] {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}> ()
        z = Constant <value = int8[4, 2] {0, 0, 0, 0, 0, 0, 0, 0}> ()
        q = QuantizeLinear <axis = 1, block_size = 4> (x, s, z)
        y = DequantizeLinear <axis = 1, block_size = 4> (q, s, z)
    }""", opset=21)
    assert all("blocked quantization" in f.message for f in findings(model, "GF505", trt_version="8.6"))
    assert len(findings(model, "GF505", trt_version="8.6")) == 2
    assert not findings(model, "GF505", trt_version="10.16")  # one blocked dim is fine in 10.x
