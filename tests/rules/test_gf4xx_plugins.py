"""GF401 (tensorRT_Pro Plugin node) and GF402 (custom op without reference) on the seed's HSwish and a
second custom op (UpsampleAdd: two inputs, an attribute that changes the output shape), hand-built and
exported by both exporters."""

from __future__ import annotations

import sys
from pathlib import Path

import onnx
import onnx_ir as ir
import pytest

from graphfix.analyse import analyse
from graphfix.fixing.editor import Editor
from graphfix.ir import load
from graphfix.linting import Context, Options, ReplaceOp, all_rules, run_rules
from graphfix.plugins import Registry, load_custom_ops
from graphfix.plugins.scaffold import write_plugin_scaffold
from graphfix.rules.gf401_plugin_node import PluginNode
from graphfix.rules.gf402_no_reference import NoReference

HERE = Path(__file__).parents[1] / "plugins"
sys.path.insert(0, str(HERE))
from plugin_models import hswish_onnx, upsample_add_onnx  # noqa: E402
SECTIONS = ["## What it finds", "## Why it hurts TensorRT", "## Example", "## Fixed"]


def lint(model: object, registry: Registry | None = None, plugins: tuple[str, ...] = ()) -> tuple[list, Context]:
    loaded = load(model)  # type: ignore[arg-type]
    options = Options(custom_ops=registry if registry is not None else Registry(), plugins=plugins)
    ctx = Context(loaded, analyse(loaded, custom_ops=options.custom_ops), options)
    # Every rule but the TensorRT-target checks (GF5xx; GF506 notes that a custom node needs a plugin).
    return run_rules(ctx, [rule for rule in all_rules() if not rule.code.startswith("GF5")]), ctx


@pytest.mark.parametrize("rule", [PluginNode, NoReference])
def test_rules_are_documented_like_the_others(rule: type):
    doc = rule.documentation()
    assert doc.splitlines()[0] == f"{rule.code} {rule.name}"
    positions = [doc.find(section) for section in SECTIONS]
    assert all(p > 0 for p in positions) and positions == sorted(positions)
    assert rule.__module__.rsplit(".", 1)[-1].startswith(rule.code.lower())


@pytest.mark.parametrize("domain", ["", "tensorrt_pro"])
def test_gf401_finds_the_plugin_node_in_any_domain_and_fixes_it(domain: str):
    findings, ctx = lint(hswish_onnx(domain))
    [gf401] = [f for f in findings if f.code == "GF401"]
    assert gf401.fixable and isinstance(gf401.fix[0], ReplaceOp)
    assert gf401.node_name == "/hswish/Plugin"
    assert ("fixable as trt.plugins::HSwish with plugin_version='1', plugin_namespace='' (info kept)"
            in gf401.message)
    assert [f.code for f in findings] == ["GF401", "GF402"]  # GF902 leaves custom ops to GF402
    Editor(ctx.model).apply(gf401.fix)
    node = ctx.model.graph.node(0)
    assert (node.op_type, node.domain) == ("HSwish", "trt.plugins")
    assert [v.name for v in node.inputs] == ["input1", "hswish.bias"]
    assert {k: a.value for k, a in node.attributes.items()} == {
        "info": '{"alpha": 3.5, "beta": 2.88}', "plugin_version": "1", "plugin_namespace": ""}
    proto = ir.to_proto(ctx.model)
    onnx.checker.check_model(proto, full_check=True)
    again, _ = lint(proto)
    assert [f.code for f in again] == ["GF402"]  # no Plugin node left; still no reference


def test_gf401_writes_the_namespace_the_user_asks_for():
    loaded = load(hswish_onnx())
    options = Options(plugin_namespace="graphfix")  # `graphfix fix --plugin-namespace graphfix`
    [gf401] = run_rules(Context(loaded, analyse(loaded), options), [PluginNode])
    plan = gf401.fix[0]
    assert isinstance(plan, ReplaceOp) and ("plugin_namespace", "graphfix") in plan.attributes
    assert "plugin_namespace='graphfix'" in gf401.message


def test_gf401_warns_when_the_name_is_an_onnx_operator():
    model = hswish_onnx()
    for attribute in model.graph.node[0].attribute:
        if attribute.name == "name":
            attribute.s = b"HardSwish"
    [gf401] = [f for f in lint(model)[0] if f.code == "GF401"]
    assert "warning: 'HardSwish' is also an ONNX operator" in gf401.message


def test_gf402_without_reference_says_both_ways_out():
    findings, _ = lint(upsample_add_onnx())
    [gf402] = findings
    assert gf402.code == "GF402" and not gf402.fixable
    assert gf402.message.startswith("custom::UpsampleAdd '/up/UpsampleAdd' has no reference implementation")
    assert "no TensorRT plugin is known for it" in gf402.message
    assert "--custom-ops FILE.py" in gf402.message and "--plugins FILE.py|lib.so" in gf402.message
    assert "graphfix plugin MODEL --op UpsampleAdd" in gf402.message


def test_gf402_is_silent_with_a_reference():
    registry = Registry()
    load_custom_ops(HERE / "ref_ops.py", None, registry)
    assert [f.code for f in lint(upsample_add_onnx(), registry)[0]] == []
    assert [f.code for f in lint(hswish_onnx(), registry)[0]] == ["GF401"]


def test_gf402_names_a_known_plugin(tmp_path: Path):
    plugin = tmp_path / "upsampleadd_plugin.py"
    write_plugin_scaffold(upsample_add_onnx(), "UpsampleAdd", plugin)
    [gf402] = lint(upsample_add_onnx(), plugins=(str(plugin),))[0]
    assert f"the TensorRT plugin UpsampleAdd from {plugin} covers TensorRT" in gf402.message


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_rules_on_the_seeds_exports(tmp_path: Path, exporter: str):
    pytest.importorskip("torch", reason="the export tests need torch (pip install torch==2.13.0)")
    import plugin_models as pm

    path = pm.export_hswish(tmp_path / f"hswish-{exporter}.onnx", exporter)
    findings, _ = lint(path)
    assert sorted(f.code for f in findings) == ["GF401", "GF402"]
    registry = Registry()
    load_custom_ops(HERE / "ref_ops.py", ["HSwish"], registry)
    assert [f.code for f in lint(path, registry)[0]] == ["GF401"]
    up = pm.export_upsample(tmp_path / f"up-{exporter}.onnx", exporter)
    assert [f.code for f in lint(up)[0]] == ["GF402"]
