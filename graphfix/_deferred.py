"""Keep sympy out of processes that do no symbolic shape arithmetic (``graphfix lint``'s start-up).

onnx-ir (from 0.2) imports sympy when it is imported: ``onnx_ir/_core.py`` says ``import sympy`` and
``onnx_ir/_symbolic_shapes.py`` builds a table of sympy functions at module level. That is about 0.3 s, a
third of ``graphfix lint``'s imports, for arithmetic on ``onnx_ir.SymbolicDim`` (``dim + 1``,
``dim.evaluate(...)``) that lint never does.

``install()`` (run by ``import graphfix``; it imports nothing) puts a finder first in ``sys.meta_path``
that acts once, on the first import of ``onnx_ir``, and then removes itself. While onnx-ir's package runs,
``sys.modules`` holds stand-ins for ``sympy`` and ``onnx_ir._symbolic_shapes``: onnx-ir binds them, and a
stand-in imports the real module the first time one of its attributes is read, then answers from it. When
onnx-ir's package has run, the stand-ins leave ``sys.modules``, so every other ``import sympy`` is the
ordinary one. Nothing is deferred when onnx-ir or sympy was imported before graphfix, and a later onnx-ir
without these modules only makes the finder a no-op.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

TRIGGER = "onnx_ir"
# What onnx-ir imports at import time but only uses for SymbolicDim arithmetic; a submodule of onnx-ir is
# named relative to it.
DEFERRED = ("sympy", ".._symbolic_shapes")


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is read; then imports it and delegates to it."""

    def __init__(self, name: str, spec: importlib.machinery.ModuleSpec) -> None:
        super().__init__(name)
        self.__spec__ = spec  # the import system reads it (``_initializing``) when the name is imported again

    def __getattr__(self, attr: str) -> Any:
        real = self.__dict__.get("_graphfix_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            self.__dict__["_graphfix_real"] = real
        return getattr(real, attr)


class _Loader:
    """Runs onnx-ir's package with the stand-ins in ``sys.modules``, then takes them out."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        created: types.ModuleType | None = self.real.create_module(spec)
        return created

    def exec_module(self, module: types.ModuleType) -> None:
        spec = module.__spec__
        assert spec is not None
        spec.loader = module.__loader__ = self.real  # what onnx-ir (and importlib.resources) see
        standins = _standins(module.__name__, getattr(module, "__path__", None) or ())
        sys.modules.update(standins)
        try:
            self.real.exec_module(module)
        finally:
            for name, standin in standins.items():
                if sys.modules.get(name) is standin:
                    del sys.modules[name]


def _standins(package: str, path: Sequence[str]) -> dict[str, _Deferred]:
    standins: dict[str, _Deferred] = {}
    for entry in DEFERRED:
        if entry.startswith(".."):
            name = package + "." + entry[2:]
            spec = importlib.machinery.PathFinder.find_spec(name, list(path)) if path else None
        else:
            name, spec = entry, importlib.machinery.PathFinder.find_spec(entry)
        if spec is not None and name not in sys.modules:
            standins[name] = _Deferred(name, spec)
    return standins


class _Finder:
    """Acts on the first import of onnx-ir only, then leaves ``sys.meta_path``."""

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if name != TRIGGER:
            return None
        uninstall()
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec: importlib.machinery.ModuleSpec | None = find(name, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and "sympy" not in sys.modules:
                    spec.loader = _Loader(spec.loader)  # type: ignore[assignment]
                return spec
        return None


_FINDER = _Finder()


def install() -> None:
    """Defer onnx-ir's sympy import (see the module docstring); nothing when onnx-ir is already imported."""
    if TRIGGER not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
