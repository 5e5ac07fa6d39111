"""Project configuration: ``[tool.graphfix]`` in ``pyproject.toml``, or a ``graphfix.toml``.

Found as ruff finds its configuration: from a starting folder (the current one) upwards, the first folder
that has a ``graphfix.toml`` (top-level keys) or a ``pyproject.toml`` with a ``[tool.graphfix]`` table; in
one folder ``graphfix.toml`` wins. Command-line flags win over the file. Unknown keys are an error that
names the key.

    [tool.graphfix]
    select = ["GF1", "GF201"]
    ignore = ["GF301"]
    exclude = ["third_party/**"]
    unsafe-fixes = false
    trt-version = "10"
    atol = 1e-5
    rtol = 1e-4

    [tool.graphfix.per-file-ignores]
    "legacy/*.onnx" = ["GF103"]

    [tool.graphfix.input-shapes]
    "detectors/*.onnx" = { images = [1, 3, 640, 640] }

File patterns are matched against a model's path relative to the folder of the configuration file
(``fnmatch`` rules, where ``*`` also crosses folders); a pattern without ``/`` also matches the file name alone.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from graphfix.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

CONFIG_FILE = "graphfix.toml"
PYPROJECT = "pyproject.toml"

# key -> (type description, validator)
_LIST_KEYS = ("select", "ignore", "extend-select", "exclude")
_BOOL_KEYS = ("unsafe-fixes",)
_FLOAT_KEYS = ("atol", "rtol")
_STRING_KEYS = ("trt-version",)
_TABLE_KEYS = ("per-file-ignores", "input-shapes")
KNOWN_KEYS = (*_LIST_KEYS, *_BOOL_KEYS, *_FLOAT_KEYS, *_STRING_KEYS, *_TABLE_KEYS)


class ConfigError(UsageError):
    """A configuration file that cannot be read or has a bad key or value."""


@dataclass(frozen=True)
class ProjectConfig:
    """The settings of one configuration file (empty when none was found)."""

    path: Path | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The folder file patterns are relative to."""
        return self.path.parent if self.path is not None else Path.cwd()

    @property
    def label(self) -> str:
        if self.path is None:
            return "default"
        return f"{self.path} [tool.graphfix]" if self.path.name == PYPROJECT else str(self.path)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def ignores_for(self, model: Path) -> list[str]:
        """Codes ``per-file-ignores`` drops for ``model``."""
        codes: list[str] = []
        for pattern, listed in self.get("per-file-ignores", {}).items():
            if self.matches(pattern, model):
                codes.extend(listed)
        return codes

    def input_shapes_for(self, model: Path) -> dict[str, list[int]]:
        """Input shapes ``input-shapes`` gives ``model`` (later patterns win for the same input)."""
        shapes: dict[str, list[int]] = {}
        for pattern, table in self.get("input-shapes", {}).items():
            if self.matches(pattern, model):
                shapes.update({name: list(dims) for name, dims in table.items()})
        return shapes

    def excluded(self, model: Path) -> bool:
        """Whether ``exclude`` drops ``model`` (a pattern without ``/`` also matches any folder on the way)."""
        from graphfix.cli.paths import matches_exclude

        patterns = self.get("exclude", [])
        return any(self.matches(pattern, model) for pattern in patterns) or matches_exclude(
            Path(model), patterns, self.root)

    def matches(self, pattern: str, model: Path) -> bool:
        try:
            relative = PurePosixPath(Path(model).resolve().relative_to(self.root.resolve()).as_posix())
        except ValueError:  # outside the project: only the name can match
            relative = PurePosixPath(Path(model).name)
        if "/" not in pattern and fnmatch.fnmatchcase(relative.name, pattern):
            return True
        # fnmatch's * also matches "/", so "legacy/*.onnx" and "legacy/**" cover sub-folders too.
        return fnmatch.fnmatchcase(relative.as_posix(), pattern)


