"""Reference implementations: registration, lookup by op and by Plugin name, attributes, --custom-ops files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import pytest
from plugin_models import INFO, attribute_zoo_onnx, everything, hswish_onnx, upsample_add_onnx

from graphfix.errors import GraphfixError, UsageError
from graphfix.plugins import custom_op_names, missing_implementations
from graphfix.plugins.registry import NodeView, ReferenceError, Registry, load_custom_ops, register_op

HERE = Path(__file__).parent
REF_OPS = HERE / "ref_ops.py"


def plugin_node(domain: str = "") -> ir.Node:
    model = ir.serde.deserialize_model(hswish_onnx(domain))
    return next(n for n in model.graph if n.op_type == "Plugin")


def test_plugin_node_is_found_by_its_name_in_any_domain():
    registry = Registry()
    registry.register("HSwish", lambda x, bias: x, domain="trt.plugins")
    for domain in ("", "tensorrt_pro"):
        op = registry.lookup(plugin_node(domain))
        assert op is not None and op.op_type == "HSwish"


def test_custom_node_matches_its_domain_or_any_domain():
    model = ir.serde.deserialize_model(upsample_add_onnx("custom"))
    node = next(n for n in model.graph if n.op_type == "UpsampleAdd")
    registry = Registry()
    registry.register("UpsampleAdd", lambda *a, **k: None, domain="elsewhere")
    assert registry.lookup(node) is None  # a domain-specific registration does not leak into other domains
    registry.register("UpsampleAdd", lambda *a, **k: None, domain="custom")
    assert registry.lookup(node).domain == "custom"
    other = Registry()
    other.register("UpsampleAdd", lambda *a, **k: None)
    assert other.lookup(node).domain is None


def test_attributes_arrive_exact_and_typed_from_onnx_ir_and_from_protobuf():
    model = attribute_zoo_onnx()
    registry = Registry()
    registry.register("Everything", everything)  # asserts every value and type inside
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    for node in (model.graph.node[0], ir.serde.deserialize_model(model).graph[0]):
        total, scaled = registry.run(node, [x])
        assert np.array_equal(total, x.sum(axis=1) * 3)
        assert scaled.dtype == np.float32 and scaled.shape == (2, 4)


def test_plugin_addressing_attributes_are_not_passed():
    seen = {}

    def HSwish(x, bias, **attributes):  # noqa: N802
        seen.update(attributes)
        return x

    registry = Registry()
    registry.register("HSwish", HSwish)
    registry.run(plugin_node(), [np.zeros((1, 3, 3, 3), np.float32), np.zeros((3, 3, 3, 3), np.float32)])
    assert seen == {"info": INFO}  # `name` only addresses the plugin


def test_a_reference_gets_only_the_attributes_it_names():
    registry = Registry()
    registry.register("HSwish", lambda x, bias: x + 1)  # no info parameter: not passed, no TypeError
    [out] = registry.run(plugin_node(), [np.zeros((1, 3, 3, 3), np.float32), None])
    assert np.array_equal(out, np.ones((1, 3, 3, 3), np.float32))


def test_wrong_output_count_and_type_and_failures_name_the_node():
    node = plugin_node()
    registry = Registry()
    registry.register("HSwish", lambda x, bias: (x, x))
    with pytest.raises(ReferenceError, match=r"returned 2 output\(s\) for node '/hswish/Plugin', which has 1"):
        registry.run(node, [np.zeros(1), None])
    registry.register("HSwish", lambda x, bias: "oops")
    with pytest.raises(ReferenceError, match="returned a str"):
        registry.run(node, [np.zeros(1), None])

    def broken(x, bias):
        raise ValueError("bad alpha")

    registry.register("HSwish", broken)
    with pytest.raises(ReferenceError, match=r"failed on node '/hswish/Plugin': ValueError: bad alpha"):
        registry.run(node, [np.zeros(1), None])
    with pytest.raises(ReferenceError, match="no reference implementation for HSwish"):
        Registry().run(node, [np.zeros(1), None])


def test_register_op_checks_its_arguments_and_fills_the_default_registry():
    with pytest.raises(UsageError, match="must be callable"):
        register_op("X", "not a function", registry=Registry())  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="non-empty string"):
        register_op("", lambda x: x, registry=Registry())
    registry = Registry()
    op = register_op("HSwish", lambda x, bias: x, registry=registry)
    assert registry.lookup(plugin_node()) is op


def test_custom_ops_file_registers_the_models_ops_only():
    registry = Registry()
    ops = custom_op_names(hswish_onnx())
    assert ops == ["HSwish"]
    assert load_custom_ops(REF_OPS, ops, registry) == ["HSwish"]
    assert [key for _, key in registry.ops] == ["HSwish"]  # UpsampleAdd and helper are not ops of this model


def test_custom_ops_file_without_a_model_registers_its_public_functions_and_shape_functions():
    registry = Registry()
    registered = load_custom_ops(REF_OPS, None, registry)
    assert sorted(registered) == ["HSwish", "UpsampleAdd", "helper"]  # never the imported numpy.clip
    assert registry.ops[(None, "UpsampleAdd")].shape_fn is not None
    assert registry.ops[(None, "HSwish")].source == str(REF_OPS)


def test_custom_ops_file_errors(tmp_path: Path):
    with pytest.raises(UsageError, match="no such file"):
        load_custom_ops(tmp_path / "missing.py")
    text = tmp_path / "ops.txt"
    text.write_text("x")
    with pytest.raises(UsageError, match=r"expected a Python file \(\.py\)"):
        load_custom_ops(text)
    bad = tmp_path / "bad_ops.py"
    bad.write_text("import numpy as np\n\ndef HSwish(x):\n    return x\n\nraise RuntimeError('no GPU here')\n")
    with pytest.raises(GraphfixError, match=r"bad_ops.py: importing it failed \(line 6\): RuntimeError: no GPU here"):
        load_custom_ops(bad, ["HSwish"], Registry())


def test_missing_implementations_lists_custom_nodes_without_reference():
    model = upsample_add_onnx()
    registry = Registry()
    assert [n.op_type for n in missing_implementations(model, registry)] == ["UpsampleAdd"]
    load_custom_ops(REF_OPS, custom_op_names(model), registry)
    assert missing_implementations(model, registry) == []


def test_standard_and_ort_contrib_ops_are_not_custom():
    text = """<ir_version: 8, opset_import: ["" : 17, "com.microsoft" : 1]>
    agraph (float[N, 4] x) => (float[N, 4] y) {
        g = com.microsoft.Gelu (x)
        y = Relu (g)
    }"""
    model = onnx.parser.parse_model(text)
    assert custom_op_names(model) == []


def test_node_view_reports_plugin_name_and_label():
    view = NodeView.of(plugin_node())
    assert (view.op, view.plugin_name, view.label) == ("HSwish", "HSwish", "/hswish/Plugin")
    assert view.reference_attributes() == {"info": INFO}
