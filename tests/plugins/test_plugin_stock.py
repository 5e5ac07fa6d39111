"""GF401's fix: tensorRT_Pro's Plugin(name=, info=) becomes the stock TensorRT plugin form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import pytest
from plugin_models import INFO, hswish, hswish_onnx, save

from graphfix.plugins import Registry, session_for
from graphfix.plugins.stock import (
    STOCK_DOMAIN,
    apply_stock_form,
    collision_warning,
    plan_stock_form,
    set_plugin_namespace,
    stock_form,
)


def registry() -> Registry:
    reg = Registry()
    reg.register("HSwish", lambda x, bias, info: hswish(x))
    return reg


@pytest.mark.parametrize("domain", ["", "tensorrt_pro"])
def test_plugin_node_becomes_the_stock_form(domain: str):
    model = ir.serde.deserialize_model(hswish_onnx(domain))
    node = next(n for n in model.graph if n.op_type == "Plugin")
    inputs = [v.name for v in node.inputs]
    outputs = [v.name for v in node.outputs]
    [plan] = stock_form(model)
    assert plan.warning is None
    assert (node.op_type, node.domain, node.name) == ("HSwish", STOCK_DOMAIN, "/hswish/Plugin")
    assert {k: a.value for k, a in node.attributes.items()} == {
        "info": INFO, "plugin_version": "1", "plugin_namespace": ""}
    assert [v.name for v in node.inputs] == inputs == ["input1", "hswish.bias"]
    assert node.inputs[1].const_value is not None  # the bias stays an initializer input
    assert [v.name for v in node.outputs] == outputs
    assert model.opset_imports[STOCK_DOMAIN] == 1
    proto = ir.to_proto(model)
    onnx.checker.check_model(proto, full_check=True)  # the default-domain Plugin fails this


def test_the_original_fails_the_checker():
    with pytest.raises(onnx.checker.ValidationError, match="Plugin"):
        onnx.checker.check_model(hswish_onnx(), full_check=True)


def test_stock_form_computes_what_the_original_computes(tmp_path: Path):
    original = save(hswish_onnx(), tmp_path / "seed.onnx")
    model = ir.load(str(original))
    stock_form(model)
    fixed = tmp_path / "fixed.onnx"
    ir.save(model, str(fixed))
    rng = np.random.default_rng(0)
    for batch in (1, 8):
        feeds = {"input1": (rng.standard_normal((batch, 3, 3, 3)) * 3).astype(np.float32),
                 "input2": rng.standard_normal((batch, 3, 3, 3)).astype(np.float32)}
        [a] = session_for(original, registry()).run(None, feeds)
        [b] = session_for(fixed, registry()).run(None, feeds)
        np.testing.assert_array_equal(a, b)


def test_name_colliding_with_an_onnx_operator_is_warned():
    model = ir.serde.deserialize_model(hswish_onnx())
    node = next(n for n in model.graph if n.op_type == "Plugin")
    node.attributes["name"] = ir.AttrString("name", "HardSwish")
    plan = plan_stock_form(node)
    assert plan.warning is not None and "built-in HardSwish importer" in plan.warning
    assert "warning:" in plan.describe()
    assert collision_warning("HSwish") is None


def test_plan_is_data_until_applied_and_keeps_hand_set_attributes():
    model = ir.serde.deserialize_model(hswish_onnx())
    node = next(n for n in model.graph if n.op_type == "Plugin")
    node.attributes["plugin_version"] = ir.AttrString("plugin_version", "2")
    plan = plan_stock_form(node, namespace="graphfix")
    assert node.op_type == "Plugin"  # planning does not touch the model
    assert "Plugin(name='HSwish') := trt.plugins::HSwish" in plan.describe()
    apply_stock_form(model, plan)
    assert node.attributes["plugin_version"].value == "2" and node.attributes["plugin_namespace"].value == "graphfix"


def test_only_plugin_nodes_with_a_name_are_planned():
    model = ir.serde.deserialize_model(hswish_onnx())
    relu = next(n for n in model.graph if n.op_type == "Relu")
    with pytest.raises(ValueError, match="not a Plugin node"):
        plan_stock_form(relu)


def test_set_plugin_namespace_for_a_python_plugin():
    model = ir.serde.deserialize_model(hswish_onnx())
    stock_form(model)
    assert set_plugin_namespace(model, "HSwish", "graphfix") == 1
    node = next(n for n in model.graph if n.op_type == "HSwish")
    assert node.attributes["plugin_namespace"].value == "graphfix"
    assert set_plugin_namespace(model, "HSwish", "graphfix") == 0
