"""Every TensorRT Python name graphfix uses exists in each TensorRT version its code path runs on.

The names come from graphfix's source, by AST, in every ``.py`` file under ``graphfix/`` and ``rules/``
found at test time (so the check follows files when they move). They are checked against the name lists
of TensorRT's real Python bindings in ``../shared/trt-api/<version>.signatures.txt`` (see its README),
read as data: this test never imports ``tensorrt`` or a stand-in for it.

What counts as a use (per file):

- an attribute chain on a name bound to the tensorrt module: ``import tensorrt [as trt]``,
  ``trt = <...>.lazy_import("tensorrt...")`` (Polygraphy's lazy import), ``from polygraphy... import trt``,
  ``importlib.import_module("tensorrt")``, and ``from tensorrt import X [as Y]`` (``Y.Z`` is ``X.Z``).
  ``trt.BuilderFlag.FP16`` is the name ``BuilderFlag.FP16``;
- ``getattr(<tensorrt value>, "literal"[, default])``;
- an attribute of a value whose TensorRT class is known: the result of calling a TensorRT class
  (``trt.OnnxParser(...)``), of a method or property whose return type the signature lists give
  (``parser.get_error(i)`` is a ``ParserError``), or a parameter of a function of the same file that is
  called with such a value;
- a TensorRT name Polygraphy reaches for a keyword graphfix passes (``POLYGRAPHY_REACHES``, read from
  Polygraphy 0.53.6's ``backend/trt``), unless the keyword's value is a literal ``False``/``None``.

A use is *guarded*, and not checked, when it is:

- ``getattr(x, "name", default)`` with a default, or a call of a helper of the same file whose body does
  ``getattr(param, param, default)`` (e.g. ``_call(error, "node_name")``);
- in the body of an ``if`` whose condition calls ``hasattr`` on a TensorRT value;
- in the body of a ``try`` with a handler that names ``AttributeError`` (a broad ``except Exception``
  does not count: it hides a missing name instead of handling it);
- under a version check the test cannot evaluate (a condition naming ``version``/``major``/``minor``).

A version check it can evaluate -- a comparison of ``major``, ``minor``, ``(major, minor)`` or
``parse_version(...)`` (including attributes so named, e.g. ``plan.major``) with an int or tuple literal
or a module-level constant, combined with ``and``/``or``/``not`` -- is not a guard: the use is checked on
the versions where its branch runs. ``if`` bodies that always ``return``/``raise`` narrow the statements
after them the same way. Every other use is checked on every version graphfix supports (all the lists:
8.6 and later).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("graphfix", "rules")
Version = tuple[int, int]
Predicate = Callable[[Version], bool]
ALWAYS: Predicate = lambda v: True

# TensorRT names Polygraphy 0.53.6 touches for a keyword graphfix passes (polygraphy/backend/trt/config.py
# CreateConfig.call_impl: try_set_flag("FP16"/"INT8") via getattr(trt.BuilderFlag, ...),
# set_memory_pool_limit, create_timing_cache/set_timing_cache, builder_optimization_level;
# loader.py CreateNetwork: STRONGLY_TYPED).
POLYGRAPHY_REACHES: dict[str, dict[str, tuple[str, ...]]] = {
    "CreateConfig": {
        "fp16": ("BuilderFlag.FP16",),
        "int8": ("BuilderFlag.INT8",),
        "bf16": ("BuilderFlag.BF16",),
        "fp8": ("BuilderFlag.FP8",),
        "memory_pool_limits": ("IBuilderConfig.set_memory_pool_limit",),
        "load_timing_cache": ("IBuilderConfig.create_timing_cache", "IBuilderConfig.set_timing_cache"),
        "builder_optimization_level": ("IBuilderConfig.builder_optimization_level",),
        "profiles": ("Builder.create_optimization_profile", "IOptimizationProfile.set_shape"),
    },
    "CreateNetwork": {"strongly_typed": ("NetworkDefinitionCreationFlag.STRONGLY_TYPED",)},
    "NetworkFromOnnxPath": {"strongly_typed": ("NetworkDefinitionCreationFlag.STRONGLY_TYPED",)},
    "NetworkFromOnnxBytes": {"strongly_typed": ("NetworkDefinitionCreationFlag.STRONGLY_TYPED",)},
}

# Uses that fail today in code this change may not edit. Each mark is strict: fixing the code turns the
# test red until the entry is removed. Keyed by (name, TensorRT version of the list). Empty: the precision
# keywords (BuilderFlag.FP16/INT8, NetworkDefinitionCreationFlag.STRONGLY_TYPED) are passed only under a
# visible version check in graphfix.compiling.backends.tensorrt.build.
EXPECTED_FAILURES: dict[tuple[str, str], str] = {}


# -- the name lists -----------------------------------------------------------------------------------


def find_api_dir(repo: Path = REPO) -> Path | None:
    """``../shared/trt-api`` next to the repository; for a git worktree, next to its main checkout."""
    candidates = [repo.parent / "shared" / "trt-api"]
    git = repo / ".git"
    if git.is_file():
        text = git.read_text(encoding="utf-8").strip()
        if text.startswith("gitdir:"):
            gitdir = Path(text.split(":", 1)[1].strip())
            if gitdir.parent.name == "worktrees":  # <main>/.git/worktrees/<name>
                candidates.append(gitdir.parent.parent.parent.parent / "shared" / "trt-api")
    return next((c for c in candidates if any(c.glob("*.signatures.txt"))), None)


@dataclass(frozen=True)
class ApiList:
    """The names of one TensorRT version's Python bindings."""

    label: str  # "10.12.0.36"
    version: Version  # (10, 12)
    names: frozenset[str]
    classes: frozenset[str]
    returns: dict[str, str] = field(
        hash=False, compare=False
    )  # "Builder.create_network" -> "INetworkDefinition"


