"""The seed's HSwish and UpsampleAdd exported by both torch exporters: what they write, and that graphfix runs
them (as exported and in the stock form) equal to torch at batch 1 and 8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import pytest

pytest.importorskip("torch", reason="the export tests need torch (pip install torch==2.13.0)")

import plugin_models as pm  # noqa: E402

from graphfix.plugins import Registry, custom_op_names, load_custom_ops, session_for, stock_form  # noqa: E402

HERE = Path(__file__).parent
EXPORTERS = ("legacy", "dynamo")


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    directory = tmp_path_factory.mktemp("plugin_exports")
    paths = {}
    for exporter in EXPORTERS:
        paths["hswish", exporter] = pm.export_hswish(directory / f"hswish-{exporter}.onnx", exporter)
        paths["upsample", exporter] = pm.export_upsample(directory / f"upsample-{exporter}.onnx", exporter)
    return paths


def registry_for(path: Path) -> Registry:
    registry = Registry()
    load_custom_ops(HERE / "ref_ops.py", custom_op_names(path), registry)
    return registry


def torch_run(name: str, batch: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    import torch

    if name == "hswish":
        args = pm.hswish_example_inputs(batch, seed=batch)
        module, names = pm._torch_seed(), ("input1", "input2")
    else:
        args = pm.upsample_example_inputs(batch, seed=batch)
        module, names = pm._torch_upsample(), ("x", "skip")
    with torch.no_grad():
        out = module(*args).numpy()
    return {n: a.numpy() for n, a in zip(names, args)}, out


def dims(value: onnx.ValueInfoProto) -> list[object]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_hswish_exports_the_seeds_plugin_node(exports: dict, exporter: str):
    model = onnx.load(str(exports["hswish", exporter]))
    [plugin] = [n for n in model.graph.node if n.op_type == "Plugin"]
    assert plugin.domain == ""
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in plugin.attribute}
    assert attributes == {"name": b"HSwish", "info": pm.INFO.encode()}
    bias = {t.name: t for t in model.graph.initializer}[plugin.input[1]]
    assert np.allclose(onnx.numpy_helper.to_array(bias), pm.BIAS_VALUE) and list(bias.dims) == [3, 3, 3, 3]
    assert [dims(i)[0] for i in model.graph.input] == ["batch", "batch"]


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_upsample_exports_a_custom_domain_node_with_typed_attributes(exports: dict, exporter: str):
    model = onnx.load(str(exports["upsample", exporter]))
    [node] = [n for n in model.graph.node if n.op_type == "UpsampleAdd"]
    assert node.domain == "custom" and list(node.input) == ["x", "skip"]
    attributes = {a.name: (a.type, onnx.helper.get_attribute_value(a)) for a in node.attribute}
    assert attributes == {"scale": (onnx.AttributeProto.INT, 2), "gain": (onnx.AttributeProto.FLOAT, 0.5)}


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", ["hswish", "upsample"])
def test_exports_run_through_the_reference_equal_to_torch(exports: dict, name: str, exporter: str):
    path = exports[name, exporter]
    session = session_for(path, registry_for(path))
    for batch in (1, 8):
        feeds, expected = torch_run(name, batch)
        [out] = session.run(None, feeds)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_stock_form_of_both_exports_runs_equal_to_torch(exports: dict, exporter: str, tmp_path: Path):
    model = ir.load(str(exports["hswish", exporter]))
    [plan] = stock_form(model)
    assert plan.op_type == "HSwish" and plan.kept == ("info",)
    fixed = tmp_path / "fixed.onnx"
    ir.save(model, str(fixed), external_data="fixed.onnx.data")  # dynamo exports keep weights outside
    proto = onnx.load(str(fixed))
    onnx.checker.check_model(proto, full_check=True)
    [node] = [n for n in proto.graph.node if n.op_type == "HSwish"]
    assert node.domain == "trt.plugins" and node.input[1] in {t.name for t in proto.graph.initializer}
    session = session_for(fixed, registry_for(fixed))
    for batch in (1, 8):
        feeds, expected = torch_run("hswish", batch)
        [out] = session.run(None, feeds)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
