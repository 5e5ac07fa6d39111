"""Rendering: SARIF levels come from the rules' severities; JSON keeps its documented fields."""

from __future__ import annotations

import json

import onnx
from graphs import RESIZE_SIZES, parse

from graphfix.cli import main

NONZERO = """
agraph (float[N, 4] x) => (int64[2, K] y) {
    y = NonZero (x)
}
"""


def _sarif(capsys, *paths) -> dict:
    assert main(["lint", *map(str, paths), "--format", "sarif"]) in (1, 2)
    return json.loads(capsys.readouterr().out)


def test_sarif_level_is_the_rule_severity(tmp_path, capsys):
    fixable, note, junk = tmp_path / "resize.onnx", tmp_path / "nonzero.onnx", tmp_path / "junk.onnx"
    onnx.save(parse(RESIZE_SIZES), fixable)
    onnx.save(parse(NONZERO), note)
    junk.write_text("not onnx")
    run = _sarif(capsys, fixable, note, junk)["runs"][0]
    levels = {result["ruleId"]: result["level"] for result in run["results"]}
    assert levels == {"GF201": "warning", "GF901": "note", "GF000": "error"}
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    # The checking rules keep their indexes; the meta rules come after them.
    assert [rule["id"] for rule in rules][:15] == ["GF101", "GF102", "GF103", "GF201", "GF202", "GF301", "GF302",
                                                    "GF501", "GF502", "GF503", "GF504", "GF505", "GF506",
                                                    "GF901", "GF902"]


def test_json_fields_are_the_documented_ones(tmp_path, capsys):
    path = tmp_path / "resize.onnx"
    onnx.save(parse(RESIZE_SIZES), path)
    assert main(["lint", str(path), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"version", "graphfix", "files", "summary"}
    [entry] = data["files"]
    assert set(entry) == {"file", "nodes", "seconds", "error", "trt_version", "findings"}
    assert set(entry["findings"][0]) == {"code", "name", "node", "op_type", "message", "fixable", "fix_safety", "fix",
                                         "reason", "chain", "severity"}
