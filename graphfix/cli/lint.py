"""``graphfix lint PATH...``: report rule violations (exit 1 if any)."""

from __future__ import annotations

import argparse
import io
import sys
from typing import Any

from rich.console import Console

from graphfix.cli.common import (
    EXIT_CLEAN,
    EXIT_ERROR,
    EXIT_FINDINGS,
    add_custom_ops_option,
    add_model_options,
    parse_input_shapes,
    report_error,
    report_internal,
)
from graphfix.errors import GraphfixError


def add_parsers(commands: Any) -> None:
    lint = commands.add_parser("lint", help="report rule violations (exit 1 if any)")
    lint.add_argument("paths", nargs="+", metavar="PATH", help="ONNX model files")
    add_model_options(lint)
    add_custom_ops_option(lint)
    lint.add_argument("--format", choices=("text", "json", "sarif"), default="text", help="output format")
    lint.add_argument("--output-file", metavar="FILE", help="write the report here instead of stdout")
    lint.add_argument("--explain", metavar="NODE",
                      help="also say why each rule did not fire on this node (a node name, or Op(first output))")
    lint.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console, errors: Console) -> int:
    from graphfix.cli.report import print_explanation, print_text, to_json, to_sarif
    from graphfix.ir import load, node_label
    from graphfix.linting import Options, Report, lint_loaded, parse_selectors
    from graphfix.targets.target import check_version_text

    select, ignore = parse_selectors(args.select), parse_selectors(args.ignore)
    options = Options(input_shapes=parse_input_shapes(args.input_shape),
                      trt_version=check_version_text(args.trt_version))
    reports: list[Report] = []
    node_names: dict[str, set[str]] = {}
    for path in args.paths:
        try:
            report, ctx = lint_loaded(load(path), options, select, ignore)
            node_names[report.file] = {node_label(node) for node in ctx.analysis.order}
        except GraphfixError as error:
            report_error(errors, error, args)
            report = Report(path, [], error=str(error))
        except Exception as error:  # keep going: one bad file must not hide the others
            report_internal(errors, error, args, f" on {path}")
            report = Report(path, [], error=f"internal error: {type(error).__name__}: {error}")
        reports.append(report)

    if args.format == "text":
        if args.output_file:
            from graphfix.ir.saving import write_text_atomic

            buffer = io.StringIO()
            file_console = Console(file=buffer, highlight=False, soft_wrap=True, no_color=True)
            print_text(file_console, reports)
            if args.explain:
                print_explanation(file_console, reports, args.explain, node_names)
            write_text_atomic(args.output_file, buffer.getvalue())
        else:
            print_text(console, reports)
            if args.explain:
                print_explanation(console, reports, args.explain, node_names)
    else:
        text = to_json(reports, explain=args.explain) if args.format == "json" else to_sarif(reports)
        if args.output_file:
            from graphfix.ir.saving import write_text_atomic

            write_text_atomic(args.output_file, text + "\n")
        else:
            sys.stdout.write(text + "\n")
    if any(r.error for r in reports):
        return EXIT_ERROR
    return EXIT_FINDINGS if any(r.errors for r in reports) else EXIT_CLEAN  # information never fails
