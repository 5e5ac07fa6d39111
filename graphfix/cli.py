"""The ``graphfix`` command line: a thin layer on the library.

Exit codes follow ruff: 0 clean (or everything fixed), 1 findings remain, 2 usage error, unreadable or
invalid model, or internal error.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from rich.console import Console

from graphfix import __version__
from graphfix.errors import GraphfixError

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"graphfix: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="graphfix", description="Lint and fix PyTorch ONNX exports for TensorRT.")
    parser.add_argument("--version", action="version", version=f"graphfix {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    lint = commands.add_parser("lint", help="report rule violations (exit 1 if any)")
    lint.add_argument("paths", nargs="+", metavar="PATH", help="ONNX model files")
    _add_model_options(lint)
    lint.add_argument("--format", choices=("text", "json", "sarif"), default="text", help="output format")
    lint.add_argument("--output-file", metavar="FILE", help="write the report here instead of stdout")

    rules = commands.add_parser("rules", help="list the rules (and the TensorRT support table GF5xx checks)")
    rules.add_argument("--format", choices=("text", "json"), default="text")
    add_trt_version_option(rules)

    rule = commands.add_parser("rule", help="print one rule's documentation")
    rule.add_argument("code", help="a rule code, e.g. GF101")

    from graphfix.fixcli import add_fix_parser  # noqa: PLC0415 (keeps lint's import time small)

    add_fix_parser(commands, _add_model_options)
    from graphfix.compilecli import add_commands  # noqa: PLC0415

    add_commands(commands, _add_model_options)
    return parser


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--select", action="append", metavar="CODES",
                        help="only these rule code prefixes, comma-separated (e.g. GF1,GF201)")
    parser.add_argument("--ignore", action="append", metavar="CODES", help="skip these rule code prefixes")
    parser.add_argument("--input-shape", action="append", default=[], metavar="NAME:DIMS",
                        help="an input's shape, e.g. x:1x3x224x224; dim 0 is the batch and stays dynamic")
    add_trt_version_option(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks for errors")


def add_trt_version_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trt-version", metavar="VERSION", default=None,
                        help="the TensorRT version the GF5xx rules check: 8.6, 10, 10.12, 11 (a major alone is its "
                             "newest table; default: the installed TensorRT, else the newest table)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        if args.command == "lint":
            return run_lint(args, console, errors)
        if args.command == "rules":
            return run_rules(args, console)
        if args.command == "rule":
            return run_rule(args, console)
        if args.command == "compile":
            from graphfix.compilecli import run_compile_command

            return run_compile_command(args, console)
        if args.command == "run":
            from graphfix.compilecli import run_run_command

            return run_run_command(args, console)
        from graphfix.fixcli import run_fix

        return run_fix(args, console, errors)
    except GraphfixError as error:
        report_error(errors, str(error), args)
        return EXIT_ERROR
    except KeyboardInterrupt:
        errors.print("graphfix: interrupted")
        return EXIT_ERROR
    except Exception as error:  # a bug in graphfix: one line, and the traceback on request
        report_internal(errors, error, args, "")
        return EXIT_ERROR


def report_error(errors: Console, message: str, args: argparse.Namespace) -> None:
    errors.print(f"[bold red]graphfix: error:[/bold red] {_escape(message)}")
    if getattr(args, "verbose", False):
        errors.print(traceback.format_exc(), markup=False)


def report_internal(errors: Console, error: BaseException, args: argparse.Namespace, where: str) -> None:
    errors.print(f"[bold red]graphfix: internal error[/bold red]{_escape(where)}: "
                 f"{type(error).__name__}: {_escape(str(error).splitlines()[0] if str(error) else '')} "
                 "(re-run with --verbose for the traceback, and please report it)")
    if getattr(args, "verbose", False):
        errors.print("".join(traceback.format_exception(error)), markup=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def run_lint(args: argparse.Namespace, console: Console, errors: Console) -> int:
    from graphfix.analysis import parse_input_shapes
    from graphfix.engine import Options, Report, lint_loaded, parse_selectors
    from graphfix.loading import load
    from graphfix.report import print_text, to_json, to_sarif

    from graphfix.targets.target import check_version_text

    select, ignore = parse_selectors(args.select), parse_selectors(args.ignore)
    options = Options(input_shapes=parse_input_shapes(args.input_shape),
                      trt_version=check_version_text(args.trt_version))
    reports: list[Report] = []
    for path in args.paths:
        try:
            report, _ = lint_loaded(load(path), options, select, ignore)
        except GraphfixError as error:
            report_error(errors, str(error), args)
            report = Report(path, [], error=str(error))
        except Exception as error:  # keep going: one bad file must not hide the others
            report_internal(errors, error, args, f" on {path}")
            report = Report(path, [], error=f"internal error: {type(error).__name__}: {error}")
        reports.append(report)

    if args.format == "text" and not args.output_file:
        print_text(console, reports)
    else:
        text = to_json(reports) if args.format == "json" else to_sarif(reports) if args.format == "sarif" else None
        if text is None:
            with open(args.output_file, "w", encoding="utf-8") as handle:
                print_text(Console(file=handle, highlight=False, soft_wrap=True, no_color=True), reports)
        elif args.output_file:
            from graphfix.saving import write_text_atomic

            write_text_atomic(args.output_file, text + "\n")
        else:
            sys.stdout.write(text + "\n")
    if any(r.error for r in reports):
        return EXIT_ERROR
    return EXIT_FINDINGS if any(r.errors for r in reports) else EXIT_CLEAN  # information never fails


def run_rules(args: argparse.Namespace, console: Console) -> int:
    from graphfix.engine import all_rules
    from graphfix.targets.target import resolve_target

    rules = all_rules()
    target = resolve_target(args.trt_version)
    if args.format == "json":
        import json

        entries = []
        for r in rules:
            entry: dict[str, object] = {"code": r.code, "name": r.name, "summary": r.summary,
                                        "fix": r.fix_availability.value}
            if r.code.startswith("GF5"):
                entry["trt_version"] = target.version
                entry["trt_table"] = f"trt-{target.table.version}.json"
            entries.append(entry)
        sys.stdout.write(json.dumps(entries, indent=2) + "\n")
        return EXIT_CLEAN
    from rich.table import Table

    table = Table(box=None, show_header=True, header_style="bold")
    for column in ("code", "name", "fix", "what it finds"):
        table.add_column(column)
    for rule in rules:
        table.add_row(rule.code, rule.name, rule.fix_availability.value, rule.summary)
    console.print(table)
    console.print(_escape(describe_support_tables(target)), soft_wrap=True)
    return EXIT_CLEAN


def describe_support_tables(target: object) -> str:
    """The GF5xx family's data: which TensorRT versions have a table, and the one a run checks."""
    from graphfix.targets import covered_versions

    table = target.table  # type: ignore[attr-defined]
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
    return (f"\nGF5xx check, statically (TensorRT is not needed), what TensorRT's ONNX parser accepts: the support "
            f"tables in graphfix/targets/tables cover TensorRT {', '.join(shown)}.\n"
            f"This run checks {target.describe()}: trt-{table.version}.json, {origin}; parser opsets "  # type: ignore[attr-defined]
            f"{table.opset.min}-{table.opset.max}; {sum(1 for e in table.operators.values() if e.supported)} "
            f"operators imported, {len(table.restrictions())} restrictions. --trt-version 8.6|10|10.12|11 "
            "checks another (docs/trt-support.md says how the tables were made).")


def run_rule(args: argparse.Namespace, console: Console) -> int:
    from rich.markdown import Markdown

    from graphfix.engine import rule_by_code

    rule = rule_by_code(args.code)
    text = rule.documentation()
    _, _, body = text.partition("\n")
    header = f"# {rule.name} ({rule.code})\n\nFix is {rule.fix_availability.value} available.\n"
    if console.is_terminal:
        console.print(Markdown(header + body))
    else:
        sys.stdout.write(header + body + "\n")
    return EXIT_CLEAN