def find_config(start: Path | None = None) -> Path | None:
    """The nearest ``graphfix.toml``, or ``pyproject.toml`` with a ``[tool.graphfix]`` table, from ``start`` up."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        own = candidate / CONFIG_FILE
        if own.is_file():
            return own
        pyproject = candidate / PYPROJECT
        if pyproject.is_file() and "graphfix" in _read(pyproject).get("tool", {}):
            return pyproject
    return None


def load_config(path: Path | None = None, *, start: Path | None = None) -> ProjectConfig:
    """Read and check a configuration file (``path``, or the one :func:`find_config` finds).

    Raises ``ConfigError`` for a file that does not parse, an unknown key, or a value of the wrong type.
    """
    path = path if path is not None else find_config(start)
    if path is None:
        return ProjectConfig()
    document = _read(path)
    table = document.get("tool", {}).get("graphfix", {}) if path.name == PYPROJECT else document
    where = f"{path} [tool.graphfix]" if path.name == PYPROJECT else str(path)
    return ProjectConfig(path, _check(table, where))


def _read(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):  # imported here: most runs find no configuration file
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with path.open("rb") as handle:
            document: dict[str, Any] = tomllib.load(handle)
            return document
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None


def _check(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table of settings")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in KNOWN_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (known keys: {', '.join(KNOWN_KEYS)})")
        values[key] = _check_value(key, value, where)
    return values


def _check_value(key: str, value: Any, where: str) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where}: {key} must be {expected}, not {value!r}")

    if key in _LIST_KEYS:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return value
    if key in _BOOL_KEYS:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if key in _FLOAT_KEYS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise bad("a non-negative number")
        return float(value)
    if key in _STRING_KEYS:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise bad("a version string such as \"10.12\"")
        return str(value)
    if key == "per-file-ignores":
        if not isinstance(value, Mapping):
            raise bad("a table of file pattern -> list of codes")
        result: dict[str, list[str]] = {}
        for pattern, codes in value.items():
            if isinstance(codes, str):
                codes = [codes]
            if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                raise ConfigError(f"{where}: per-file-ignores.{pattern!r} must be a list of codes")
            result[pattern] = codes
        return result
    # input-shapes: pattern -> {input name: [dims]}
    if not isinstance(value, Mapping):
        raise bad("a table of file pattern -> {input name = [dims]}")
    shapes: dict[str, dict[str, list[int]]] = {}
    for pattern, table in value.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: input-shapes.{pattern!r} must be a table such as {{ x = [1, 3, 224, 224] }}")
        shapes[pattern] = {}
        for name, dims in table.items():
            if not isinstance(dims, Sequence) or isinstance(dims, str) or not all(
                    isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
                raise ConfigError(f"{where}: input-shapes.{pattern!r}.{name} must be a list of positive integers")
            shapes[pattern][name] = list(dims)
    return shapes


# -- applying it to a command's arguments, and ``graphfix config`` ---------------------------------------

# Settings a command reads from the file, as (key, argparse dest); a flag the user gave wins.
_FLAG_OF = {"select": "--select", "ignore": "--ignore", "extend-select": "--select", "exclude": "--exclude",
            "unsafe-fixes": "--unsafe-fixes", "atol": "--atol", "rtol": "--rtol", "trt-version": "--trt-version",
            "per-file-ignores": "", "input-shapes": "--input-shape"}


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` (default: the nearest graphfix.toml or pyproject.toml [tool.graphfix])."""
    parser.add_argument("--config", metavar="FILE", type=Path, default=None,
                        help="the configuration file (default: the nearest graphfix.toml or pyproject.toml "
                             "with [tool.graphfix], from the current folder upwards)")


def config_of(args: argparse.Namespace) -> ProjectConfig:
    """The configuration a command runs with (``--config``, or the one found from the current folder)."""
    path: Path | None = getattr(args, "config", None)
    if path is not None and not path.is_file():
        raise ConfigError(f"--config {path}: no such file")
    return load_config(path)


def apply_config(args: argparse.Namespace, config: ProjectConfig) -> None:
    """Fill the options the user did not give on the command line from ``config`` (flags win)."""
    if getattr(args, "select", None) is None and (config.get("select") or config.get("extend-select")):
        args.select = [*config.get("select", []), *config.get("extend-select", [])] or None
    elif getattr(args, "select", None) is not None and config.get("extend-select"):
        args.select = [*args.select, *config.get("extend-select")]
    if hasattr(args, "ignore") and config.get("ignore"):
        args.ignore = [*config.get("ignore"), *(args.ignore or [])]
    if hasattr(args, "unsafe_fixes") and not args.unsafe_fixes:
        args.unsafe_fixes = bool(config.get("unsafe-fixes", False))
    for key in ("atol", "rtol"):
        if hasattr(args, key) and getattr(args, key) is None and config.get(key) is not None:
            setattr(args, key, config.get(key))
    # Passed on to the commands that have --trt-version; kept (and shown by `graphfix config`) until then.
    if hasattr(args, "trt_version") and args.trt_version is None and config.get("trt-version") is not None:
        args.trt_version = config.get("trt-version")


def file_options(config: ProjectConfig, model: str | Path, select: Sequence[str] | None,
                 ignore: Sequence[str] | None, input_shapes: Mapping[str, list[int]]
                 ) -> tuple[list[str] | None, list[str], dict[str, list[int]]]:
    """One model's select, ignore and input shapes: the command's, plus per-file-ignores and the
    input-shapes its path matches (an ``--input-shape`` flag wins for the same input)."""
    extra_ignore = config.ignores_for(Path(model))
    shapes = {**config.input_shapes_for(Path(model)), **input_shapes}
    return (list(select) if select else None), [*(ignore or []), *extra_ignore], shapes


def settings(config: ProjectConfig) -> list[tuple[str, Any, str]]:
    """Every setting as (key, value in force, where it came from)."""
    defaults: dict[str, Any] = {"select": [], "ignore": [], "extend-select": [], "exclude": [],
                                "unsafe-fixes": False, "atol": None, "rtol": None, "trt-version": None,
                                "per-file-ignores": {}, "input-shapes": {}}
    from graphfix.verify.policy import DEFAULT_ATOL, DEFAULT_RTOL

    defaults["atol"], defaults["rtol"] = DEFAULT_ATOL, DEFAULT_RTOL
    rows = []
    for key in KNOWN_KEYS:
        if key in config.values:
            rows.append((key, config.values[key], config.label))
        else:
            rows.append((key, defaults[key], "default"))
    return rows


def add_parsers(commands: Any) -> None:
    parser = commands.add_parser("config", help="print the settings in force and where each came from")
    add_config_option(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console, errors: Console) -> int:
    config = config_of(args)
    rows = settings(config)
    if args.format == "json":
        document = {"file": str(config.path) if config.path else None,
                    "settings": {key: {"value": value, "source": source} for key, value, source in rows}}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return 0
    from rich.markup import escape
    from rich.table import Table

    console.print(f"configuration: {escape(config.label if config.path else 'none found (defaults)')}",
                  soft_wrap=True)
    table = Table(box=None, header_style="bold")
    for column in ("setting", "value", "from", "flag"):
        table.add_column(column)
    for key, value, source in rows:
        table.add_row(key, escape(json.dumps(value)), escape(source), _FLAG_OF.get(key, ""))
    console.print(table)
    return 0
