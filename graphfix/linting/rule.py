"""What a rule is, what it sees and what it yields.

A rule is a class in its own module under ``rules/`` (installed as ``graphfix.rules``) whose module
docstring is its documentation. Its ``check`` reads the :class:`Context` (the model and its analysis)
and yields :class:`Finding` s; a fix is a *plan* (:mod:`graphfix.linting.plans`), plain data that the
editor applies later. Why a rule did not fire on a node is recorded with :meth:`Context.skip`.

A rule also declares, as data: its SARIF :class:`Severity` and the TensorRT parser or builder errors its
fix removes (:class:`TensorRTError`), so that nothing outside ``rules/`` names a rule code.
"""

from __future__ import annotations

import enum
import re
import sys
import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

import onnx_ir as ir

from graphfix.analyse.analysis import Analysis
from graphfix.ir.graphutil import node_label
from graphfix.ir.loading import LoadedModel
from graphfix.linting.plans import FixPlan
from graphfix.linting.trace import NearMiss

if TYPE_CHECKING:
    from graphfix.plugins.registry import Registry


FindingSeverity = Literal["error", "info"]
"""How a finding counts: ``error`` fails the run, ``info`` is shown and marked only."""


class FixAvailability(enum.Enum):
    """Whether a rule's findings come with a fix."""

    ALWAYS = "always"
    SOMETIMES = "sometimes"
    NEVER = "never"


class Safety(enum.Enum):
    """What applying a fix needs from the user."""

    SAFE = "safe"  # numerics unchanged at every batch size: applied by plain ``fix``
    UNSAFE = "unsafe"  # changes results at batch sizes other than the export one: ``unsafe_fixes=True``
    NEEDS_SHAPE = "needs-shape"  # pins a dynamic dim: only with the user's ``input_shapes``
    NEEDS_DYNAMIC_BATCH = "needs-dynamic-batch"  # makes the batch dynamic: ``dynamic_batch=True``


class Severity(enum.Enum):
    """How a rule's findings are reported in SARIF (its ``level``)."""

    ERROR = "error"  # graphfix could not check the file at all
    WARNING = "warning"  # a problem for TensorRT
    NOTE = "note"  # information: where graphfix's own analysis stops


@dataclass(frozen=True)
class TensorRTError:
    """A TensorRT ONNX-parser or builder error that a rule's fix removes.

    Matched against the failing node's op type and TensorRT's text (regular expressions, case
    insensitive). When several rules match, the lowest ``priority`` wins.
    """

    message: str  # searched in TensorRT's text
    # The failing node's op must be one of these (empty: any op); a frozenset, or a collection that answers
    # lazily (GF501's every ONNX operator).
    ops: Collection[str] = frozenset()
    # When TensorRT names no op (a builder error): this must also be found in the text for the pattern to
    # apply (None: it applies only when ``ops`` is empty).
    unknown_op: str | None = None
    priority: int = 50

    def matches(self, op_type: str | None, text: str) -> bool:
        """Whether an error from a node of ``op_type`` (None: unknown) with ``text`` is this one."""
        if re.search(self.message, text, re.IGNORECASE) is None:
            return False
        if op_type:
            return not self.ops or op_type in self.ops
        if not self.ops:
            return True
        return self.unknown_op is not None and re.search(self.unknown_op, text, re.IGNORECASE) is not None


@dataclass
class Finding:
    """One rule violation: where, what, and (when fixable) the plans that fix it."""

    code: str
    name: str
    message: str
    node: ir.Node | None = None
    fix: tuple[FixPlan, ...] = ()
    safety: Safety = Safety.SAFE  # what applying the fix needs (also set when it is refused)
    reason: str | None = None  # why it is not fixable, when it is not
    chain: tuple[str, ...] = ()  # names of the nodes the finding came from
    # "error": a problem (lint exits 1); "info": shown and marked, never fails the run (an INT64 tensor
    # TensorRT narrows itself, a restriction the graph alone cannot decide, a node that needs a plugin).
    severity: FindingSeverity = "error"

    @property
    def fixable(self) -> bool:
        return bool(self.fix)

    @property
    def is_error(self) -> bool:
        """Whether the finding fails the run (every finding but information)."""
        return self.severity != "info"

    @property
    def node_name(self) -> str | None:
        return node_label(self.node) if self.node is not None else None

    @property
    def op_type(self) -> str | None:
        return self.node.op_type if self.node is not None else None

    def to_dict(self) -> dict[str, object]:
        """The finding as ``graphfix lint --format json`` writes it (docs/json-format.md)."""
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

    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    reshape_overrides: dict[str, list[int]] = field(default_factory=dict)
    # The TensorRT version the GF5xx rules check ("8.6", "10", "10.12"); None: the installed TensorRT's,
    # else the newest support table (graphfix.targets.target.resolve_target).
    trt_version: str | None = None
    # Reference implementations of custom ops (--custom-ops; None: the active registry).
    custom_ops: Registry | None = None
    plugins: tuple[str, ...] = ()  # --plugins files: TensorRT plugins known for custom ops
    plugin_namespace: str = ""  # --plugin-namespace: written on the stock plugin form


@dataclass
class Context:
    """What a rule sees: the loaded model, its analysis and the user's options; and where it records why
    it did not fire."""

    loaded: LoadedModel
    analysis: Analysis
    options: Options
    near_misses: list[NearMiss] = field(default_factory=list)
    rule_code: str = ""  # the rule now running (set by the engine)

    @property
    def model(self) -> ir.Model:
        return self.loaded.model

    @functools.cached_property
    def all_nodes(self) -> tuple[ir.Node, ...]:
        """Every node of the model (subgraphs and local function bodies included), listed once for the
        rules that look past the main graph (the model does not change while rules run)."""
        from graphfix.plugins.nodes import iter_nodes

        return tuple(iter_nodes(self.model))

    def skip(self, node: ir.Node | None, reason: str) -> None:
        """Record that the running rule looked at ``node`` (None: the model) and did not fire, and why."""
        self.near_misses.append(NearMiss(self.rule_code, node_label(node) if node is not None else None, reason))


class Rule:
    """Base of every rule. Subclasses set the class attributes and implement ``check``."""

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    fix_availability: ClassVar[FixAvailability] = FixAvailability.NEVER
    severity: ClassVar[Severity] = Severity.WARNING
    tensorrt_errors: ClassVar[tuple[TensorRTError, ...]] = ()
    # The rule checks the target TensorRT version's support table (the GF5xx family): a run that selects
    # one resolves the version (``Options.trt_version``) and names it in its report.
    checks_trt_target: ClassVar[bool] = False

    def check(self, ctx: Context) -> Iterable[Finding]:
        """Yield the findings for ``ctx.model``; never modify it."""
        raise NotImplementedError

    def finding(
        self,
        message: str,
        node: ir.Node | None = None,
        *,
        fix: Sequence[FixPlan] = (),
        safety: Safety = Safety.SAFE,
        reason: str | None = None,
        chain: Sequence[str] = (),
        severity: FindingSeverity = "error",
    ) -> Finding:
        """A finding of this rule (``severity="info"``: information that never fails the run)."""
        return Finding(self.code, self.name, message, node, tuple(fix), safety, reason, tuple(chain), severity)

    @classmethod
    def documentation(cls) -> str:
        """The rule's documentation: its module's docstring."""
        module = sys.modules[cls.__module__]
        return (module.__doc__ or "").strip()
