"""graphfix.opset: onnx's version converter plus graphfix's adapters; every conversion is checked with
onnx.checker and compared with the original in ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import onnx.parser
import onnx_ir as ir
import pytest
from graphs import run

from graphfix.analyse import analyse
from graphfix.analyse.opset import OpsetConversionError, conversion_blocker
from graphfix.fixing.opset import convert_opset
from graphfix.ir import load


def _model(text: str, opset: int) -> onnx.ModelProto:
    model = onnx.parser.parse_model(f'<ir_version: 9, opset_import: ["" : {opset}]>\n' + text)
    onnx.checker.check_model(model, full_check=True)
    return model


def _convert(model: onnx.ModelProto, target: int = 17) -> onnx.ModelProto:
    loaded = load(model)
    converted = convert_opset(loaded.model, target, analysis=analyse(loaded))
    proto = ir.serde.serialize_model(converted)
    onnx.checker.check_model(proto, full_check=True)
    assert {o.domain: o.version for o in proto.opset_import}[""] == target
    return proto


def _same(original: onnx.ModelProto, converted: onnx.ModelProto, **feeds: np.ndarray) -> None:
    for a, b in zip(run(original, feeds), run(converted, feeds), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def _x(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def _ops(model: onnx.ModelProto) -> list[str]:
    return [node.op_type for node in model.graph.node]


def _attrs(model: onnx.ModelProto, op: str) -> dict[str, object]:
    node = next(n for n in model.graph.node if n.op_type == op)
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


REDUCE = """
agraph (float[N, 4, 6] x) => (float[N, 4] y) {
    ax = Constant <value = int64[1] {2}> ()
    y = ReduceMean <keepdims = 0, noop_with_empty_axes = 0> (x, ax)
}
"""


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceMax", "ReduceL2", "ReduceLogSumExp", "ReduceProd"])
def test_reduce_18_axes_input_becomes_the_attribute(op: str):
    original = _model(REDUCE.replace("ReduceMean", op), 18)
    converted = _convert(original)
    assert _attrs(converted, op) == {"keepdims": 0, "axes": [2]}  # no noop_with_empty_axes left behind
    assert len(next(n for n in converted.graph.node if n.op_type == op).input) == 1
    _same(original, converted, x=_x(3, 4, 6))


def test_reduce_20_to_17():
    original = _model(REDUCE.replace("ReduceMean", "ReduceMax"), 20)
    _same(original, _convert(original), x=_x(2, 4, 6))


def test_reduce_without_axes_reduces_everything():
    original = _model("""
    agraph (float[N, 4, 6] x) => (float[1, 1, 1] y) {
        y = ReduceL2 (x)
    }""", 18)
    converted = _convert(original)
    assert "axes" not in _attrs(converted, "ReduceL2")
    _same(original, converted, x=_x(2, 4, 6))


@pytest.mark.parametrize(("op", "written"), [("ReduceMean", "Identity"), ("ReduceSumSquare", "Mul"),
                                              ("ReduceL1", "Abs"), ("ReduceL2", "Abs"), ("ReduceLogSum", "Log"),
                                              ("ReduceLogSumExp", "Identity")])
def test_reduce_noop_with_empty_axes_becomes_its_elementwise_part(op: str, written: str):
    original = _model(f"""
    agraph (float[N, 4] x) => (float[N, 4] y) {{
        ax = Constant <value = int64[0] {{}}> ()
        y = {op} <noop_with_empty_axes = 1> (x, ax)
    }}""", 18)
    converted = _convert(original)
    assert _ops(converted) == [written]
    _same(original, converted, x=np.abs(_x(3, 4)) + 0.1)


def test_reduce_with_runtime_axes_is_refused_naming_the_node():
    model = _model("""
    agraph (float[N, 4] x, int64[1] a) => (float[N] y) {
        y = ReduceMean <keepdims = 0> (x, a)
    }""", 18)
    with pytest.raises(OpsetConversionError, match=r"'ReduceMean\(y\)' \(ReduceMean-18\).*computed at run time"):
        _convert(model)


@pytest.mark.parametrize(("channels", "sizes"), [(8, None), (7, [3, 3, 1])])
def test_split_18_num_outputs(channels: int, sizes: list[int] | None):
    original = _model(f"""
    agraph (float[N, {channels}, 4] x) => (float[N, a, 4] p, float[N, b, 4] q, float[N, c, 4] r) {{
        p, q, r = Split <axis = 1, num_outputs = 3> (x)
    }}""".replace("p, q, r = Split <axis = 1, num_outputs = 3>", "p, q, r = Split <axis = 1, num_outputs = 3>"), 18) \
        if channels == 7 else _model("""
    agraph (float[N, 8, 4] x) => (float[N, 4, 4] p, float[N, 4, 4] q) {
        p, q = Split <axis = 1, num_outputs = 2> (x)
    }""", 18)
    converted = _convert(original)
    assert "num_outputs" not in _attrs(converted, "Split")
    split = next(n for n in converted.graph.node if n.op_type == "Split")
    if sizes is None:
        assert len(split.input) == 1  # an even split needs no sizes
    else:
        init = {i.name: onnx.numpy_helper.to_array(i) for i in converted.graph.initializer}
        assert list(init[split.input[1]]) == sizes
    _same(original, converted, x=_x(2, channels, 4))


def test_split_18_on_a_dynamic_dim_is_refused():
    model = _model("""
    agraph (float[N, 4] x) => (float[M, 4] p, float[K, 4] q) {
        p, q = Split <axis = 0, num_outputs = 2> (x)
    }""", 18)
    assert "that dim's size is not static" in conversion_blocker(load(model).model, 17)


def test_pad_18_axes_become_full_rank_pads():
    original = _model("""
    agraph (float[N, 3, 4, 5] x) => (float[N, 3, 6, 9] y) {
        p = Constant <value = int64[4] {1, 2, 1, 2}> ()
        ax = Constant <value = int64[2] {2, -1}> ()
        v = Constant <value = float {0.5}> ()
        y = Pad <mode = "constant"> (x, p, v, ax)
    }""", 18)
    converted = _convert(original)
    pad = next(n for n in converted.graph.node if n.op_type == "Pad")
    assert len(pad.input) == 3
    init = {i.name: onnx.numpy_helper.to_array(i) for i in converted.graph.initializer}
    assert list(init[pad.input[1]]) == [0, 0, 1, 2, 0, 0, 1, 2]
    _same(original, converted, x=_x(2, 3, 4, 5))


def test_pad_wrap_is_refused_below_19():
    model = _model("""
    agraph (float[N, 4] x) => (float[N, 6] y) {
        p = Constant <value = int64[4] {0, 1, 0, 1}> ()
        y = Pad <mode = "wrap"> (x, p)
    }""", 19)
    with pytest.raises(OpsetConversionError, match="'wrap' exists from opset 19"):
        _convert(model)


def test_resize_18_drops_default_attributes_and_expands_axes():
    original = _model("""
    agraph (float[N, 3, 4, 4] x) => (float[N, 3, 8, 8] y) {
        s = Constant <value = float[2] {2, 2}> ()
        y = Resize <mode = "linear", antialias = 0, keep_aspect_ratio_policy = "stretch", axes = [2, 3]> (x, , s)
    }""", 18)
    converted = _convert(original)
    assert set(_attrs(converted, "Resize")) == {"mode"}
    resize = next(n for n in converted.graph.node if n.op_type == "Resize")
    init = {i.name: onnx.numpy_helper.to_array(i) for i in converted.graph.initializer}
    assert list(init[resize.input[2]]) == [1, 1, 2, 2]
    _same(original, converted, x=_x(2, 3, 4, 4))


def test_resize_antialias_is_refused():
    model = _model("""
    agraph (float[N, 3, 8, 8] x) => (float[N, 3, 4, 4] y) {
        s = Constant <value = float[4] {1, 1, 0.5, 0.5}> ()
        y = Resize <mode = "linear", antialias = 1> (x, , s)
    }""", 18)
    with pytest.raises(OpsetConversionError, match="antialias=1"):
        _convert(model)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_20_is_written_with_older_operators(approximate: str):
    original = _model(f"""
    agraph (float[N, 16] x) => (float[N, 16] y) {{
        y = Gelu <approximate = "{approximate}"> (x)
    }}""", 20)
    converted = _convert(original)
    assert "Gelu" not in _ops(converted)
    assert ("Erf" in _ops(converted)) == (approximate == "none")
    assert converted.graph.output[0].name == "y"
    _same(original, converted, x=_x(4, 16) * 3)


def test_mish_18_is_written_with_older_operators():
    original = _model("""
    agraph (float[N, 16] x) => (float[N, 16] y) {
        y = Mish (x)
    }""", 18)
    converted = _convert(original)
    assert _ops(converted) == ["Softplus", "Tanh", "Mul"]
    _same(original, converted, x=_x(4, 16) * 3)


def test_constant_of_shape_20_is_kept():
    original = _model("""
    agraph (float[N, 4] x) => (float[N, 4] y) {
        s = Shape (x)
        z = ConstantOfShape <value = float[1] {1.5}> (s)
        y = Add (x, z)
    }""", 20)
    _same(original, _convert(original), x=_x(3, 4))


def test_a_node_inside_an_if_branch_reading_an_outer_constant():
    # onnx's converter alone fails here ("No initializer or constant input to node found").
    original = _model("""
    agraph (float[N, 4, 6] x, bool c) => (float[N, 6] y) {
        ax = Constant <value = int64[1] {1}> ()
        y = If (c) <then_branch = g1 () => (float[N, 6] a) { a = ReduceMean <keepdims = 0> (x, ax) },
                    else_branch = g2 () => (float[N, 6] b) { b = ReduceMax <keepdims = 0> (x, ax) }>
    }""", 18)
    converted = _convert(original)
    for flag in (True, False):
        _same(original, converted, x=_x(2, 4, 6), c=np.array(flag))


def test_an_operator_that_does_not_exist_in_the_target_is_refused_naming_the_node():
    model = _model("""
    agraph (int32[N, 4] a, int32[N, 4] b) => (int32[N, 4] y) {
        y = BitwiseAnd (a, b)
    }""", 18)
    with pytest.raises(OpsetConversionError, match=r"'BitwiseAnd\(y\)' \(BitwiseAnd-18\): BitwiseAnd does not exist"):
        _convert(model)


def test_the_input_model_is_not_changed():
    original = _model(REDUCE, 18)
    loaded = load(original)
    before = ir.serde.serialize_model(loaded.model).SerializeToString()
    convert_opset(loaded.model, 17)
    assert ir.serde.serialize_model(loaded.model).SerializeToString() == before
