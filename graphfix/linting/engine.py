"""Running the rules: analyse the model once, run every selected rule on it, sort the findings.

A rule that raises does not hide the others: its crash is reported with the crash meta rule's code
(``graphfix.rules.RULE_CRASHED``). Findings are sorted by where their node sits in the graph
(model-level findings first), then by code, so the report reads in graph order whatever the rules' order.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import onnx_ir as ir

from graphfix.analyse.walker import analyse
from graphfix.ir.loading import LoadedModel
from graphfix.linting.registry import all_rules, crash_rule, is_selected
from graphfix.linting.rule import Context, Finding, Options, Rule
from graphfix.linting.trace import NearMiss, near_misses_of


@dataclass
class Report:
    """Findings for one model (``error`` set, and no findings, when it could not be checked)."""

    file: str
    findings: list[Finding]
    nodes: int = 0
    seconds: float = 0.0
    error: str | None = None
    near_misses: list[NearMiss] = field(default_factory=list)  # why rules did not fire, per node
    # The TensorRT version the GF5xx rules checked ("10.16") and how it was chosen ("requested",
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

    def explain(self, node: str) -> list[NearMiss]:
        """Why the rules did not fire on ``node`` (a node name, or ``Op(first output)``)."""
        return near_misses_of(self.near_misses, node)

    def to_dict(self) -> dict[str, object]:
        """The report as ``graphfix lint --format json`` writes each file (docs/json-format.md)."""
        return {
            "file": self.file,
            "nodes": self.nodes,
            "seconds": round(self.seconds, 4),
            "error": self.error,
            "trt_version": self.trt_version,
            "findings": [f.to_dict() for f in self.findings],
        }


def sort_findings(findings: list[Finding], positions: Mapping[ir.Node, int]) -> list[Finding]:
    """Findings in graph order: by their node's position (model-level first), then by code."""
    return sorted(findings, key=lambda f: (positions.get(f.node, -1) if f.node is not None else -1, f.code))


def run_rules(
    ctx: Context,
    rules: Sequence[type[Rule]],
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    on_crash: Callable[[type[Rule], BaseException], None] | None = None,
) -> list[Finding]:
    """Run the selected ``rules`` on ``ctx`` and return their findings in graph order."""
    findings: list[Finding] = []
    crashed = crash_rule()
    for rule in rules:
        if not is_selected(rule.code, select, ignore):
            continue
        ctx.rule_code = rule.code
        try:
            findings.extend(rule().check(ctx))
        except Exception as error:  # one broken rule must not hide the others' findings
            if on_crash is not None:
                on_crash(rule, error)
            if is_selected(crashed.code, select, ignore):
                where = traceback.extract_tb(error.__traceback__)[-1]
                findings.append(crashed().finding(
                    f"rule {rule.code} crashed: {type(error).__name__}: {error} "
                    f"(at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}); please report this"))
    ctx.rule_code = ""
    return sort_findings(findings, ctx.analysis.positions)


def lint_loaded(
    loaded: LoadedModel,
    options: Options | None = None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> tuple[Report, Context]:
    """Analyse ``loaded`` and run every selected rule on it; the report, and the context rules saw.

    Raises:
        UsageError: ``options.input_shapes`` do not fit the model's inputs.
    """
    options = options or Options()
    start = time.perf_counter()
    analysis = analyse(loaded, options.input_shapes, custom_ops=options.custom_ops)
    ctx = Context(loaded, analysis, options)
    findings = run_rules(ctx, all_rules(), select, ignore)
    report = Report(loaded.label, findings, nodes=len(analysis.order), seconds=time.perf_counter() - start,
                    near_misses=ctx.near_misses)
    if any(is_selected(rule.code, select, ignore) for rule in all_rules() if rule.checks_trt_target):
        from graphfix.targets.target import resolve_target

        target = resolve_target(options.trt_version)
        report.trt_version, report.trt_version_source = target.version, target.source
    return report, ctx