def read_api_list(path: Path) -> ApiList:
    label = path.name[: -len(".signatures.txt")]
    major, minor = (int(x) for x in label.split(".")[:2])
    names, classes, signatures = set(), set(), {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        names.add(parts[0])
        if parts[1] in ("class", "enum"):
            classes.add(parts[0])
        if parts[1] in ("method", "property_ro", "property_rw") and len(parts) > 2:
            signatures[parts[0]] = parts[2]
    returns = {}
    for name, signature in signatures.items():
        match = re.search(r"->\s*([\w:.]+)", signature)
        if match:
            returns[name] = match.group(1)
    resolved = {name: cls for name, text in returns.items() if (cls := _class_name(text, classes))}
    return ApiList(label, (major, minor), frozenset(names), frozenset(classes), resolved)


def _class_name(text: str, classes: set[str]) -> str | None:
    """``nvonnxparser::IParserError`` -> ``ParserError``; ``INetworkDefinition`` stays."""
    name = re.split(r"::|\.", text)[-1]
    if name in classes:
        return name
    if name.startswith("I") and name[1:] in classes:
        return name[1:]
    return None


@pytest.fixture(scope="module")
def api_lists() -> list[ApiList]:
    folder = find_api_dir()
    if folder is None:
        pytest.skip(
            "the TensorRT API name lists (../shared/trt-api/*.signatures.txt next to the repository) "
            "are not here"
        )
    return [read_api_list(p) for p in sorted(folder.glob("*.signatures.txt"))]


# -- collecting uses ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    name: str  # "BuilderFlag.FP16"
    path: str
    line: int
    how: str
    guard: str | None = None  # why the use is not checked
    runs_on: Predicate = field(default=ALWAYS, compare=False, hash=False)

    def where(self) -> str:
        return f"{self.path}:{self.line} ({self.how})"


def _literal(node: ast.AST | None, constants: dict[str, object]) -> object:
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    try:
        return ast.literal_eval(node) if node is not None else None
    except (ValueError, TypeError, SyntaxError):
        return _NOT_LITERAL


_NOT_LITERAL = object()
_VERSIONISH = re.compile(r"version|major|minor", re.IGNORECASE)
_COMPARE = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}
_FLIP = {
    ast.Lt: ast.Gt,
    ast.LtE: ast.GtE,
    ast.Gt: ast.Lt,
    ast.GtE: ast.LtE,
    ast.Eq: ast.Eq,
    ast.NotEq: ast.NotEq,
}


