"""The command line: exit codes, output formats, selection, and one clear line per bad file."""

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from graphs import RESIZE_SIZES, VIEW_SIZE0, parse

from graphfix.cli import main

CLEAN = """
agraph (float[N, 4, 8, 8] x) => (float[N, 256] y) {
    t = Constant <value = int64[2] {-1, 256}> ()
    y = Reshape (x, t)
}
"""


@pytest.fixture
def models(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, text in {"view": VIEW_SIZE0, "resize": RESIZE_SIZES, "clean": CLEAN}.items():
        paths[name] = tmp_path / f"{name}.onnx"
        onnx.save(parse(text), paths[name])
    return paths


def test_findings_exit_1_and_name_code_node_and_fix(models, capsys):
    assert main(["lint", str(models["view"])]) == 1
    out = capsys.readouterr().out
    assert "GF101" in out and "Reshape(y)" in out and "fixable as constant [-1, 256]" in out
    assert "Found 1 finding" in out and "1 fixable" in out


def test_clean_model_exits_0(models, capsys):
    assert main(["lint", str(models["clean"])]) == 0
    assert "All checks passed!" in capsys.readouterr().out


def test_select_and_ignore_by_prefix(models, capsys):
    assert main(["lint", str(models["view"]), str(models["resize"]), "--select", "GF2"]) == 1
    out = capsys.readouterr().out
    assert "GF201" in out and "GF101" not in out
    assert main(["lint", str(models["view"]), "--ignore", "GF1"]) == 0
    assert main(["lint", str(models["view"]), "--select", "GF1", "--ignore", "GF101"]) == 0
    assert main(["lint", str(models["view"]), "--select", "GF101", "--ignore", "GF1"]) == 1


def test_unknown_selector_is_a_usage_error(models, capsys):
    assert main(["lint", str(models["view"]), "--select", "E501"]) == 2
    assert "matches no rule code" in capsys.readouterr().err
    # said once, before any model is read (not once per file)
    assert main(["lint", str(models["view"]), str(models["view"]), "x.onnx", "--select", "E501", "-j", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("matches no rule code") == 1 and "x.onnx" not in err


def test_json_format_is_stable(models, capsys):
    assert main(["lint", str(models["view"]), str(models["clean"]), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == 1
    first, second = data["files"]
    assert first["file"] == str(models["view"]) and second["findings"] == []
    [finding] = first["findings"]
    assert {"code", "name", "node", "message", "fixable"} <= set(finding)
    assert finding["code"] == "GF101" and finding["name"] == "runtime-shape-computation"
    assert finding["node"] == "Reshape(y)" and finding["fixable"] is True
    assert data["summary"]["findings"] == 1


def test_sarif_format(models, capsys):
    assert main(["lint", str(models["resize"]), "--format", "sarif"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["name"] == "graphfix"
    assert any(rule["id"] == "GF201" for rule in run["tool"]["driver"]["rules"])
    assert [r["ruleId"] for r in run["results"]] == ["GF201"]


def test_bad_files_are_each_reported_and_do_not_hide_the_others(models, tmp_path, capsys):
    junk = tmp_path / "junk.onnx"
    junk.write_text("not onnx")
    code = main(["lint", str(tmp_path / "missing.onnx"), str(junk), str(models["view"])])
    captured = capsys.readouterr()
    assert code == 2
    assert "missing.onnx: no such file" in captured.err
    assert "junk.onnx: not a" in captured.err
    assert "GF101" in captured.out  # the good file is still linted
    assert "Traceback" not in captured.err


def test_bad_input_shape_is_a_usage_error(models, capsys):
    assert main(["lint", str(models["view"]), "--input-shape", "nope:1x2"]) == 2
    assert "--input-shape names nope, which is not a graph input (inputs: x)" in capsys.readouterr().err
    assert main(["lint", str(models["view"]), "--input-shape", "x:1x2xq"]) == 2
    assert "integers" in capsys.readouterr().err


def test_rules_and_rule(capsys):
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    for code in ("GF101", "GF102", "GF103", "GF201", "GF202", "GF301", "GF302", "GF901", "GF902"):
        assert code in out
    assert main(["rule", "gf201"]) == 0
    out = capsys.readouterr().out
    assert "resize-by-sizes (GF201)" in out and "Why it hurts TensorRT" in out
    assert main(["rule", "GF777"]) == 2


def test_console_script_prints_one_line_and_no_traceback(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage")
    result = subprocess.run([sys.executable, "-m", "graphfix", "lint", str(junk)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "junk.onnx" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_reader_that_goes_away_stops_graphfix_quietly(tmp_path):
    """`graphfix ... | head`: the closed pipe is no internal error and no traceback at exit."""
    for index in range(3):
        onnx.save(parse(VIEW_SIZE0), tmp_path / f"m{index}.onnx")
    code = "import sys\nfrom graphfix.cli import main\nsys.exit(main(sys.argv[1:]))"
    for args in (["lint", str(tmp_path), "--format", "json"], ["fix", "--diff", str(tmp_path), "--format", "json"]):
        process = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader is gone before graphfix writes
        err = process.stderr.read()
        assert process.wait() == 2
        assert err == "", err
