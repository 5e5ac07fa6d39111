"""``graphfix rules`` (list the rules) and ``graphfix rule CODE`` (print one rule's documentation)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from graphfix.cli.common import EXIT_CLEAN, add_trt_version_option

if TYPE_CHECKING:
    from rich.console import Console

    from graphfix.targets.target import Target


def add_parsers(commands: Any) -> None:
    rules = commands.add_parser("rules", help="list the rules (and the TensorRT support table GF5xx checks)")
    rules.add_argument("--format", choices=("text", "json"), default="text")
    add_trt_version_option(rules)
    rules.set_defaults(run=run_rules)

    rule = commands.add_parser("rule", help="print one rule's documentation")
    rule.add_argument("code", help="a rule code, e.g. GF101")
    rule.set_defaults(run=run_rule)


def run_rules(args: argparse.Namespace, console: Console, errors: Console) -> int:
    from graphfix.linting import documented_rules
    from graphfix.targets.target import resolve_target

    rules = documented_rules()
    target = resolve_target(args.trt_version)
    if args.format == "json":
        entries = []
        for r in rules:
            entry: dict[str, object] = {"code": r.code, "name": r.name, "summary": r.summary,
                                        "fix": r.fix_availability.value}
            if r.checks_trt_target:
                entry["trt_version"] = target.version
                entry["trt_table"] = f"trt-{target.table.version}.json"
            entries.append(entry)
        sys.stdout.write(json.dumps(entries, indent=2) + "\n")
        return EXIT_CLEAN
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, show_header=True, header_style="bold")
    for column in ("code", "name", "fix", "what it finds"):
        table.add_column(column)
    for rule in rules:
        table.add_row(rule.code, rule.name, rule.fix_availability.value, rule.summary)
    console.print(table)
    console.print(escape(describe_support_tables(target)), soft_wrap=True)
    return EXIT_CLEAN


def describe_support_tables(target: Target) -> str:
    """The GF5xx family's data: which TensorRT versions have a table, and the one a run checks."""
    from graphfix.targets import covered_versions

    table = target.table
    groups: dict[str, list[str]] = {}
    for minor, version in covered_versions().items():
        groups.setdefault(version, []).append(minor)
    shown: list[str] = []
    run: list[str] = []  # consecutive tables of one major that each cover only their own minor
    for version, minors in [*groups.items(), ("", [""])]:
        single = minors == [version]
        if run and (not single or version.split(".")[0] != run[0].split(".")[0]):
            shown.append(run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}")
            run = []
        if not version:
            break
        if single:
            run.append(version)
        else:
            shown.append(f"{version} (for {minors[0]}-{minors[-1]})")
    source = table.source
    origin = (f"read from {source.repository} {source.branch} @ {source.commit[:12]}" if source.commit
              else f"derived from {source.derived_from}")
    imported = sum(1 for entry in table.operators.values() if entry.supported)
    return (f"\nGF5xx check, statically (TensorRT is not needed), what TensorRT's ONNX parser accepts: the support "
            f"tables in graphfix/targets/tables cover TensorRT {', '.join(shown)}.\n"
            f"This run checks {target.describe()}: trt-{table.version}.json, {origin}; parser opsets "
            f"{table.opset.min}-{table.opset.max}; {imported} operators imported, {len(table.restrictions())} "
            "restrictions. --trt-version 8.6|10|10.12|11 checks another (docs/trt-support.md says how the tables "
            "were made).")


def run_rule(args: argparse.Namespace, console: Console, errors: Console) -> int:
    from rich.markdown import Markdown

    from graphfix.linting import rule_by_code

    rule = rule_by_code(args.code)
    text = rule.documentation()
    _, _, body = text.partition("\n")
    header = f"# {rule.name} ({rule.code})\n\nFix is {rule.fix_availability.value} available.\n"
    if console.is_terminal:
        console.print(Markdown(header + body))
    else:
        sys.stdout.write(header + body + "\n")
    return EXIT_CLEAN
