"""Issue 10's "Done when", through the command line: the seed's HSwish (tensorRT_Pro ``Plugin`` node) and
UpsampleAdd (two inputs, an attribute that changes the output shape), exported with both torch exporters,
through ``graphfix lint``, ``fix --custom-ops``, ``fix --compile fp16 --backend onnxruntime``, ``run`` and
``plugin``. Numerics are checked against numpy implementations of the models, not only against the
reference the verification runs through."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from plugin_models import (
    BIAS_VALUE,
    GAIN,
    INFO,
    SCALE,
    export_hswish,
    export_upsample,
    hswish_model,
    hswish_onnx,
    save,
    upsample_add,
    upsample_add_onnx,
)

from graphfix.cli import main
from graphfix.plugins import Registry, load_custom_ops, using

HERE = Path(__file__).parent
REF = HERE / "ref_ops.py"


def _models(tmp_path: Path, which: str, exporter: str) -> Path:
    path = tmp_path / f"{which}-{exporter}.onnx"
    if exporter == "hand":
        return save(hswish_onnx() if which == "hswish" else upsample_add_onnx(), path)
    pytest.importorskip("torch", reason="the export tests need torch (pip install torch==2.13.0)")
    return (export_hswish if which == "hswish" else export_upsample)(path, exporter)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _expected(which: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
    if which == "hswish":
        return hswish_model(feeds["input1"], feeds["input2"])
    return np.maximum(upsample_add(feeds["x"], feeds["skip"], SCALE, GAIN), 0)


def _feeds(which: str, batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch)
    if which == "hswish":
        return {"input1": rng.standard_normal((batch, 3, 3, 3)).astype(np.float32) * 3,
                "input2": rng.standard_normal((batch, 3, 3, 3)).astype(np.float32)}
    return {"x": rng.standard_normal((batch, 4, 8, 8)).astype(np.float32),
            "skip": rng.standard_normal((batch, 4, 16, 16)).astype(np.float32)}


EXPORTERS = ["hand", "legacy", "dynamo"]


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_lint_reports_gf401_and_gf402_as_it_should(tmp_path: Path, capsys, exporter: str):
    hswish = _models(tmp_path, "hswish", exporter)
    code, out, _ = _cli(capsys, "lint", hswish, "--format", "json")
    assert code == 1
    assert '"code": "GF401"' in out and '"code": "GF402"' in out and "GF902" not in out
    code, out, _ = _cli(capsys, "lint", hswish, "--custom-ops", REF)
    assert code == 1 and "GF401" in out and "GF402" not in out
    up = _models(tmp_path, "up", exporter)
    code, out, _ = _cli(capsys, "lint", up)
    assert code == 1 and "GF402" in out and "GF401" not in out and "UpsampleAdd" in out
    code, out, _ = _cli(capsys, "lint", up, "--custom-ops", REF)
    assert "GF402" not in out
    # With the reference, shapes after the op are known: the legacy export's output dims, which torch
    # could not infer through the custom op, are now seen to be constant (GF301); the others are clean.
    assert (code, "GF301" in out) == ((0, True) if exporter == "legacy" else (0, False))  # GF301 on a constant output dim is information (issue 8)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_fix_without_a_reference_is_refused_with_gf402(tmp_path: Path, capsys, exporter: str):
    hswish = _models(tmp_path, "hswish", exporter)
    code, _, err = _cli(capsys, "fix", hswish, "-o", tmp_path / "fixed.onnx")
    assert code == 2
    assert "graphfix: error: GF402 custom operator HSwish" in err and "--custom-ops FILE.py" in err
    assert not (tmp_path / "fixed.onnx").exists()
    code, out, _ = _cli(capsys, "fix", hswish, "-o", tmp_path / "fixed.onnx", "--no-verify")
    assert code == 1  # GF402 remains: nothing can be verified through HSwish
    assert "verification skipped (--no-verify)" in out and (tmp_path / "fixed.onnx").exists()


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("which", ["hswish", "up"])
def test_fix_with_custom_ops_writes_the_stock_form_verified(tmp_path: Path, capsys, exporter: str, which: str):
    source = _models(tmp_path, which, exporter)
    fixed = tmp_path / "fixed.onnx"
    code, out, err = _cli(capsys, "fix", source, "-o", fixed, "--custom-ops", REF)
    assert code == 0, out + err
    assert "verification PASSED" in out or "no change was needed" in out
    model = onnx.load(str(fixed))
    [custom] = [n for n in model.graph.node if n.domain not in ("", "ai.onnx")]
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in custom.attribute}
    if which == "hswish":
        assert "fixed GF401" in out and "Plugin(name='HSwish') := trt.plugins::HSwish" in out
        assert "verification PASSED" in out
        assert (custom.domain, custom.op_type) == ("trt.plugins", "HSwish")
        assert attributes == {"info": INFO.encode(), "plugin_version": b"1", "plugin_namespace": b""}
        assert len(custom.input) == 2  # the bias initializer stays an input
        [bias] = [t for t in model.graph.initializer if t.name == custom.input[1]] or [None]
        assert bias is None or float(onnx.numpy_helper.to_array(bias).reshape(-1)[0]) == pytest.approx(BIAS_VALUE)
    else:
        assert custom.op_type == "UpsampleAdd" and attributes["scale"] == SCALE
    # The fixed model computes the model's function (not only what the reference says): run it.
    registry = Registry()
    load_custom_ops(REF, None, registry)
    import graphfix

    with using(registry):
        runner = graphfix.load(fixed)
        for batch in (1, 3):
            feeds = _feeds(which, batch)
            [result] = runner(feeds).values()
            np.testing.assert_allclose(result, _expected(which, feeds), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("exporter", ["hand", "dynamo"])
@pytest.mark.parametrize("which", ["hswish", "up"])
def test_fix_compile_fp16_onnxruntime_is_compared(tmp_path: Path, capsys, exporter: str, which: str):
    source = _models(tmp_path, which, exporter)
    fixed = tmp_path / "fixed.onnx"
    code, out, err = _cli(capsys, "fix", source, "-o", fixed, "--custom-ops", REF, "--compile", "fp16",
                          "--backend", "onnxruntime", "--engine", tmp_path / "fixed.ort.onnx")
    assert code == 0, out + err
    assert "vs original: PASSED" in out
    assert "no ONNX Runtime optimised model for a model with custom ops" in out
    fp16 = onnx.load(str(tmp_path / "fixed.fp16.onnx"))
    [custom] = [n for n in fp16.graph.node if n.domain not in ("", "ai.onnx")]
    # The custom op stays in fp32: its inputs come through Casts to float (or straight from fp32 inputs).
    producers = {o: n for n in fp16.graph.node for o in n.output}
    for name in custom.input:
        node = producers.get(name)
        assert node is None or node.op_type != "Cast" or onnx.helper.get_attribute_value(node.attribute[0]) == 1


def test_compile_without_a_reference_is_refused_and_run_takes_custom_ops(tmp_path: Path, capsys):
    source = _models(tmp_path, "up", "hand")
    code, _, err = _cli(capsys, "compile", source, "--precision", "fp16", "--backend", "onnxruntime")
    assert code == 2 and "GF402 custom operator UpsampleAdd" in err
    code, out, _ = _cli(capsys, "compile", source, "--precision", "fp32", "--backend", "onnxruntime",
                        "--custom-ops", REF)
    assert code == 0 and "PASSED" in out
    assert _cli(capsys, "run", source)[0] == 2
    code, out, _ = _cli(capsys, "run", source, "--custom-ops", REF, "--batch", "2")
    assert code == 0 and "[2, 4, 16, 16]" in out


def test_plugin_namespace_is_written_on_the_stock_form(tmp_path: Path, capsys):
    source = _models(tmp_path, "hswish", "hand")
    fixed = tmp_path / "fixed.onnx"
    code, out, _ = _cli(capsys, "fix", source, "-o", fixed, "--custom-ops", REF, "--plugin-namespace", "graphfix")
    assert code == 0 and "plugin_namespace='graphfix'" in out
    [node] = [n for n in onnx.load(str(fixed)).graph.node if n.op_type == "HSwish"]
    assert {a.name: a.s for a in node.attribute}["plugin_namespace"] == b"graphfix"
    code, out, _ = _cli(capsys, "plugin", fixed, "--op", "HSwish", "-o", tmp_path / "p.py", "--custom-ops", REF)
    assert code == 0 and "graphfix::HSwish" in out and "set plugin_namespace" not in out


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("which", ["hswish", "up"])
def test_plugin_scaffold_from_the_cli(tmp_path: Path, capsys, exporter: str, which: str):
    source = _models(tmp_path, which, exporter)
    op = "HSwish" if which == "hswish" else "UpsampleAdd"
    target = source
    if which == "hswish":  # the stock form first, as the notes say
        target = tmp_path / "fixed.onnx"
        assert _cli(capsys, "fix", source, "-o", target, "--custom-ops", REF)[0] == 0
    plugin = tmp_path / f"{op.lower()}_plugin.py"
    code, out, err = _cli(capsys, "plugin", target, "--op", op, "-o", plugin, "--custom-ops", REF,
                          "--trt-version", "8.6")
    assert code == 0, out + err
    assert f"TensorRT plugin graphfix::{op}" in out
    assert "TensorRT 8.6 has no tensorrt.plugin" in out and f"register a creator named '{op}'" in out
    text = plugin.read_text()
    compile(text, str(plugin), "exec")  # valid Python
    assert f"PLUGIN_ID = 'graphfix::{op}'" in text
    if which == "up":
        assert "inp1.shape_expr[2]" in out and "scale" in text  # the shape follows skip; the attribute is typed
    else:
        assert "info" in text
    if importlib.util.find_spec("tensorrt") is None:
        done = subprocess.run([sys.executable, str(plugin)], capture_output=True, text=True, check=False)
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith(f"ImportError: {plugin.name}: this TensorRT plugin needs TensorRT 10.6 or later")
        guard = next(i for i, line in enumerate(text.splitlines(), 1) if "raise ImportError(" in line)
        assert [line for line in done.stderr.splitlines() if str(plugin) in line][-1].strip().endswith(
            f"line {guard}, in <module>")


def test_plugin_without_reference_still_writes_the_file(tmp_path: Path, capsys):
    source = _models(tmp_path, "up", "hand")
    plugin = tmp_path / "up_plugin.py"
    code, out, _ = _cli(capsys, "plugin", source, "--op", "UpsampleAdd", "-o", plugin)
    assert code == 0 and plugin.is_file()
    assert "impl raises NotImplementedError" in out
    assert _cli(capsys, "plugin", source, "--op", "Nope", "-o", tmp_path / "n.py")[0] == 2


def test_the_library_takes_custom_ops(tmp_path: Path):
    import graphfix

    source = _models(tmp_path, "hswish", "hand")
    assert sorted(f.code for f in graphfix.lint(source, ignore="GF5").findings) == ["GF401", "GF402"]
    assert [f.code for f in graphfix.lint(source, custom_ops=[REF], ignore="GF5").findings] == ["GF401"]
    result = graphfix.fix(source, tmp_path / "fixed.onnx", custom_ops=[REF])
    assert result.verification is not None and result.verification.passed
    with pytest.raises(graphfix.GraphfixError, match=r"^GF402 custom operator HSwish"):
        graphfix.fix(source, tmp_path / "again.onnx")
    calls = []

    def HSwish(x, bias):  # noqa: N802
        calls.append(x.shape)
        return x * np.clip(x + 3, 0, 6) / 6

    registry = Registry()
    graphfix.register_op("HSwish", HSwish, registry=registry)
    compiled = graphfix.compile(tmp_path / "fixed.onnx", precision="fp32", backend="onnxruntime", reference=source,
                                custom_ops=registry)
    assert compiled.passed and calls
    runner = graphfix.load(tmp_path / "fixed.onnx", custom_ops=registry)
    feeds = _feeds("hswish", 2)
    np.testing.assert_allclose(runner(feeds)["output"], _expected("hswish", feeds), rtol=1e-5, atol=1e-5)
    shutil.rmtree(tmp_path / "fixed.onnx.data", ignore_errors=True)
