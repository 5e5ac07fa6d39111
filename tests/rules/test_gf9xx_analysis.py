import numpy as np
import onnx
import onnx.parser
from graphs import VIEW_SIZE0, findings, parse


def test_nonzero_is_a_data_dependent_shape():
    model = parse("""
    agraph (float[N, 4] x) => (int64[2, K] y) {
        y = NonZero (x)
    }""")
    [finding] = findings(model, "GF901")
    assert finding.node.op_type == "NonZero" and not finding.fixable


def test_reshape_by_data_is_data_dependent():
    model = parse("""
    agraph (float[N, 256] x, int64[2] t) => (float[A, B] y) {
        y = Reshape (x, t)
    }""")
    [finding] = findings(model, "GF901")
    assert "'t' depends on tensor values" in finding.message


def test_custom_op_without_reference_is_left_to_gf402():
    text = """<ir_version: 8, opset_import: ["" : 17, "custom" : 1]>
    agraph (float[N, 4] x) => (float[N, 4] y) {
        h = custom.HSwish (x)
        y = Relu (h)
    }"""
    model = onnx.parser.parse_model(text)
    assert findings(model, "GF902") == []  # GF402 says the same, with both ways out
    [finding] = findings(model, "GF402")
    assert finding.message.startswith("custom::HSwish 'HSwish(h)' has no reference implementation")


def test_a_custom_op_with_a_reference_is_seen_through():
    from graphfix.plugins import Registry, using

    text = """<ir_version: 8, opset_import: ["" : 17, "custom" : 1]>
    agraph (float[N, 4] x) => (float[N, 8] y) {
        h = custom.Twice (x)
        s = Shape (h)
        y = Reshape (h, s)
    }"""
    model = onnx.parser.parse_model(text)
    registry = Registry()
    registry.register("Twice", lambda x: np.concatenate([x, x], axis=1))
    with using(registry):
        assert [f.code for f in findings(model, ignore="GF5")] == ["GF101"]  # the Shape chain after it is known
    assert sorted(f.code for f in findings(model, ignore="GF5")) == ["GF402"]


def test_input_without_shape_is_reported():
    model = onnx.parser.parse_model("""<ir_version: 8, opset_import: ["" : 17]>
    agraph (float x) => (float y) {
        y = Relu (x)
    }""")
    model.graph.input[0].type.tensor_type.ClearField("shape")
    model.graph.output[0].type.tensor_type.ClearField("shape")
    [finding] = findings(model, "GF902")
    assert "no declared shape" in finding.message


def test_local_function_is_walked_not_reported():
    text = """<ir_version: 8, opset_import: ["" : 17, "local" : 1]>
    agraph (float[N, 4, 8] x) => (float[N, 32] y) {
        h = local.Twice (x)
        s = Shape(h)
        i0 = Constant <value = int64[1] {0}> ()
        b = Gather <axis = 0> (s, i0)
        m1 = Constant <value = int64[1] {-1}> ()
        t = Concat <axis = 0> (b, m1)
        y = Reshape (h, t)
    }
    <domain: "local", opset_import: ["" : 17]>
    Twice (a) => (b) {
        b = Add (a, a)
    }"""
    model = onnx.parser.parse_model(text)
    assert findings(model, "GF902") == []
    [finding] = findings(model, "GF101")
    assert list(finding.fix[0].inputs[1]) == [-1, 32]


def test_a_shape_from_initializers_listed_as_inputs_says_where_it_comes_from():
    """torch's keep_initializers_as_inputs=True lists constants as graph inputs: defaults a caller may
    replace (IR >= 4), so the Reshape target is data to graphfix. GF901 names them and the export option."""
    import onnx.helper as oh
    import onnx.numpy_helper

    model = parse(VIEW_SIZE0)
    # m1 becomes an initializer that is also a graph input, as that exporter option writes it.
    model.graph.node.remove(next(n for n in model.graph.node if n.output[0] == "m1"))
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.array([-1], np.int64), "m1"))
    model.graph.input.append(oh.make_tensor_value_info("m1", onnx.TensorProto.INT64, [1]))
    [finding] = findings(model, "GF901")
    assert finding.message.endswith("(it comes from 'm1': initializers also listed as graph inputs, defaults a "
                                    "caller may replace; export with keep_initializers_as_inputs=False to make "
                                    "them constants)")
    del model.graph.input[1]  # a plain initializer: a constant, the view is folded (GF101), no GF901
    assert findings(model, "GF901") == [] and len(findings(model, "GF101")) == 1
