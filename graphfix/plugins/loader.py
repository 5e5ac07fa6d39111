"""``--plugins FILE.py|lib.so``: make TensorRT plugins known before TensorRT parses the model.

- ``FILE.py``: a Python plugin (``tensorrt.plugin``, e.g. written by ``graphfix plugin``) is imported; its
  ``@trtp.register`` decorators register the creators. TensorRT must be importable.
- ``lib.so`` (``.dll``, ``.dylib``): a C++ plugin library is loaded with ``ctypes.CDLL(path, RTLD_GLOBAL)``,
  as Polygraphy's ``LoadPlugins`` does; its static ``REGISTER_TENSORRT_PLUGIN`` initialisers register the
  creators (tensorRT_Pro's plugins are built that way). TensorRT's own libraries must be loadable.

An engine that contains a plugin cannot be deserialized unless the plugin is registered in that process
too, so the runner must load the same files. ``declared_plugins`` reads the plugin ids a Python file
registers without importing it (no TensorRT needed), for GF402's "a plugin is known" and for messages.
"""

from __future__ import annotations

import ast
import ctypes
import importlib.util
import itertools
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from graphfix.errors import GraphfixError, UsageError

LIBRARY_SUFFIXES = (".so", ".dll", ".dylib")
_ids = itertools.count()


@dataclass(frozen=True)
class LoadedPlugin:
    path: Path
    kind: str  # "python" or "library"
    plugin_ids: tuple[str, ...]  # "namespace::name" (Python files only; libraries do not say)
    handle: object  # the module or the ctypes library, kept alive


def declared_plugins(path: str | os.PathLike[str]) -> list[str]:
    """Plugin ids (``"ns::Name"``) registered by ``@trtp.register("...")``/``@tensorrt.plugin.register``
    decorators in a Python file, read from its syntax tree (nothing is imported). Raises ``UsageError``
    for a file that does not parse."""
    file = Path(path)
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    except SyntaxError as error:
        raise UsageError(f"--plugins {file}: not valid Python (line {error.lineno}: {error.msg})") from None
    ids = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call) or not decorator.args:
                continue
            target = decorator.func
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name != "register":
                continue
            argument = decorator.args[0]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                ids.append(argument.value)
            elif isinstance(argument, ast.Name):
                value = _module_constant(tree, argument.id)
                if value is not None:
                    ids.append(value)
    return ids


def _module_constant(tree: ast.Module, name: str) -> str | None:
    for statement in tree.body:
        if not isinstance(statement, ast.Assign):
            continue
        named = any(isinstance(t, ast.Name) and t.id == name for t in statement.targets)
        if named and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str):
            return statement.value.value
    return None


def _tensorrt_importable() -> bool:
    try:
        return importlib.util.find_spec("tensorrt") is not None
    except (ImportError, ValueError):
        return False


def load_plugin(path: str | os.PathLike[str]) -> LoadedPlugin:
    """Load one ``--plugins`` file (see the module docstring). Raises ``UsageError`` for a missing file or
    an unknown suffix, ``GraphfixError`` when TensorRT is missing or loading fails (with the reason)."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--plugins {file}: no such file")
    suffix = file.suffix.lower()
    if suffix == ".py":
        ids = declared_plugins(file)
        if not _tensorrt_importable():
            raise GraphfixError(f"--plugins {file}: a Python TensorRT plugin needs the tensorrt package "
                                "(TensorRT 10.6 or later), which is not installed here")
        name = f"graphfix_trt_plugin_{next(_ids)}_{file.stem}"
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
            raise UsageError(f"--plugins {file}: cannot be imported")
        module: ModuleType = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            sys.modules.pop(name, None)
            text = str(error).strip().splitlines()
            raise GraphfixError(f"--plugins {file}: importing it failed: {type(error).__name__}: "
                                f"{text[0] if text else ''}") from error
        return LoadedPlugin(file, "python", tuple(ids), module)
    if suffix in LIBRARY_SUFFIXES or ".so." in file.name:
        mode = getattr(ctypes, "RTLD_GLOBAL", 0)
        try:
            library = ctypes.CDLL(str(file.resolve()), mode=mode)
        except OSError as error:
            raise GraphfixError(f"--plugins {file}: cannot load the plugin library: {error} (is it built for "
                                "this platform and TensorRT version, and are TensorRT's libraries on the "
                                "library path?)") from error
        return LoadedPlugin(file, "library", (), library)
    raise UsageError(f"--plugins {file}: expected a Python plugin (.py) or a plugin library "
                     "(.so, .dll, .dylib)")


def load_plugins(paths: Iterable[str | os.PathLike[str]]) -> list[LoadedPlugin]:
    """Load every ``--plugins`` file in order; call before TensorRT parses the model (and before an engine
    with plugins is deserialized). Each file is loaded once per process."""
    loaded = []
    for path in paths:
        key = str(Path(path).resolve())
        if key in _LOADED:
            loaded.append(_LOADED[key])
            continue
        plugin = load_plugin(path)
        _LOADED[key] = plugin
        loaded.append(plugin)
    return loaded


_LOADED: dict[str, LoadedPlugin] = {}