def _identifier(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _version_term(node: ast.AST) -> Callable[[Version], object] | None:
    ident = _identifier(node)
    if ident == "major":
        return lambda v: v[0]
    if ident == "minor":
        return lambda v: v[1]
    if isinstance(node, ast.Tuple) and [_identifier(e) for e in node.elts] == ["major", "minor"]:
        return lambda v: v
    if isinstance(node, ast.Call) and _identifier(node.func) == "parse_version":
        return lambda v: v
    return None


class FileUses:
    """The TensorRT uses of one source file."""

    def __init__(self, source: str, path: str) -> None:
        self.path = path
        self.tree = ast.parse(source, filename=path)
        self.constants = self._constants()
        self.aliases = self._aliases()
        self.polygraphy_names = self._polygraphy_names()
        self.helpers = self._getattr_helpers()
        self.functions = {n.name: n for n in ast.walk(self.tree) if isinstance(n, ast.FunctionDef)}
        self.param_types: dict[tuple[str, int], str] = {}
        self.uses: list[Use] = []
        self.returns: dict[str, str] = {}
        self.classes: frozenset[str] = frozenset()

    # module-level facts

    def _constants(self) -> dict[str, object]:
        constants = {}
        for node in self.tree.body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                value = _literal(node.value, {})
                if isinstance(value, (int, tuple)):
                    constants[node.targets[0].id] = value
        return constants

    def _aliases(self) -> dict[str, tuple[str, ...]]:
        aliases: dict[str, tuple[str, ...]] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "tensorrt":
                        aliases[alias.asname or "tensorrt"] = ()
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    if node.module == "tensorrt":
                        aliases[alias.asname or alias.name] = (alias.name,)
                    elif node.module.split(".")[0] == "polygraphy" and alias.name == "trt":
                        aliases[alias.asname or "trt"] = ()
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                call = node.value
                func = _identifier(call.func)
                first = call.args[0] if call.args else None
                if (
                    func in ("lazy_import", "import_module", "require")
                    and isinstance(first, ast.Constant)
                    and isinstance(first.value, str)
                    and re.match(r"tensorrt\b(?![._])", first.value)
                ):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            aliases[target.id] = ()
        return aliases

    def _polygraphy_names(self) -> set[str]:
        names = {
            alias.asname or alias.name
            for node in ast.walk(self.tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "polygraphy"
            for alias in node.names
        }
        # A Polygraphy module bound through graphfix's optional-import helper: loaders = require("polygraphy...")
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                first = node.value.args[0] if node.value.args else None
                if (_identifier(node.value.func) in ("require", "import_module")
                        and isinstance(first, ast.Constant) and isinstance(first.value, str)
                        and first.value.split(".")[0] == "polygraphy"):
                    names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        return names

    def _getattr_helpers(self) -> dict[str, tuple[int, int]]:
        """Functions whose body does ``getattr(param_i, param_j, default)``: name -> (i, j)."""
        helpers = {}
        for func in ast.walk(self.tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            params = [a.arg for a in func.args.args]
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Call)
                    and _identifier(node.func) == "getattr"
                    and len(node.args) == 3
                    and all(isinstance(a, ast.Name) and a.id in params for a in node.args[:2])
                ):
                    helpers[func.name] = (params.index(node.args[0].id), params.index(node.args[1].id))
        return helpers

    # expressions

    def chain(self, node: ast.AST) -> tuple[str, ...] | None:
        """The TensorRT name an expression denotes (``()`` for the module itself), or None."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.chain(node.value)
            return None if base is None else (*base, node.attr)
        return None

    def type_of(self, node: ast.AST, env: dict[str, str]) -> str | None:
        """The TensorRT class of a value, when the source shows it."""
        if isinstance(node, ast.Name):
            return env.get(node.id)
        if isinstance(node, ast.Call):
            chain = self.chain(node.func)
            if chain and ".".join(chain) in self.classes:
                return ".".join(chain)
            if isinstance(node.func, ast.Attribute):
                owner = self.type_of(node.func.value, env)
                if owner is not None:
                    return self.returns.get(f"{owner}.{node.func.attr}")
            return None
        if isinstance(node, ast.Attribute):
            owner = self.type_of(node.value, env)
            if owner is not None:
                return self.returns.get(f"{owner}.{node.attr}")
        return None

    def value_name(self, node: ast.AST, env: dict[str, str]) -> str | None:
        """The TensorRT name of a value: a chain on the module or a typed value."""
        chain = self.chain(node)
        if chain is not None:
            return ".".join(chain)
        return self.type_of(node, env)

    # statements

    def version_predicate(self, node: ast.AST) -> Predicate | None | str:
        """A predicate over (major, minor), None for a condition that is not about versions, or "unknown"."""
        if isinstance(node, ast.BoolOp):
            parts = [self.version_predicate(v) for v in node.values]
            if all(p is None for p in parts):
                return None
            if not all(callable(p) for p in parts):
                return "unknown"  # mixed with other conditions: not evaluated
            if isinstance(node.op, ast.And):
                return lambda v, ps=parts: all(p(v) for p in ps)
            return lambda v, ps=parts: any(p(v) for p in ps)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.version_predicate(node.operand)
            if callable(inner):
                return lambda v, p=inner: not p(v)
            return inner
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            left, right, op = node.left, node.comparators[0], type(node.ops[0])
            term, value = _version_term(left), _literal(right, self.constants)
            if term is None:
                term, value, op = _version_term(right), _literal(left, self.constants), _FLIP[op]
            if term is not None and isinstance(value, (int, tuple)):
                compare = _COMPARE[op]
                return lambda v, t=term, c=value, f=compare: bool(f(t(v), c))
        names = [_identifier(n) for n in ast.walk(node)]
        return "unknown" if any(n and _VERSIONISH.search(n) for n in names) else None

    def has_trt_hasattr(self, node: ast.AST, env: dict[str, str]) -> bool:
        return any(
            isinstance(n, ast.Call)
            and _identifier(n.func) == "hasattr"
            and n.args
            and self.value_name(n.args[0], env) is not None
            for n in ast.walk(node)
        )

    def collect(self, returns: dict[str, str], classes: frozenset[str]) -> list[Use]:
        self.returns, self.classes = returns, classes
        # Pass 1 learns parameter types from call sites; pass 2 records the uses with them.
        for record in (False, True):
            self.uses = []
            self.block(self.tree.body, {}, None, ALWAYS, record, None)
        return self.uses

    def block(
        self,
        body: list[ast.stmt],
        env: dict[str, str],
        guard: str | None,
        runs_on: Predicate,
        record: bool,
        func: str | None,
    ) -> None:
        for stmt in body:
            if isinstance(stmt, ast.FunctionDef):
                local = dict(env)
                for index, arg in enumerate(stmt.args.args):
                    if (stmt.name, index) in self.param_types:
                        local[arg.arg] = self.param_types[(stmt.name, index)]
                self.block(stmt.body, local, guard, runs_on, record, stmt.name)
            elif isinstance(stmt, ast.ClassDef):
                self.block(stmt.body, dict(env), guard, runs_on, record, func)
            elif isinstance(stmt, ast.If):
                self.expressions(stmt.test, env, guard, runs_on, record)
                predicate = self.version_predicate(stmt.test)
                if self.has_trt_hasattr(stmt.test, env):
                    self.block(stmt.body, env, guard or "inside if hasattr(...)", runs_on, record, func)
                    self.block(stmt.orelse, env, guard, runs_on, record, func)
                elif callable(predicate):
                    self.block(
                        stmt.body, env, guard, lambda v, a=runs_on, p=predicate: a(v) and p(v), record, func
                    )
                    negated = lambda v, a=runs_on, p=predicate: a(v) and not p(v)
                    self.block(stmt.orelse, env, guard, negated, record, func)
                    if stmt.body and isinstance(stmt.body[-1], (ast.Return, ast.Raise)):
                        runs_on = negated  # the statements after it run only where the condition is false
                elif predicate == "unknown":
                    unknown = guard or "under a version check the test cannot evaluate"
                    self.block(stmt.body, env, unknown, runs_on, record, func)
                    self.block(stmt.orelse, env, unknown, runs_on, record, func)
                else:
                    self.block(stmt.body, env, guard, runs_on, record, func)
                    self.block(stmt.orelse, env, guard, runs_on, record, func)
            elif isinstance(stmt, ast.Try):
                catches = any(self._catches_attribute_error(h) for h in stmt.handlers)
                self.block(
                    stmt.body,
                    env,
                    guard or ("inside try/except AttributeError" if catches else None),
                    runs_on,
                    record,
                    func,
                )
                for handler in stmt.handlers:
                    self.block(handler.body, env, guard, runs_on, record, func)
                self.block(stmt.orelse, env, guard, runs_on, record, func)
                self.block(stmt.finalbody, env, guard, runs_on, record, func)
            elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
                header = stmt.iter if isinstance(stmt, (ast.For, ast.AsyncFor)) else stmt.test
                self.expressions(header, env, guard, runs_on, record)
                self.block(stmt.body, env, guard, runs_on, record, func)
                self.block(stmt.orelse, env, guard, runs_on, record, func)
            elif isinstance(stmt, ast.ImportFrom) and stmt.module == "tensorrt":
                for alias in stmt.names:
                    if record and alias.name != "*":
                        self.add(alias.name, stmt, "from tensorrt import", guard, runs_on)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                for item in stmt.items:
                    self.expressions(item.context_expr, env, guard, runs_on, record)
                self.block(stmt.body, env, guard, runs_on, record, func)
            else:
                self.expressions(stmt, env, guard, runs_on, record)
                if (
                    isinstance(stmt, ast.Assign)
                    and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)
                ):
                    kind = self.type_of(stmt.value, env)
                    if kind is not None:
                        env[stmt.targets[0].id] = kind
                    else:
                        env.pop(stmt.targets[0].id, None)

    @staticmethod
    def _catches_attribute_error(handler: ast.ExceptHandler) -> bool:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        return any(kind is not None and _identifier(kind) == "AttributeError" for kind in kinds)

    def expressions(
        self, root: ast.AST, env: dict[str, str], guard: str | None, runs_on: Predicate, record: bool
    ) -> None:
        inner = set()
        for node in ast.walk(root):
            if isinstance(node, ast.Attribute):
                inner.add(id(node.value))
        for node in ast.walk(root):
            if isinstance(node, ast.Call):
                self.call(node, env, guard, runs_on, record)
            if not record or not isinstance(node, ast.Attribute) or id(node) in inner:
                continue
            # The outermost attribute of a chain: trt.A.B, or typed_value.attr.
            chain = self.chain(node)
            if chain is not None:
                self.add(".".join(chain), node, "attribute", guard, runs_on)
                continue
            owner = self.type_of(node.value, env)
            if owner is not None:
                self.add(f"{owner}.{node.attr}", node, "attribute of a typed value", guard, runs_on)
            else:
                # A chain inside the attribute (trt.X(...).y is recorded as X by its own node).
                base = node.value
                while isinstance(base, ast.Attribute):
                    owner = self.type_of(base.value, env)
                    if owner is not None or self.chain(base) is not None:
                        name = (
                            ".".join(self.chain(base))
                            if self.chain(base) is not None
                            else f"{owner}.{base.attr}"
                        )
                        self.add(name, base, "attribute", guard, runs_on)
                        break
                    base = base.value

    def call(
        self, node: ast.Call, env: dict[str, str], guard: str | None, runs_on: Predicate, record: bool
    ) -> None:
        func = _identifier(node.func)
        # Parameter types for functions of this file.
        if isinstance(node.func, ast.Name) and func in self.functions:
            for index, arg in enumerate(node.args):
                kind = self.type_of(arg, env)
                if kind is not None:
                    self.param_types[(func, index)] = kind
        if not record:
            return
        if func == "getattr" and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
            owner = self.value_name(node.args[0], env)
            if owner is not None and isinstance(node.args[1].value, str):
                name = f"{owner}.{node.args[1].value}" if owner else node.args[1].value
                self.add(
                    name, node, "getattr", "getattr with a default" if len(node.args) == 3 else guard, runs_on
                )
        elif isinstance(node.func, ast.Name) and func in self.helpers:
            obj, attr = self.helpers[func]
            if len(node.args) > max(obj, attr) and isinstance(node.args[attr], ast.Constant):
                owner = self.value_name(node.args[obj], env)
                if owner is not None:
                    name = f"{owner}.{node.args[attr].value}" if owner else str(node.args[attr].value)
                    self.add(
                        name, node, f"{func}() (getattr with a default)", "getattr with a default", runs_on
                    )
        elif func in POLYGRAPHY_REACHES and (
            func in self.polygraphy_names
            or (isinstance(node.func, ast.Attribute) and _identifier(node.func.value) in self.polygraphy_names)
        ):
            for keyword in node.keywords:
                reached = POLYGRAPHY_REACHES[func].get(keyword.arg or "")
                if not reached or _literal(keyword.value, {}) in (False, None):
                    continue
                for name in reached:
                    self.add(name, node, f"Polygraphy {func}({keyword.arg}=...)", guard, runs_on)

    def add(self, name: str, node: ast.AST, how: str, guard: str | None, runs_on: Predicate) -> None:
        if name:
            self.uses.append(Use(name, self.path, getattr(node, "lineno", 0), how, guard, runs_on))


def source_files(repo: Path = REPO) -> Iterator[Path]:
    for folder in SOURCE_DIRS:
        yield from sorted((repo / folder).rglob("*.py"))


def collect_uses(lists: list[ApiList], repo: Path = REPO) -> list[Use]:
    returns: dict[str, str] = {}
    classes: set[str] = set()
    for api in sorted(lists, key=lambda a: a.version):  # newer signatures win
        returns.update(api.returns)
        classes |= api.classes
    uses = []
    for path in source_files(repo):
        file = FileUses(path.read_text(encoding="utf-8"), str(path.relative_to(repo)))
        uses.extend(file.collect(returns, frozenset(classes)))
    return uses


def checks(lists: list[ApiList]) -> list[tuple[str, ApiList, list[Use]]]:
    """(name, version list, the unguarded uses that run on it) for every name and version to check."""
    by_pair: dict[tuple[str, str], list[Use]] = {}
    labels = {api.label: api for api in lists}
    for use in collect_uses(lists):
        if use.guard is not None:
            continue
        for api in lists:
            if use.runs_on(api.version):
                by_pair.setdefault((use.name, api.label), []).append(use)
    return [(name, labels[label], uses) for (name, label), uses in sorted(by_pair.items())]


# -- parametrization (the lists are read at collection time; without them the checks skip) ---------------

_API_DIR = find_api_dir()
_LISTS = [read_api_list(p) for p in sorted(_API_DIR.glob("*.signatures.txt"))] if _API_DIR else []
_CHECKS = checks(_LISTS) if _LISTS else []


def _params() -> list:
    if not _CHECKS:
        return [pytest.param(None, None, None, id="no-trt-api-lists")]
    params = []
    for name, api, uses in _CHECKS:
        marks = []
        reason = EXPECTED_FAILURES.get((name, api.label))
        if reason is not None:
            marks.append(pytest.mark.xfail(reason=reason, strict=True))
        params.append(pytest.param(name, api, uses, id=f"{name}@{api.label}", marks=marks))
    return params


@pytest.mark.parametrize(("name", "api", "uses"), _params())
def test_name_exists(name: str | None, api: ApiList | None, uses: list[Use] | None) -> None:
    if api is None:
        pytest.skip(
            "the TensorRT API name lists (../shared/trt-api/*.signatures.txt next to the repository) "
            "are not here"
        )
    assert name in api.names, f"TensorRT {api.label} has no {name}, used unguarded at " + "; ".join(
        u.where() for u in uses
    )


def test_expected_failures_are_still_collected(api_lists: list[ApiList]) -> None:
    """An expected failure whose use disappeared (moved under a guard, or removed) must leave the list."""
    pairs = {(name, api.label) for name, api, _ in checks(api_lists)}
    assert set(EXPECTED_FAILURES) <= pairs, sorted(set(EXPECTED_FAILURES) - pairs)


def test_every_source_file_parses_and_uses_are_found(api_lists: list[ApiList]) -> None:
    files = list(source_files())
    assert len(files) > 10 and any(p.parent.name == "rules" for p in files)
    uses = collect_uses(api_lists)
    names = {u.name for u in uses}
    # graphfix builds engines through Polygraphy and reads parser errors itself; whatever the file layout,
    # the collector must see those uses.
    assert "OnnxParser" in names and "OnnxParser.parse_from_file" in names
    # (the parser's error objects are reached through a parameter in another module: the hand list in
    # tests/compiling/test_trt_api.py covers ParserError and the timing cache)
    assert any(u.guard == "getattr with a default" for u in uses)


# -- the collector on small sources -------------------------------------------------------------------


def _uses(source: str) -> dict[str, Use]:
    classes = frozenset({"OnnxParser", "ParserError", "Builder", "INetworkDefinition", "BuilderFlag"})
    returns = {"OnnxParser.get_error": "ParserError", "Builder.create_network": "INetworkDefinition"}
    file = FileUses(source, "example.py")
    return {u.name: u for u in file.collect(returns, classes)}


def test_collects_chains_getattr_and_typed_values() -> None:
    uses = _uses(
        "import tensorrt as trt\n"
        "from tensorrt import BuilderFlag as BF\n"
        "from graphfix.backends import tensorrt as not_trt\n"
        "def f(network, logger):\n"
        "    flag = trt.BuilderFlag.FP16\n"
        "    other = BF.INT8\n"
        "    parser = trt.OnnxParser(network, logger)\n"
        "    parser.parse_from_file('m.onnx')\n"
        "    g(parser)\n"
        "    name = getattr(trt.BuilderFlag, 'BF16')\n"
        "    not_trt.plan_build\n"
        "def g(parser):\n"
        "    for i in range(parser.num_errors):\n"
        "        error = parser.get_error(i)\n"
        "        error.node_name()\n"
        "        _call(error, 'node_operator')\n"
        "def _call(obj, method):\n"
        "    return getattr(obj, method, None)\n"
    )
    assert {
        "BuilderFlag.FP16",
        "BuilderFlag.INT8",
        "OnnxParser",
        "OnnxParser.parse_from_file",
        "OnnxParser.num_errors",
        "OnnxParser.get_error",
        "ParserError.node_name",
        "BuilderFlag.BF16",
        "ParserError.node_operator",
    } <= set(uses)
    assert not any("plan_build" in name for name in uses)
    assert uses["ParserError.node_name"].guard is None
    assert uses["ParserError.node_operator"].guard == "getattr with a default"
    assert uses["BuilderFlag.FP16"].line == 5


def test_guards() -> None:
    uses = _uses(
        "from polygraphy import mod\n"
        "trt = mod.lazy_import('tensorrt>=8.5')\n"
        "def f():\n"
        "    if hasattr(trt.BuilderFlag, 'FP16'):\n"
        "        trt.BuilderFlag.FP16\n"
        "    try:\n"
        "        trt.BuilderFlag.INT8\n"
        "    except (ImportError, AttributeError):\n"
        "        pass\n"
        "    try:\n"
        "        trt.BuilderFlag.BF16\n"
        "    except Exception:\n"
        "        pass\n"
        "    getattr(trt, '__version__', None)\n"
        "    if trt_version_is_new_enough():\n"
        "        trt.BuilderFlag.FP8\n"
    )
    assert uses["BuilderFlag.FP16"].guard == "inside if hasattr(...)"
    assert uses["BuilderFlag.INT8"].guard == "inside try/except AttributeError"
    assert uses["BuilderFlag.BF16"].guard is None  # a broad except does not count
    assert uses["__version__"].guard == "getattr with a default"
    assert uses["BuilderFlag.FP8"].guard == "under a version check the test cannot evaluate"


def test_version_checks_narrow_the_versions() -> None:
    uses = _uses(
        "import tensorrt as trt\n"
        "STRONG = (10, 12)\n"
        "def f(major, minor, plan):\n"
        "    if major >= 11:\n"
        "        trt.A\n"
        "    else:\n"
        "        trt.B\n"
        "    if (major, minor) < STRONG and not plan.major == 8:\n"
        "        trt.C\n"
        "    if major < 10:\n"
        "        return trt.D\n"
        "    trt.E\n"
    )
    runs = {
        name: [v for v in [(8, 6), (10, 0), (10, 12), (11, 0)] if use.runs_on(v)]
        for name, use in uses.items()
    }
    assert runs["A"] == [(11, 0)]
    assert runs["B"] == [(8, 6), (10, 0), (10, 12)]
    assert runs["C"] == [(10, 0)]
    assert runs["D"] == [(8, 6)]
    assert runs["E"] == [(10, 0), (10, 12), (11, 0)]
    assert all(use.guard is None for use in uses.values())


def test_polygraphy_keywords_reach_tensorrt_names() -> None:
    uses = _uses(
        "from polygraphy.backend.trt import CreateConfig, NetworkFromOnnxPath\n"
        "def f(plan, pools):\n"
        "    CreateConfig(fp16='FP16' in plan.flags, int8=False, memory_pool_limits=None, profiles=[p])\n"
        "    NetworkFromOnnxPath('m.onnx', strongly_typed=plan.strongly_typed)\n"
    )
    assert uses["BuilderFlag.FP16"].how == "Polygraphy CreateConfig(fp16=...)"
    assert "BuilderFlag.INT8" not in uses and "IBuilderConfig.set_memory_pool_limit" not in uses
    assert "IOptimizationProfile.set_shape" in uses
    assert "NetworkDefinitionCreationFlag.STRONGLY_TYPED" in uses


def test_api_list_reader(tmp_path: Path) -> None:
    path = tmp_path / "10.12.0.36.signatures.txt"
    path.write_text(
        "OnnxParser\tclass\t(x)\nParserError\tclass\t(x)\n"
        "OnnxParser.get_error\tmethod\tget_error(self: OnnxParser, index: int) "
        "-> nvonnxparser::IParserError\n"
        "BuilderFlag\tenum\t(x)\nBuilderFlag.FP16\tenum_value\n",
        encoding="utf-8",
    )
    api = read_api_list(path)
    assert api.version == (10, 12) and api.label == "10.12.0.36"
    assert "BuilderFlag.FP16" in api.names and api.returns["OnnxParser.get_error"] == "ParserError"


def test_finds_the_lists_next_to_the_main_checkout_of_a_worktree(tmp_path: Path) -> None:
    main, worktree = tmp_path / "main", tmp_path / "wt" / "feature"
    (main / ".git" / "worktrees" / "feature").mkdir(parents=True)
    worktree.mkdir(parents=True)
    (worktree / ".git").write_text(f"gitdir: {main / '.git' / 'worktrees' / 'feature'}\n", encoding="utf-8")
    assert find_api_dir(worktree) is None
    lists = tmp_path / "shared" / "trt-api"
    lists.mkdir(parents=True)
    (lists / "8.6.1.signatures.txt").write_text("Builder\tclass\n", encoding="utf-8")
    assert find_api_dir(worktree) == lists
