"""The export side: both torch exporters write the stock TensorRT plugin form directly, batch dynamic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

pytest.importorskip("torch", reason="the export tests need torch (pip install torch==2.13.0)")

import plugin_models as pm  # noqa: E402
import torch  # noqa: E402

from graphfix.plugins import Registry, load_custom_ops, session_for  # noqa: E402
from graphfix.plugins.export import CustomOpExport, legacy_symbolics, symbolic, translation_table  # noqa: E402

HERE = Path(__file__).parent


def registry() -> Registry:
    reg = Registry()
    load_custom_ops(HERE / "ref_ops.py", None, reg)
    return reg


def attributes(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def stock_node(path: Path, op_type: str) -> onnx.NodeProto:
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    [node] = [n for n in model.graph.node if n.op_type == op_type]
    assert node.domain == "trt.plugins"
    assert any(o.domain == "trt.plugins" for o in model.opset_import)
    assert [i.type.tensor_type.shape.dim[0].dim_param for i in model.graph.input] == ["batch"] * len(model.graph.input)
    return node


def check_runs(path: Path, module: torch.nn.Module, make_inputs, names: tuple[str, ...]) -> None:  # noqa: ANN001
    session = session_for(path, registry())
    for batch in (1, 8):
        args = make_inputs(batch, seed=batch)
        with torch.no_grad():
            expected = module(*args).numpy()
        [out] = session.run(None, {n: a.numpy() for n, a in zip(names, args)})
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def seed_module_with_stock_symbolic() -> torch.nn.Module:
    """The seed's code with one change: its ``symbolic`` calls graphfix's helper."""
    import torch.nn.functional as F

    class HSwishImplementation(torch.autograd.Function):
        @staticmethod
        def symbolic(g, input, bias):  # noqa: A002, ANN001, ANN205
            return symbolic(g, "HSwish", input, bias, info=pm.INFO)

        @staticmethod
        def forward(ctx, i, bias):  # noqa: ANN001, ANN205
            return i * F.relu6(i + 3) / 6

    class FooModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bias = torch.nn.Parameter(torch.full((3, 3, 3, 3), pm.BIAS_VALUE))

        def forward(self, input1, input2):  # noqa: ANN001, ANN201
            return F.relu(input2 * HSwishImplementation.apply(input1, self.bias))

    return FooModel().eval()


def test_legacy_symbolic_helper_writes_the_stock_form(tmp_path: Path):
    from graphfix.export import export

    module = seed_module_with_stock_symbolic()
    path = export(module, pm.hswish_example_inputs(), tmp_path / "seed.onnx", exporter="legacy", opset=17)
    node = stock_node(path, "HSwish")
    assert attributes(node) == {"info": pm.INFO.encode(), "plugin_version": b"1", "plugin_namespace": b""}
    assert json.loads(attributes(node)["info"]) == {"alpha": 3.5, "beta": 2.88}
    check_runs(path, module, pm.hswish_example_inputs, ("input1", "input2"))


def hswish_spec() -> CustomOpExport:
    return CustomOpExport(pm.torch_ops()["hswish"], "HSwish", attributes={"info": pm.INFO})


def upsample_spec() -> CustomOpExport:
    return CustomOpExport(pm.torch_ops()["upsample_add"], "UpsampleAdd", attributes_from_args={2: "scale", 3: "gain"})


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_custom_ops_export_in_the_stock_form_with_both_exporters(tmp_path: Path, exporter: str):
    cases = [(hswish_spec(), pm._torch_seed_dynamo(), pm.hswish_example_inputs, ("input1", "input2"), "HSwish"),
             (upsample_spec(), pm._torch_upsample(), pm.upsample_example_inputs, ("x", "skip"), "UpsampleAdd")]
    for spec, module, make_inputs, names, op_type in cases:
        path = tmp_path / f"{op_type}-{exporter}.onnx"
        from graphfix.export import export

        export(module, make_inputs(), path, exporter=exporter, opset=17 if exporter == "legacy" else None,
               input_names=list(names), custom_ops=[spec])
        node = stock_node(path, op_type)
        expected = ({"info": pm.INFO.encode()} if op_type == "HSwish" else {"scale": 2, "gain": 0.5})
        assert attributes(node) == {**expected, "plugin_version": b"1", "plugin_namespace": b""}
        check_runs(path, module, make_inputs, names)
        import graphfix

        codes = {f.code for f in graphfix.lint(path, custom_ops=registry()).findings}
        assert not any(code.startswith("GF4") for code in codes)  # the stock form, with a reference


def test_legacy_registration_ends_with_the_block(tmp_path: Path):
    spec = hswish_spec()
    with legacy_symbolics([spec], opset=17):
        pass
    # torch says "unrecognized namespace graphfix_test::hswish" for an op that never had a symbolic, and
    # "min() arg is an empty sequence" for one whose symbolic was unregistered: either way, no export.
    with pytest.raises(Exception, match="unrecognized namespace graphfix_test::hswish|empty sequence"):
        pm._quiet_export(pm._torch_seed_dynamo(), pm.hswish_example_inputs(), tmp_path / "x.onnx", dynamo=False,
                         opset_version=17)
