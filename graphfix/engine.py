"""The rule engine: rules inspect an analysed model read-only and yield findings with fix plans.

A rule is a class in its own module under ``rules/`` (installed as ``graphfix.rules``) whose module
docstring is its documentation. Rules never mutate the model: a fix is a *plan*, plain data that the
editor applies later (``graphfix.editor``). That keeps lint side-effect free and lets ``fix`` re-run the
rules on the edited model until nothing changes.
"""

from __future__ import annotations

import enum
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import onnx_ir as ir

from graphfix.analysis import Analysis, analyse
from graphfix.errors import UsageError
from graphfix.graphutil import node_label
from graphfix.loading import LoadedModel
from graphfix.narrowing import NarrowDouble
from graphfix.opset import ConvertOpset


class FixAvailability(enum.Enum):
    ALWAYS = "always"
    SOMETIMES = "sometimes"
    NEVER = "never"


class Safety(enum.Enum):
    """What applying a fix needs from the user."""

    SAFE = "safe"  # numerics unchanged at every batch size: applied by plain ``fix``
    UNSAFE = "unsafe"  # changes results at batch sizes other than the export one: ``--unsafe-fixes``
    NEEDS_SHAPE = "needs-shape"  # pins a dynamic dim: only with the user's ``--input-shape``
    NEEDS_DYNAMIC_BATCH = "needs-dynamic-batch"  # makes the batch dynamic: ``--dynamic-batch``


# -- fix plans ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetInputs:
    """Replace inputs of a node by constants (None drops an optional input)."""

    node: ir.Node
    inputs: Mapping[int, np.ndarray | None]
    # Verify the rewrite at this batch size (the export batch) rather than at the default probes.
    check_batch: int | None = None

    def describe(self) -> str:
        parts = []
        for index, array in sorted(self.inputs.items()):
            parts.append(f"input {index} := " + ("(removed)" if array is None else _format_array(array)))
        return f"{node_label(self.node)}: " + ", ".join(parts)


def declared_dim(dim: int | ir.SymbolicDim) -> int | str | None:
    """A declared dim as plan data: its size, its symbol's name, or None for an unnamed dynamic dim."""
    return dim if isinstance(dim, int) else dim.value  # type: ignore[return-value]


@dataclass(frozen=True)
class SetDims:
    """Set the declared dims of a graph input or output (ints pin, strings name a dynamic dim, None
    leaves it dynamic and unnamed)."""

    value: ir.Value
    dims: tuple[int | str | None, ...]

    def describe(self) -> str:
        return f"{self.value.name}: [{', '.join('?' if d is None else str(d) for d in self.dims)}]"


@dataclass(frozen=True)
class BatchShape:
    """Replace a node's input by the shortest run-time form of a batch-dependent shape vector:
    ``Concat(Shape(source)[0:1] * k, constants...)``, where ``source`` is a graph input whose dim 0 is the
    batch. Each entry is an int constant or ``("batch", k)``."""

    node: ir.Node
    index: int
    source: ir.Value
    entries: tuple[int | tuple[str, int], ...]

    def node_count(self, opset: int) -> int:
        multipliers = {e[1] for e in self.entries if isinstance(e, tuple) and e[1] != 1}
        return 1 + (opset < 15) + len(multipliers) + (len(self.entries) > 1)

    def describe(self) -> str:
        parts = []
        for entry in self.entries:
            if isinstance(entry, tuple):
                parts.append(f"{self.source.name}.shape[0]" + (f"*{entry[1]}" if entry[1] != 1 else ""))
            else:
                parts.append(str(entry))
        return f"{node_label(self.node)}: input {self.index} := [{', '.join(parts)}]"


FixPlan = SetInputs | SetDims | BatchShape | ConvertOpset | NarrowDouble
FindingSeverity = Literal["error", "info"]


def _format_array(array: np.ndarray) -> str:
    flat = np.asarray(array).reshape(-1)
    if flat.dtype.kind == "f":
        text = ", ".join(f"{float(v):g}" for v in flat[:16])
    else:
        text = ", ".join(str(int(v)) for v in flat[:16])
    return f"[{text}{', ...' if flat.size > 16 else ''}]"


# -- findings -------------------------------------------------------------------------------------------


@dataclass
class Finding:
    code: str
    name: str
    message: str
    node: ir.Node | None = None
    fix: tuple[FixPlan, ...] = ()
    safety: Safety = Safety.SAFE
    reason: str | None = None  # why it is not fixable, when it is not
    chain: tuple[str, ...] = ()  # names of the nodes the finding came from
    # "error": a problem (lint exits 1); "info": shown and marked, never fails the run.
    severity: FindingSeverity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity != "info"

    @property
    def fixable(self) -> bool:
        return bool(self.fix)

    @property
    def node_name(self) -> str | None:
        return node_label(self.node) if self.node is not None else None

    @property
    def op_type(self) -> str | None:
        return self.node.op_type if self.node is not None else None

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "node": self.node_name,
            "op_type": self.op_type,
            "message": self.message,
            "fixable": self.fixable,
            "fix_safety": self.safety.value if self.fixable else None,
            "fix": [plan.describe() for plan in self.fix],
            "reason": self.reason,
            "chain": list(self.chain),
            "severity": self.severity,
        }


