"""Rendering lint reports: text (rich), JSON and SARIF; ``--explain``'s near misses.

The JSON layout is documented in ``docs/json-format.md`` and versioned by ``FORMAT_VERSION``; fields are
only ever added.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
from collections import Counter
from collections.abc import Sequence

from graphfix import __version__
from graphfix.linting import Report, Rule, Safety, documented_rules
from graphfix.linting.registry import unreadable_rule

if TYPE_CHECKING:
    from rich.console import Console

FORMAT_VERSION = 1

_SAFETY_HINT = {
    Safety.SAFE: "",
    Safety.UNSAFE: "--unsafe-fixes",
    Safety.NEEDS_SHAPE: "--input-shape",
    Safety.NEEDS_DYNAMIC_BATCH: "--dynamic-batch",
}


def summary(reports: Sequence[Report]) -> dict[str, int]:
    findings = [f for r in reports for f in r.findings]
    return {
        "files": len(reports),
        "errors": sum(1 for r in reports if r.error),
        "findings": len(findings),
        "information": sum(1 for f in findings if not f.is_error),
        "fixable": sum(1 for f in findings if f.fixable and f.safety is Safety.SAFE),
        "fixable_with_options": sum(1 for f in findings if f.fixable and f.safety is not Safety.SAFE),
    }


def to_json(reports: Sequence[Report], *, explain: str | None = None) -> str:
    """The JSON report (docs/json-format.md); with ``explain``, each file gets a ``debug`` field with the
    near misses of that node."""
    files = []
    for report in reports:
        entry = report.to_dict()
        if explain is not None:
            entry["debug"] = {"explain": explain,
                              "near_misses": [miss.to_dict() for miss in report.explain(explain)]}
        files.append(entry)
    return json.dumps({
        "version": FORMAT_VERSION,
        "graphfix": __version__,
        "files": files,
        "summary": summary(reports),
    }, indent=2)


def to_sarif(reports: Sequence[Report]) -> str:
    """SARIF 2.1.0; each result's level is its rule's severity."""
    rules = documented_rules()
    index = {rule.code: i for i, rule in enumerate(rules)}
    by_code = {rule.code: rule for rule in rules}
    unreadable = unreadable_rule()
    results = []
    for report in reports:
        for finding in report.findings:
            rule = by_code.get(finding.code)
            result: dict[str, object] = {
                "ruleId": finding.code,
                # Information is a note whatever the rule's severity.
                "level": "note" if not finding.is_error else rule.severity.value if rule is not None else "warning",
                "message": {"text": finding.message},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": report.file}},
                    **({"logicalLocations": [{"name": finding.node_name, "kind": "member"}]}
                       if finding.node_name else {}),
                }],
                "properties": {"fixable": finding.fixable, "fixSafety": finding.safety.value,
                               "severity": finding.severity},
            }
            if finding.code in index:
                result["ruleIndex"] = index[finding.code]
            results.append(result)
        if report.error:
            results.append({"ruleId": unreadable.code, "level": unreadable.severity.value,
                            "message": {"text": report.error},
                            "locations": [{"physicalLocation": {"artifactLocation": {"uri": report.file}}}],
                            "ruleIndex": index[unreadable.code]})
    driver = {
        "name": "graphfix",
        "version": __version__,
        "informationUri": "https://pypi.org/project/graphfix/",
        "rules": [_sarif_rule(rule) for rule in rules],
    }
    return json.dumps({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }, indent=2)


def _sarif_rule(rule: type[Rule]) -> dict[str, object]:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.documentation()},
        "help": {"text": rule.documentation(), "markdown": rule.documentation()},
    }


def print_explanation(console: Console, reports: Sequence[Report], node: str,
                      node_names: dict[str, set[str]]) -> None:
    """``--explain NODE``: why each rule that looked at ``node`` did not fire."""
    from rich.markup import escape

    for report in reports:
        if report.error:
            continue
        where = f"[bold]{escape(report.file)}[/bold]: [cyan]{escape(node)}[/cyan]"
        if node not in node_names.get(report.file, set()):
            console.print(f"{where}: no such node (use a node name, or Op(first output) for unnamed nodes)",
                          soft_wrap=True)
            continue
        misses = report.explain(node)
        fired = sorted({f.code for f in report.findings if f.node_name == node})
        if fired:
            console.print(f"{where}: reported by {', '.join(fired)}", soft_wrap=True)
        if not misses and not fired:
            console.print(f"{where}: no rule looked at it", soft_wrap=True)
        for miss in misses:
            console.print(f"{where}: {miss.code} did not fire: {escape(miss.reason)}", soft_wrap=True)


# One line of the text report: (text, rich style) pieces; "" is no style.
Line = list[tuple[str, str]]


def text_lines(reports: Sequence[Report], *, show_fixes: bool = True) -> list[Line]:
    """The text report (one line per finding, then the summary) as styled pieces, so that a terminal gets
    it drawn by rich and a pipe or a file gets the same characters without importing rich."""
    lines: list[Line] = []
    for report in reports:
        if report.error:
            continue
        for finding in report.findings:
            marker = "[*]" if finding.fixable and finding.safety is Safety.SAFE else (
                "[+]" if finding.fixable else "   ")
            code_style = "bold red" if not finding.fixable else "bold yellow"
            if not finding.is_error:
                marker, code_style = "info", "bold blue"
            line: Line = [(report.file, "bold"), (":", "")]
            if finding.node_name:
                line += [(" ", ""), (finding.node_name, "cyan")]
            line += [(" ", ""), (finding.code, code_style), (f" {marker} {finding.message}", "")]
            lines.append(line)
            if show_fixes and finding.fixable and finding.safety is not Safety.SAFE:
                lines.append([(f"    fix needs {_SAFETY_HINT[finding.safety]}", "dim")])
    totals = summary(reports)
    counts = Counter(f.code for r in reports for f in r.findings if f.is_error)
    problems = totals["findings"] - totals["information"]
    checked = _checked_for(reports)
    info = (f"; {totals['information']} information finding{'s' if totals['information'] != 1 else ''}"
            if totals["information"] else "")
    if problems == 0 and totals["errors"] == 0:
        lines.append([("All checks passed!", "bold green"), (f" ({_files(totals['files'])}{info}{checked})", "")])
        return lines
    if problems:
        by_code = ", ".join(f"{code} x{n}" for code, n in sorted(counts.items()))
        line = [(f"Found {problems} finding{'s' if problems != 1 else ''} in "
                 f"{_files(totals['files'])} ({by_code}{info}{checked}).", "")]
        if totals["fixable"]:
            line += [(" ", ""), (str(totals["fixable"]), "bold"), (" fixable with `graphfix fix` [*]", "")]
        if totals["fixable_with_options"]:
            line.append((f"; {totals['fixable_with_options']} more with options [+]", ""))
        lines.append(line)
    if totals["errors"]:
        lines.append([(f"{totals['errors']} file{'s' if totals['errors'] != 1 else ''} could not be checked",
                       "bold red"), (" (see the errors above)", "")])
    return lines


def plain_text(lines: Sequence[Line]) -> str:
    """``lines`` without their styles, each ended by a newline."""
    return "".join("".join(text for text, _ in line) + "\n" for line in lines)


def print_lines(console: Console, lines: Sequence[Line]) -> None:
    """``lines`` drawn by rich, styled."""
    from rich.text import Text

    for line in lines:
        console.print(Text.assemble(*((text, style) if style else text for text, style in line)), soft_wrap=True)


def print_text(console: Console, reports: Sequence[Report], *, show_fixes: bool = True) -> None:
    """The text report drawn by rich (see :func:`text_lines`)."""
    print_lines(console, text_lines(reports, show_fixes=show_fixes))


def _checked_for(reports: Sequence[Report]) -> str:
    """``; checked for TensorRT 10.16`` when GF5xx rules ran (versions of all reports, usually one)."""
    versions = sorted({r.trt_version for r in reports if r.trt_version})
    return f"; checked for TensorRT {', '.join(versions)}" if versions else ""


def _files(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''}"
