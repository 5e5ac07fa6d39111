"""``graphfix rules`` (list the rules) and ``graphfix rule CODE`` (print one rule's documentation)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from graphfix.cli.common import EXIT_CLEAN

if TYPE_CHECKING:
    from rich.console import Console


def add_parsers(commands: Any) -> None:
    rules = commands.add_parser("rules", help="list the rules")
    rules.add_argument("--format", choices=("text", "json"), default="text")
    rules.set_defaults(run=run_rules)

    rule = commands.add_parser("rule", help="print one rule's documentation")
    rule.add_argument("code", help="a rule code, e.g. GF101")
    rule.set_defaults(run=run_rule)


def run_rules(args: argparse.Namespace, console: Console, errors: Console) -> int:
    from graphfix.linting import documented_rules

    rules = documented_rules()
    if args.format == "json":
        sys.stdout.write(json.dumps([{"code": r.code, "name": r.name, "summary": r.summary,
                                      "fix": r.fix_availability.value} for r in rules], indent=2) + "\n")
        return EXIT_CLEAN
    from rich.table import Table

    table = Table(box=None, show_header=True, header_style="bold")
    for column in ("code", "name", "fix", "what it finds"):
        table.add_column(column)
    for rule in rules:
        table.add_row(rule.code, rule.name, rule.fix_availability.value, rule.summary)
    console.print(table)
    return EXIT_CLEAN


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
