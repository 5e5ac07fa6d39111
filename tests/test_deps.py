"""The one lazy-import helper: one install hint per optional dependency, one error type."""

from __future__ import annotations

import sys

import pytest

from graphfix.deps import HINTS, is_installed, require
from graphfix.errors import GraphfixError, MissingDependencyError


@pytest.mark.parametrize("name", ["onnxruntime", "polygraphy", "onnxconverter_common", "tensorrt", "torch"])
def test_a_missing_dependency_is_one_line_with_its_hint(monkeypatch, name):
    monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    with pytest.raises(MissingDependencyError) as caught:
        require(name, "this step")
    error = caught.value
    assert isinstance(error, GraphfixError) and isinstance(error, ImportError)
    assert error.dependency == name and str(error).endswith(HINTS[name]) and "\n" not in str(error)
    assert str(error).startswith("this step needs ")


def test_an_alternative_names_its_parameter(monkeypatch):
    monkeypatch.setitem(sys.modules, "polygraphy", None)
    with pytest.raises(MissingDependencyError) as caught:
        require("polygraphy", "verification", instead="or pass verify=False", parameters=("verify=False",))
    assert str(caught.value).endswith(", or pass verify=False") and caught.value.parameters == ("verify=False",)


def test_only_graphfix_optional_dependencies_are_looked_up():
    with pytest.raises(ValueError, match="not one of graphfix's optional dependencies"):
        require("numpy", "anything")
    assert is_installed("onnxruntime")


def test_export_without_torch_says_how_to_install_it(monkeypatch, tmp_path):
    from graphfix.export import export

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependencyError, match="graphfix.export needs torch: pip install torch"):
        export(object(), (), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
