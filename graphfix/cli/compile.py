"""``graphfix compile IN``: precision transform, engine, comparison; and the ``--compile`` options of
``graphfix fix``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from graphfix.cli.common import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    add_quiet_option,
    add_trt_version_option,
    add_custom_ops_option,
    check_output_flag,
    parse_input_ranges,
    parse_input_shapes,
)

if TYPE_CHECKING:
    from rich.console import Console

    from graphfix.compare import Comparison
    from graphfix.compiling import CompileResult


def add_compile_options(parser: argparse.ArgumentParser, *, precision_flag: str) -> None:
    parser.add_argument(precision_flag, dest="precision", choices=("fp32", "fp16", "int8"),
                        default=None if precision_flag == "--compile" else "fp32",
                        help="precision of the engine (fp16/int8 are made in the ONNX graph first)")
    parser.add_argument("--backend", choices=("tensorrt", "onnxruntime"), default=None,
                        help="default: TensorRT when it is installed, otherwise ONNX Runtime")
    parser.add_argument("--max-batch", type=int, default=8, help="largest batch of the engine (default 8)")
    parser.add_argument("--opt-batch", type=int, default=None, help="batch TensorRT tunes for (default: max)")
    parser.add_argument("--calib-data", metavar="PATH", help="int8 calibration data: .npz, or a folder of .npy/.npz")
    parser.add_argument("--engine", metavar="PATH", help="where to write the engine (default: beside the output)")
    parser.add_argument("--workspace", type=int, default=None, metavar="MIB", help="TensorRT workspace limit in MiB")
    parser.add_argument("--opt-level", type=int, default=None, help="TensorRT builder optimisation level (0-5)")
    parser.add_argument("--plugins", action="append", default=[], metavar="FILE.py|lib.so",
                        help="TensorRT plugins to load before parsing: a tensorrt.plugin Python file "
                             "(`graphfix plugin` writes one) or a C++ plugin library")


def add_parsers(commands: Any) -> None:
    compile_parser = commands.add_parser("compile", help="compile an (already fixed) model and compare it")
    compile_parser.add_argument("path", metavar="IN", help="the ONNX model")
    compile_parser.add_argument("-o", "--output", metavar="ENGINE", help="the engine to write (same as --engine)")
    compile_parser.add_argument("--reference", metavar="ONNX", help="compare with this model (default: IN)")
    compile_parser.add_argument("--input-shape", action="append", default=[], metavar="NAME:DIMS",
                                help="pin non-batch dims, e.g. x:1x3x640x640")
    compile_parser.add_argument("--input-range", action="append", default=[], metavar="NAME:LO,HI")
    compile_parser.add_argument("--format", choices=("text", "json"), default="text")
    compile_parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks for errors")
    add_quiet_option(compile_parser)
    add_trt_version_option(compile_parser)
    add_compile_options(compile_parser, precision_flag="--precision")
    add_custom_ops_option(compile_parser)
    compile_parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console, errors: Console) -> int:
    from graphfix.compiling import compile_model

    engine = args.engine or args.output
    inputs = [args.path, *([args.reference] if args.reference else [])]
    check_output_flag("--engine" if args.engine else "-o", engine, inputs)
    result = compile_model(
        args.path, precision=args.precision, backend=args.backend, reference=args.reference,
        output_base=engine if engine and not str(engine).endswith(".onnx") else None, engine=engine,
        max_batch=args.max_batch, opt_batch=args.opt_batch, calib_data=args.calib_data,
        input_shapes=parse_input_shapes(args.input_shape), input_ranges=parse_input_ranges(args.input_range),
        workspace_bytes=args.workspace * 2**20 if args.workspace else None, optimization_level=args.opt_level,
        trt_version=args.trt_version, plugins=args.plugins)
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        print_compile(console, result)
    return EXIT_CLEAN if result.passed else EXIT_FINDINGS


def print_compile(console: Console, result: CompileResult) -> None:
    """The compile result: notices, what was made, and one table per comparison."""
    from rich.markup import escape

    for notice in result.notices:
        console.print(f"[yellow]notice[/yellow] {escape(notice)}", soft_wrap=True)
    for finding in result.target_errors:
        console.print(f"[red]refused[/red] [bold]{finding.code}[/bold] {escape(finding.message)}", soft_wrap=True)
    if result.target_errors:
        console.print(f"[bold red]not built[/bold red]: TensorRT {result.trt_version} would refuse "
                      f"{escape(str(result.model))} ({len(result.target_errors)} GF5xx finding"
                      f"{'s' if len(result.target_errors) != 1 else ''} above; graphfix fix --trt-version "
                      f"{result.trt_version} fixes what it can)", soft_wrap=True)
        return
    if result.commands is not None:
        console.print(f"TensorRT is not installed here, so nothing was built: wrote [bold]"
                      f"{escape(str(result.commands))}[/bold], the trtexec and Polygraphy commands that build the "
                      f"{result.precision} engine for TensorRT {result.trt_version} and compare it with the original "
                      f"(run it on the target)", soft_wrap=True)
        if result.precision_check is not None:
            _print_check(console, "precision transform vs original", result.precision_check)
        return
    console.print(f"compiled [bold]{result.precision}[/bold] with [bold]{result.backend}[/bold]: "
                  f"model {escape(str(result.model))}"
                  + (f", engine {escape(str(result.engine))}" if result.engine else ""), soft_wrap=True)
    checks: list[tuple[str, Comparison | None]] = [("precision transform vs original", result.precision_check),
                                                   (f"engine ({result.backend}) vs original", result.comparison)]
    if result.comparison is result.precision_check:
        checks = [(f"{result.precision} graph and {result.backend} engine vs original", result.comparison)]
    for title, check in checks:
        if check is not None:
            _print_check(console, title, check)


def _print_check(console: Console, title: str, check: Comparison) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, box=None, header_style="bold")
    for column in ("output", "batch", "max abs", "max rel", "cosine", "SNR dB", "result"):
        table.add_column(column, justify="right" if column not in ("output", "result") else "left")
    for out in check.outputs:
        table.add_row(out.output, str(out.batch), f"{out.max_abs:.3g}", f"{out.max_rel:.3g}",
                      _fmt(out.cosine), _fmt(out.snr_db),
                      "[green]PASSED[/green]" if out.passed else "[red]FAILED[/red]")
    console.print(table)
    status = "[bold green]PASSED[/bold green]" if check.passed else "[bold red]FAILED[/bold red]"
    message = check.message
    console.print(f"{title}: {status}{' ' + escape(message) if message else ''}", soft_wrap=True)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
