"""The GF5xx family on the command line: --trt-version, the summary line, JSON/SARIF severity, the rules listing
with its support table, and `graphfix rule GF501` explaining how to read a finding."""

from __future__ import annotations

import json

import onnx
from graphs import parse, save

from graphfix.cli import main

GELU = "agraph (float[N, 8] x) => (float[N, 8] y) { y = Gelu (x) }"


def test_summary_line_names_the_version(tmp_path, capsys):
    path = save(parse(GELU, opset=20), tmp_path / "gelu.onnx")
    assert main(["lint", str(path), "--trt-version", "10"]) == 0
    assert "All checks passed! (1 file; checked for TensorRT 10.16)" in capsys.readouterr().out
    assert main(["lint", str(path), "--trt-version", "11.3"]) == 0
    assert "checked for TensorRT 11.3" in capsys.readouterr().out
    assert main(["lint", str(path), "--trt-version", "8.6"]) == 1
    out = capsys.readouterr().out
    assert "GF501" in out and "GF504" in out and "checked for TensorRT 8.6" in out


def test_no_summary_version_when_no_gf5xx_rule_runs(tmp_path, capsys):
    path = save(parse(GELU, opset=20), tmp_path / "gelu.onnx")
    assert main(["lint", str(path), "--select", "GF1"]) == 0
    assert "checked for TensorRT" not in capsys.readouterr().out


def test_an_unknown_version_is_a_usage_error_listing_the_tables(tmp_path, capsys):
    path = save(parse(GELU, opset=20), tmp_path / "gelu.onnx")
    assert main(["lint", str(path), "--trt-version", "9"]) == 2
    err = capsys.readouterr().err
    assert "no support table for TensorRT 9" in err and "8.6" in err and "Traceback" not in err


def test_json_marks_information_and_the_version(tmp_path, capsys):
    path = save(parse("agraph (int64[N, 4] x) => (int64[N, 4] y) { y = Neg (x) }"), tmp_path / "i.onnx")
    assert main(["lint", str(path), "--trt-version", "8.6", "--format", "json"]) == 0  # information only
    document = json.loads(capsys.readouterr().out)
    [file] = document["files"]
    assert file["trt_version"] == "8.6"
    [finding] = file["findings"]
    assert finding["code"] == "GF503" and finding["severity"] == "info"
    assert document["summary"]["information"] == 1
    assert main(["lint", str(path), "--trt-version", "8.6", "--format", "sarif"]) == 0
    [result] = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    assert result["level"] == "note" and result["properties"]["severity"] == "info"


def test_rules_lists_the_family_and_its_table(capsys):
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    for code in ("GF501", "GF502", "GF503", "GF504", "GF505", "GF506"):
        assert code in out
    assert "cover TensorRT 8.6, 10.0-10.16, 11.0 (for 11.0-11.1), 11.2 (for 11.2-11.4), 11.5" in out
    assert main(["rules", "--trt-version", "8.6"]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert "This run checks TensorRT 8.6: trt-8.6.json, read from" in out and "parser opsets 7-17" in out
    assert main(["rules", "--format", "json", "--trt-version", "10.12"]) == 0
    entries = {e["code"]: e for e in json.loads(capsys.readouterr().out)}
    assert entries["GF502"]["trt_version"] == "10.12" and "trt_version" not in entries["GF101"]


def test_rule_gf501_explains_how_to_read_a_finding(capsys):
    assert main(["rule", "GF501"]) == 0
    out = capsys.readouterr().out
    assert "Reading a finding" in out and "[Resize/attribute-value/mode]" in out and "info" in out


def test_fix_passes_the_version_to_the_rules(tmp_path, capsys):
    path = save(parse(GELU, opset=20), tmp_path / "gelu.onnx")
    assert main(["fix", str(path), "-o", str(tmp_path / "out.onnx"), "--trt-version", "8.6"]) == 0
    assert {o.domain: o.version for o in onnx.load(str(tmp_path / "out.onnx")).opset_import} == {"": 17}
    assert main(["fix", str(path), "-o", str(tmp_path / "same.onnx"), "--trt-version", "10"]) == 0
    assert "no change was needed" in capsys.readouterr().out


def test_the_default_version_without_tensorrt_is_the_newest_table(monkeypatch):
    import importlib.util

    from graphfix.targets import available_versions
    from graphfix.targets.target import installed_tensorrt, resolve_target

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorrt" else real(name, *a))
    installed_tensorrt.cache_clear()
    try:
        target = resolve_target(None)
    finally:
        installed_tensorrt.cache_clear()
    assert target.source == "newest" and target.version == available_versions()[-1]
    assert "TensorRT is not installed" in target.describe()


def test_the_installed_version_is_read_from_the_package_metadata(monkeypatch):
    import importlib.metadata
    import importlib.util
    import sys

    from graphfix.targets.target import installed_tensorrt, resolve_target

    real_spec, real_version = importlib.util.find_spec, importlib.metadata.version
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "tensorrt" else real_spec(name, *a))
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "10.12.0.36" if name == "tensorrt" else real_version(name))
    installed_tensorrt.cache_clear()
    try:
        target = resolve_target(None)
    finally:
        installed_tensorrt.cache_clear()
    assert (target.version, target.source) == ("10.12", "installed")
    assert "tensorrt" not in sys.modules  # found without importing TensorRT
