"""The explicit package list in pyproject.toml matches the tree, and the wheel ships py.typed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml on Python 3.10 needs tomli")

ROOT = Path(__file__).parents[1]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_of_the_tree_is_listed_and_nothing_else():
    setuptools = _config()["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    tree = {".".join(("graphfix", *p.parent.relative_to(ROOT / "graphfix").parts))
            for p in (ROOT / "graphfix").rglob("__init__.py")} | {"graphfix.rules"}
    assert listed == tree
    assert setuptools["package-dir"] == {"graphfix": "graphfix", "graphfix.rules": "rules"}
    assert (ROOT / "rules" / "__init__.py").is_file()


def test_py_typed_is_shipped():
    assert (ROOT / "graphfix" / "py.typed").is_file()
    assert "py.typed" in _config()["tool"]["setuptools"]["package-data"]["graphfix"]


def test_every_stage_package_has_its_own_tests():
    stages = sorted(p.parent.name for p in (ROOT / "graphfix").glob("*/__init__.py"))
    assert stages == ["analyse", "cli", "compare", "compiling", "fixing", "ir", "linting", "plugins", "precision", "targets", "verify"]
    missing = [stage for stage in stages if not list((ROOT / "tests" / stage).glob("test_*.py"))]
    assert missing == []
