"""Near misses: why a rule looked at a node and did not fire, as data (``lint --explain NODE``)."""

from __future__ import annotations

import json

import onnx
from graphs import parse

import graphfix
from graphfix.cli import main

CLEAN_RESHAPE = """
agraph (float[N, 4, 8, 8] x) => (float[N, 256] y) {
    t = Constant <value = int64[2] {-1, 256}> ()
    y = Reshape (x, t)
}
"""


def test_a_rule_records_why_it_did_not_fire_on_a_node():
    report = graphfix.lint(parse(CLEAN_RESHAPE))
    assert report.findings == []
    reasons = {miss.code: miss.reason for miss in report.explain("Reshape(y)")}
    assert reasons["GF102"] == "the -1 in dim 0 carries the batch: that is the rule being followed"
    assert reasons["GF103"].startswith("the target does not bake the batch: ")
    assert "GF101" in reasons and "not computed at run time" in reasons["GF101"]
    assert report.explain("nope") == []


def test_lint_explain_prints_the_near_misses_of_one_node(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(parse(CLEAN_RESHAPE), path)
    assert main(["lint", str(path), "--explain", "Reshape(y)"]) == 0
    out = capsys.readouterr().out
    assert "All checks passed!" in out
    assert "Reshape(y): GF102 did not fire: the -1 in dim 0 carries the batch" in out
    assert main(["lint", str(path), "--explain", "Nope"]) == 0
    assert "Nope: no such node" in capsys.readouterr().out


def test_json_carries_the_near_misses_in_a_debug_field_only_when_asked(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(parse(CLEAN_RESHAPE), path)
    assert main(["lint", str(path), "--format", "json"]) == 0
    assert "debug" not in json.loads(capsys.readouterr().out)["files"][0]
    assert main(["lint", str(path), "--format", "json", "--explain", "Reshape(y)"]) == 0
    debug = json.loads(capsys.readouterr().out)["files"][0]["debug"]
    assert debug["explain"] == "Reshape(y)"
    assert {"code": "GF102", "node": "Reshape(y)",
            "reason": "the -1 in dim 0 carries the batch: that is the rule being followed"} in debug["near_misses"]
