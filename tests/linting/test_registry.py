"""The registry: rules are independent modules, the only place rule codes are written, and the source of
what TensorRT's errors mean."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from graphfix.linting import Severity, documented_rules, rule_for_tensorrt_error
from graphfix.linting.registry import crash_rule, unreadable_rule

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "rules").glob("gf*.py")), ids=lambda p: p.stem)
def test_no_rule_imports_another_rule(path):
    imported = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.append(node.module)
        elif isinstance(node, ast.Import):
            imported.extend(alias.name for alias in node.names)
    assert not [name for name in imported if name.startswith("graphfix.rules")], imported


def _code_constants(path: Path) -> list[str]:
    """String constants of ``path`` that are a rule code or code prefix by themselves (``"GF302"``,
    ``"GF9"``): codes used as data. Documentation and message text may mention codes."""
    return [node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and re.fullmatch(r"GF\d{0,3}", node.value)]


def test_no_rule_code_is_written_outside_rules():
    found = {str(path.relative_to(ROOT)): _code_constants(path) for path in (ROOT / "graphfix").rglob("*.py")}
    assert {path: codes for path, codes in found.items() if codes} == {}
    assert _code_constants(ROOT / "rules" / "gf302_static_batch.py") == ["GF302"]  # the scan sees codes


def test_meta_rules_are_the_codes_the_engine_emits():
    assert crash_rule().code == "GF999" and unreadable_rule().code == "GF000"
    assert unreadable_rule().severity is Severity.ERROR and crash_rule().severity is Severity.NOTE
    assert [rule.code for rule in documented_rules()][-2:] == ["GF000", "GF999"]


def test_tensorrt_errors_are_declared_by_the_rules():
    declared = {rule.code for rule in documented_rules() if rule.tensorrt_errors}
    assert {"GF101", "GF102", "GF103", "GF201", "GF202", "GF301", "GF901", "GF902"} <= declared
    assert rule_for_tensorrt_error(None, "Network has dynamic or shape inputs, but no optimization profile has "
                                         "been defined.") == "GF301"
    assert rule_for_tensorrt_error("Resize", "sizes and scales given") == "GF201"  # the lower priority wins
