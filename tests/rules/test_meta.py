"""Every rule is registered, documented with the standard sections, and has a test module."""

import importlib
import pkgutil
import re
from pathlib import Path

import graphfix.rules
import pytest

from graphfix.linting import Rule, documented_rules

SECTIONS = ["## What it finds", "## Why it hurts TensorRT", "## Example", "## Fixed"]
RULE_MODULES = [m.name for m in pkgutil.iter_modules(graphfix.rules.__path__) if re.match(r"gf\d{3}_", m.name)]


def test_every_rule_module_is_registered():
    registered = {rule.__module__.rsplit(".", 1)[-1] for rule in documented_rules()}
    assert RULE_MODULES and set(RULE_MODULES) == registered


@pytest.mark.parametrize("rule", documented_rules(), ids=lambda r: r.code)
def test_rule_is_documented(rule: type[Rule]):
    doc = rule.documentation()
    assert doc.splitlines()[0] == f"{rule.code} {rule.name}"
    positions = [doc.find(section) for section in SECTIONS]
    assert all(p > 0 for p in positions), f"{rule.code} misses a section"
    assert positions == sorted(positions)
    assert rule.__module__.rsplit(".", 1)[-1].startswith(rule.code.lower())
    assert rule.summary and rule.name == rule.name.lower()


def test_codes_are_unique_and_stable_in_form():
    codes = [rule.code for rule in documented_rules()]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"GF\d{3}", c) for c in codes)


@pytest.mark.parametrize("module", RULE_MODULES)
def test_rule_has_tests(module: str):
    tests = Path(__file__).parent
    code = module.split("_")[0]
    family = code[:3] + "xx"
    assert list(tests.glob(f"test_{module}.py")) or list(tests.glob(f"test_{family}*.py")), module
    importlib.import_module(f"graphfix.rules.{module}")
