"""GF999: a rule that crashes is reported (with its code, the exception and where) and hides nothing."""

from graphfix.rules import RULE_CRASHED
from graphfix.rules.gf102_reshape_non_batch_minus_one import ReshapeNonBatchMinusOne
from graphs import VIEW_SIZE0, parse

import graphfix
from graphfix.cli import main
from graphfix.linting import Severity


def test_a_crashing_rule_is_reported_and_the_others_still_run(monkeypatch):
    def crash(self, ctx):
        raise IndexError("planted")

    monkeypatch.setattr(ReshapeNonBatchMinusOne, "check", crash)
    report = graphfix.lint(parse(VIEW_SIZE0))
    codes = [f.code for f in report.findings]
    assert "GF101" in codes  # the other rules' findings are still there
    [crashed] = [f for f in report.findings if f.code == RULE_CRASHED.code]
    assert crashed.code == "GF999" and crashed.name == "rule-crashed"
    assert "rule GF102 crashed: IndexError: planted (at test_gf999_rule_crashed.py:" in crashed.message
    without = graphfix.lint(parse(VIEW_SIZE0), ignore="GF999").findings
    assert [(f.code, f.message) for f in without] == [(f.code, f.message) for f in report.findings
                                                      if f.code != "GF999"]


def test_graphfix_rule_gf999_prints_its_documentation(capsys):
    assert main(["rule", "GF999"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# rule-crashed (GF999)") and "## What it finds" in out and "please report" in out.lower()
    assert RULE_CRASHED.severity is Severity.NOTE
