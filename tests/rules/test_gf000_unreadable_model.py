"""GF000: a file graphfix cannot check is reported under the meta rule's code, with its severity."""

import json

from graphfix.rules import UNREADABLE_MODEL

from graphfix.cli import main
from graphfix.linting import Severity, rule_by_code


def test_unreadable_file_is_a_gf000_error_result(tmp_path, capsys):
    junk = tmp_path / "junk.onnx"
    junk.write_text("not onnx")
    assert main(["lint", str(junk), "--format", "sarif"]) == 2
    sarif = json.loads(capsys.readouterr().out)
    [result] = sarif["runs"][0]["results"]
    assert result["ruleId"] == UNREADABLE_MODEL.code == "GF000" and result["level"] == "error"
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    assert rules[result["ruleIndex"]]["id"] == "GF000"


def test_gf000_is_documented_and_never_fires_on_a_model():
    rule = rule_by_code("gf000")
    assert rule is UNREADABLE_MODEL and rule.severity is Severity.ERROR
    assert "## What it finds" in rule.documentation()
    assert list(rule().check(None)) == []  # type: ignore[arg-type]  # a meta rule: the engine reports it