@dataclass
class Options:
    """What the user told graphfix about the model."""

    input_shapes: Mapping[str, Sequence[int]] = field(default_factory=dict)
    reshape_overrides: Mapping[str, Sequence[int]] = field(default_factory=dict)
    # The TensorRT version the GF5xx rules check ("8.6", "10", "10.12"); None: the installed TensorRT's,
    # else the newest support table (graphfix.targets.target.resolve_target).
    trt_version: str | None = None


@dataclass
class Context:
    """What a rule sees: the loaded model, its analysis and the user's options."""

    loaded: LoadedModel
    analysis: Analysis
    options: Options

    @property
    def model(self) -> ir.Model:
        return self.loaded.model


class Rule:
    """Base of every rule. Subclasses set the class attributes and implement ``check``."""

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    fix_availability: ClassVar[FixAvailability] = FixAvailability.NEVER

    def check(self, ctx: Context) -> Iterable[Finding]:
        raise NotImplementedError

    def finding(self, message: str, node: ir.Node | None = None, **kwargs: object) -> Finding:
        return Finding(self.code, self.name, message, node, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def documentation(cls) -> str:
        module = sys.modules[cls.__module__]
        return (module.__doc__ or "").strip()


# -- selection ------------------------------------------------------------------------------------------


def all_rules() -> list[type[Rule]]:
    from graphfix.rules import RULES

    return list(RULES)


def rule_by_code(code: str) -> type[Rule]:
    for rule in all_rules():
        if rule.code == code.upper():
            return rule
    raise UsageError(f"no rule {code!r}; `graphfix rules` lists them")


def parse_selectors(text: str | Sequence[str] | None) -> list[str]:
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else [part for t in text for part in t.split(",")]
    selectors = [item.strip().upper() for item in items if item.strip()]
    codes = [rule.code for rule in all_rules()] + ["GF999"]
    for selector in selectors:
        if selector != "ALL" and not any(code.startswith(selector) for code in codes):
            raise UsageError(f"selector {selector!r} matches no rule code (codes look like GF101; "
                             "prefixes such as GF1 select a family)")
    return selectors


def is_selected(code: str, select: Sequence[str], ignore: Sequence[str]) -> bool:
    """ruff's rule: the most specific matching selector wins; selecting nothing selects everything."""

    def best(selectors: Sequence[str]) -> int:
        lengths = [len(s) if s != "ALL" else 0 for s in selectors if s == "ALL" or code.startswith(s)]
        return max(lengths, default=-1)

    chosen = best(select) if select else 0
    if chosen < 0:
        return False
    dropped = best(ignore)
    return dropped < 0 or chosen > dropped


# -- running --------------------------------------------------------------------------------------------


@dataclass
class Report:
    """Findings for one model."""

    file: str
    findings: list[Finding]
    nodes: int = 0
    seconds: float = 0.0
    error: str | None = None
    # The TensorRT version the GF5xx rules checked ("10.16"), and how it was chosen ("requested",
    # "installed", "newest"); None when no GF5xx rule ran.
    trt_version: str | None = None
    trt_version_source: str | None = None

    @property
    def fixable(self) -> list[Finding]:
        return [f for f in self.findings if f.fixable]

    @property
    def errors(self) -> list[Finding]:
        """The findings that fail the run (every finding but information)."""
        return [f for f in self.findings if f.is_error]

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "nodes": self.nodes,
            "seconds": round(self.seconds, 4),
            "error": self.error,
            "trt_version": self.trt_version,
            "findings": [f.to_dict() for f in self.findings],
        }


def run_rules(
    ctx: Context,
    rules: Sequence[type[Rule]],
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    on_crash: Callable[[type[Rule], BaseException], None] | None = None,
) -> list[Finding]:
    findings: list[Finding] = []
    for rule in rules:
        if not is_selected(rule.code, select, ignore):
            continue
        try:
            findings.extend(rule().check(ctx))
        except Exception as error:  # one broken rule must not hide the others' findings
            if on_crash is not None:
                on_crash(rule, error)
            if is_selected("GF999", select, ignore):
                where = traceback.extract_tb(error.__traceback__)[-1]
                findings.append(Finding("GF999", "rule-crashed",
                                        f"rule {rule.code} crashed: {type(error).__name__}: {error} "
                                        f"(at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}); "
                                        "please report this"))
    position = ctx.analysis.positions
    findings.sort(key=lambda f: (position.get(f.node, -1) if f.node is not None else -1, f.code))
    return findings


def lint_loaded(
    loaded: LoadedModel,
    options: Options | None = None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> tuple[Report, Context]:
    options = options or Options()
    start = time.perf_counter()
    analysis = analyse(loaded, options.input_shapes)
    ctx = Context(loaded, analysis, options)
    findings = run_rules(ctx, all_rules(), select, ignore)
    report = Report(loaded.label, findings, nodes=len(analysis.order), seconds=time.perf_counter() - start)
    if any(is_selected(rule.code, select, ignore) for rule in all_rules() if rule.code.startswith("GF5")):
        from graphfix.targets.target import resolve_target

        target = resolve_target(options.trt_version)
        report.trt_version, report.trt_version_source = target.version, target.source
    return report, ctx
