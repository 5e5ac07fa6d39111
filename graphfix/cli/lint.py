"""``graphfix lint PATH...``: report rule violations (exit 1 if any).

PATH is a file, a folder (every ``*.onnx`` below) or a glob (:mod:`.paths`); files are linted in a process
pool (``--jobs``, default the cores) and reported in the order found. Settings come from the project
configuration (:mod:`.config`); flags win.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import io
import sys
from typing import TYPE_CHECKING, Any

from graphfix.cli.common import (
    EXIT_CLEAN,
    EXIT_ERROR,
    EXIT_FINDINGS,
    add_custom_ops_option,
    add_model_options,
    add_path_options,
    check_output_flag,
    parse_input_shapes,
    report_error,
    styled_output,
)

if TYPE_CHECKING:
    from rich.console import Console


def add_parsers(commands: Any) -> None:
    lint = commands.add_parser("lint", help="report rule violations (exit 1 if any)")
    lint.add_argument("paths", nargs="+", metavar="PATH", help="ONNX model files, folders (recursive) or globs")
    add_model_options(lint)
    add_custom_ops_option(lint)
    add_path_options(lint)
    lint.add_argument("--format", choices=("text", "json", "sarif", "html"), default="text",
                      help="output format (html: one self-contained page; give --output-file)")
    lint.add_argument("--output-file", metavar="FILE", help="write the report here instead of stdout")
    lint.add_argument("--explain", metavar="NODE",
                      help="also say why each rule did not fire on this node (a node name, or Op(first output))")
    lint.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console, errors: Console) -> int:
    from graphfix.cli.config import apply_config, config_of
    from graphfix.cli.lint_jobs import default_jobs, lint_files, tasks_for
    from graphfix.cli.paths import collect_models
    from graphfix.errors import UsageError
    from graphfix.linting import parse_selectors
    from graphfix.targets.target import check_version_text

    config = config_of(args)
    apply_config(args, config)
    trt_version = check_version_text(args.trt_version)  # checked before any model is read
    parse_selectors(args.select), parse_selectors(args.ignore)  # a bad selector: one error, before any model
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    models = collect_models(args.paths, exclude=args.exclude or [], excluded=config.excluded)
    if not models:
        raise UsageError("no ONNX model to lint (every path was excluded or named no *.onnx file)")
    check_output_flag("--output-file", args.output_file, models)
    tasks = tasks_for([str(m) for m in models], config, args.select, args.ignore,
                      parse_input_shapes(args.input_shape), trt_version,
                      [str(Path(f).resolve()) for f in args.custom_ops])
    # --explain needs the live findings; it is a one-model question, so it runs in-process.
    jobs = 1 if args.explain else (args.jobs or default_jobs())
    reports = []
    node_names: dict[str, set[str]] = {}
    for result in lint_files(tasks, jobs, auto=args.jobs is None):  # by default, a pool only if it pays
        if result.error is not None:
            if result.internal:
                errors.print(f"[bold red]graphfix: internal error[/bold red] on {result.report.file}: "
                             f"{result.error} (re-run with --verbose for the traceback, and please report it)",
                             markup=True, highlight=False)
            else:
                report_error(errors, result.error, args)
            if args.verbose:
                errors.print(result.traceback, markup=False)
        node_names[result.report.file] = result.node_names
        reports.append(result.report)
    _write(args, console, reports, node_names)
    if any(r.error for r in reports):
        return EXIT_ERROR
    return EXIT_FINDINGS if any(r.errors for r in reports) else EXIT_CLEAN  # information never fails


def _write(args: argparse.Namespace, console: Console, reports: list[Any], node_names: dict[str, set[str]]) -> None:
    from graphfix.cli.report import plain_text, print_explanation, print_lines, text_lines, to_json, to_sarif

    if args.format == "text":
        lines = text_lines(reports)
        if args.output_file:
            text = plain_text(lines)
            if args.explain:
                from rich.console import Console

                buffer = io.StringIO()
                print_explanation(Console(file=buffer, highlight=False, soft_wrap=True, no_color=True),
                                  reports, args.explain, node_names)
                text += buffer.getvalue()
            _save(args.output_file, text)
            return
        if styled_output():
            print_lines(console, lines)
        else:  # a pipe, a file, CI: the same characters without rich
            sys.stdout.write(plain_text(lines))
            sys.stdout.flush()
        if args.explain:
            print_explanation(console, reports, args.explain, node_names)
        return
    if args.format == "html":
        from graphfix.cli.html import lint_report_input, render_html

        text = render_html(lint_report_input(reports))
    else:
        text = to_json(reports, explain=args.explain) if args.format == "json" else to_sarif(reports)
        text += "\n"
    if args.output_file:
        _save(args.output_file, text)
    else:
        sys.stdout.write(text)

def _save(path: str, text: str) -> None:
    from graphfix.ir.saving import write_text_atomic

    write_text_atomic(path, text)
