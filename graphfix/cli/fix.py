"""``graphfix fix IN -o OUT``: rewrite, validate, verify, write (and ``--compile``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from graphfix.cli.common import (
    EXIT_CLEAN,
    EXIT_ERROR,
    EXIT_FINDINGS,
    add_custom_ops_option,
    add_model_options,
    check_output_flag,
    parse_input_ranges,
    parse_input_shapes,
    parse_reshapes,
    message_of,
    report_error,
)
from graphfix.cli.compile import add_compile_options
from graphfix.cli.flags import speak
from graphfix.errors import GraphfixError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    import onnx_ir as ir

    from graphfix.cli.config import ProjectConfig
    from graphfix.fixing import FixResult


def add_parsers(commands: Any) -> None:
    fix = commands.add_parser("fix", help="rewrite the model so it follows the rules, verify it, write it")
    fix.add_argument("paths", nargs="+", metavar="IN",
                     help="the ONNX model to fix (never modified unless --in-place); with --diff, several "
                          "models, folders or globs")
    fix.add_argument("-o", "--output", metavar="OUT", help="where to write the fixed model")
    fix.add_argument("--in-place", action="store_true", help="allow -o to name the input file")
    add_model_options(fix)
    add_custom_ops_option(fix)
    fix.add_argument("--exclude", action="append", metavar="PATTERN",
                     help="with --diff: skip paths matching this pattern (fnmatch)")
    fix.add_argument("--reshape", action="append", default=[], metavar="NODE=DIMS",
                     help="set a Reshape node's target, e.g. /head/Reshape=-1,25 (the seed's reshape hook)")
    fix.add_argument("--dynamic-batch", action="store_true",
                     help="make dim 0 dynamic on a static-batch model (refused if something bakes the batch)")
    fix.add_argument("--unsafe-fixes", action="store_true",
                     help="also rewrite constants that bake the export batch (verified at that batch)")
    fix.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime comparison (validation still runs)")
    fix.add_argument("--force", action="store_true", help="write the model even if verification fails")
    fix.add_argument("--input-range", action="append", default=[], metavar="NAME:LO,HI",
                     help="value range of an input's random data during verification")
    fix.add_argument("--atol", type=float, default=None, help="absolute tolerance of the verification")
    fix.add_argument("--rtol", type=float, default=None, help="relative tolerance of the verification")
    fix.add_argument("--diff", action="store_true",
                     help="show what would change and write nothing; exit 1 when any model would change")
    fix.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    fix.add_argument("--plugin-namespace", default="", metavar="NS",
                     help="plugin_namespace written on the stock plugin form (GF401's fix); default \"\", what "
                          "C++ creators register under. A Python plugin (tensorrt.plugin, `graphfix plugin`) "
                          "cannot use the empty namespace: give the one it registers")
    fix.add_argument("--report", metavar="FILE.html",
                     help="also write an HTML report: findings, op counts, verification, before/after pictures")
    add_compile_options(fix, precision_flag="--compile")
    fix.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console, errors: Console) -> int:
    from graphfix.cli.config import apply_config, config_of

    config = config_of(args)
    apply_config(args, config)
    if not args.output and not args.diff:
        raise UsageError("fix needs -o OUT (or --diff to only show the changes)")
    if args.diff:
        from graphfix.cli.paths import collect_models

        models = [str(m) for m in collect_models(args.paths, exclude=args.exclude or [], excluded=config.excluded)]
    elif len(args.paths) != 1:
        raise UsageError(f"fix writes one model with -o; got {len(args.paths)} (several models only with --diff)")
    else:
        models = list(args.paths)
    check_output_flag("--report", args.report, models)
    if args.precision is not None and not args.diff:
        check_output_flag("--engine", args.engine, models)
    if len(models) == 1:
        return _fix_one(args, console, models[0], config)
    # Several models (--diff): with --format json, one array of the per-model documents (one JSON value).
    documents: list[dict[str, Any]] | None = [] if args.format == "json" else None
    code, failed = EXIT_CLEAN, False
    for model in models:  # pre-commit passes many files: one bad file must not hide the others
        try:
            code = max(code, _fix_one(args, console, model, config, documents))
        except GraphfixError as error:
            message = message_of(error)
            message = message if message.startswith(f"{model}: ") else f"{model}: {message}"
            report_error(errors, message, args)
            if documents is not None:
                documents.append({"file": model, "error": message})
            failed = True
    if documents is not None:
        sys.stdout.write(json.dumps(documents, indent=2) + "\n")
    return EXIT_ERROR if failed else code


def _fix_one(args: argparse.Namespace, console: Console, path: str, config: ProjectConfig,
             documents: list[dict[str, Any]] | None = None) -> int:
    """Fix (or --diff) one model and print the result; with ``documents``, append its JSON document there."""
    from graphfix.cli.config import file_options
    from graphfix.fixing import fix
    from graphfix.verify import DEFAULT_ATOL, DEFAULT_RTOL

    select, ignore, shapes = file_options(config, path, args.select, args.ignore,
                                          parse_input_shapes(args.input_shape))
    original = None
    if args.report:
        from graphfix.ir import load

        original = load(path).model  # fix edits the model it loads: the report needs the model as read
    atol = DEFAULT_ATOL if args.atol is None else args.atol
    rtol = DEFAULT_RTOL if args.rtol is None else args.rtol
    result = fix(
        path,
        None if args.diff else args.output,
        input_shapes=shapes,
        reshape=parse_reshapes(args.reshape),
        dynamic_batch=args.dynamic_batch,
        unsafe_fixes=args.unsafe_fixes,
        select=select,
        ignore=ignore,
        verify=not args.no_verify,
        input_ranges=parse_input_ranges(args.input_range),
        atol=atol,
        rtol=rtol,
        force=args.force,
        in_place=args.in_place,
        dry_run=args.diff,
        trt_version=args.trt_version,
        plugin_namespace=args.plugin_namespace,
    )
    compiled = None
    if args.precision is not None and not args.diff:
        from graphfix.compiling import compile_model

        compiled = compile_model(
            args.output, precision=args.precision, backend=args.backend, reference=path,
            engine=args.engine, max_batch=args.max_batch, opt_batch=args.opt_batch, calib_data=args.calib_data,
            input_shapes=shapes, input_ranges=parse_input_ranges(args.input_range),
            workspace_bytes=args.workspace * 2**20 if args.workspace else None, optimization_level=args.opt_level,
            trt_version=args.trt_version, plugins=args.plugins)
    if args.format == "json":
        document = {"file": path, **result.to_dict()}
        if compiled is not None:
            document["compile"] = compiled.to_dict()
        if documents is not None:
            documents.append(document)
        else:
            sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        _print_result(console, args, result, path)
        if compiled is not None:
            from graphfix.cli.compile import print_compile

            print_compile(console, compiled)
    if args.report and original is not None:
        _write_report(args, console, path, original, result, atol, rtol)
    if args.diff and result.changed:
        return EXIT_FINDINGS  # pre-commit: the model would change
    if compiled is not None and not compiled.passed:
        return EXIT_FINDINGS
    if result.verification is not None and not result.verification.passed:
        return EXIT_FINDINGS  # written only because of --force
    return EXIT_FINDINGS if any(f.is_error for f in result.remaining) else EXIT_CLEAN  # information never fails


def _write_report(args: argparse.Namespace, console: Console, path: str, original: ir.Model, result: FixResult,
                  atol: float, rtol: float) -> None:
    from rich.markup import escape

    from graphfix.cli.html import fix_report_input, render_html
    from graphfix.ir.saving import write_text_atomic

    note = "--diff: nothing was written" if args.diff and result.verification is None else None
    page = render_html(fix_report_input(original, result.model, result, file=path, atol=atol, rtol=rtol,
                                        verification_note=note))
    write_text_atomic(args.report, page)
    if args.format != "json":
        console.print(f"wrote the report {escape(args.report)}", soft_wrap=True)


def _print_result(console: Console, args: argparse.Namespace, result: FixResult, path: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from graphfix.linting import Safety

    for edit in result.user_edits:
        console.print(f"[green]set[/green] {escape(edit)}", soft_wrap=True)
    for finding in result.applied:
        plans = "; ".join(plan.describe() for plan in finding.fix)
        console.print(f"[green]fixed[/green] [bold]{finding.code}[/bold] {escape(plans)}", soft_wrap=True)
    table = Table(title="op counts", box=None, header_style="bold")
    table.add_column("op")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for op in sorted(set(result.ops_before) | set(result.ops_after),
                     key=lambda o: (-(result.ops_before[o] - result.ops_after[o]), o)):
        before, after = result.ops_before[op], result.ops_after[op]
        if before != after or op in ("Shape", "Gather", "Reshape", "Resize"):
            style = "green" if after < before else "red" if after > before else ""
            table.add_row(op, str(before), f"[{style}]{after}[/{style}]" if style else str(after))
    table.add_row("[bold]total[/bold]", str(sum(result.ops_before.values())), str(sum(result.ops_after.values())))
    console.print(table)
    for finding in result.remaining:
        hint = ""
        if finding.fixable and finding.safety is Safety.UNSAFE:
            hint = " (fixable with --unsafe-fixes)"
        elif finding.fixable and finding.safety is Safety.NEEDS_DYNAMIC_BATCH:
            hint = " (fixable with --dynamic-batch)"
        label = "[yellow]remains[/yellow]" if finding.is_error else "[blue]info[/blue]"
        console.print(f"{label} [bold]{finding.code}[/bold] {escape(finding.message)}{hint}", soft_wrap=True)
    verification = result.verification
    if verification is not None:
        status = "[bold green]PASSED[/bold green]" if verification.passed else "[bold red]FAILED[/bold red]"
        worst = verification.worst()
        detail = (f"max abs error {worst.max_abs:.3g}, max rel error {worst.max_rel:.3g}" if worst else "")
        console.print(f"verification {status} against {escape(verification.reference)} at batch "
                      f"{', '.join(map(str, verification.batches))} ({len({o.output for o in verification.outputs})} "
                      f"outputs; {detail})"
                      f"{' ' + escape(speak(verification.message, verification.parameters)) if verification.message else ''}",
                      soft_wrap=True)
        for line in [*verification.excluded, *verification.notes]:
            console.print(f"  [dim]note:[/dim] {escape(line)}", soft_wrap=True)
    elif args.no_verify and result.changed and not args.diff:
        console.print("verification skipped (--no-verify); onnx.checker passed", soft_wrap=True)
    if args.diff:
        changes = len(result.applied) + len(result.user_edits)
        console.print(f"[bold]{escape(path)}[/bold]: [bold]--diff[/bold]: {changes} change(s)"
                      f"{' would be made' if changes else ''}, nothing written", soft_wrap=True)
    elif result.written:
        console.print(f"wrote {', '.join(escape(str(p)) for p in result.written)}"
                      f"{'' if result.changed else ' (no change was needed)'}", soft_wrap=True)
