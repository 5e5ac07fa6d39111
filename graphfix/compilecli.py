"""``graphfix compile``, ``graphfix run`` and the ``--compile`` options of ``graphfix fix``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from graphfix.errors import GraphfixError, UsageError

EXIT_CLEAN, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


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


def add_commands(commands: argparse._SubParsersAction,
                 add_model_options: Callable[[argparse.ArgumentParser], None]) -> None:
    compile_parser = commands.add_parser("compile", help="compile an (already fixed) model and compare it")
    compile_parser.add_argument("path", metavar="IN", help="the ONNX model")
    compile_parser.add_argument("-o", "--output", metavar="ENGINE", help="the engine to write (same as --engine)")
    compile_parser.add_argument("--reference", metavar="ONNX", help="compare with this model (default: IN)")
    compile_parser.add_argument("--input-shape", action="append", default=[], metavar="NAME:DIMS",
                                help="pin non-batch dims, e.g. x:1x3x640x640")
    compile_parser.add_argument("--input-range", action="append", default=[], metavar="NAME:LO,HI")
    compile_parser.add_argument("--format", choices=("text", "json"), default="text")
    compile_parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks for errors")
    from graphfix.cli import add_trt_version_option

    add_trt_version_option(compile_parser)
    add_compile_options(compile_parser, precision_flag="--precision")

    run = commands.add_parser("run", help="run an ONNX model or a TensorRT engine on inputs")
    run.add_argument("path", metavar="PATH", help="an .onnx model or a .engine/.plan file")
    run.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                     help="an input (default: random valid data)")
    run.add_argument("--batch", type=int, default=1, help="batch of the random inputs (default 1)")
    run.add_argument("--input-range", action="append", default=[], metavar="NAME:LO,HI")
    run.add_argument("--save-outputs", metavar="FILE.npz", help="save the outputs")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("-v", "--verbose", action="store_true", help="show tracebacks for errors")


def run_compile_command(args: argparse.Namespace, console: Console) -> int:
    from graphfix.analysis import parse_input_shapes
    from graphfix.compiling import compile_model
    from graphfix.verify import parse_input_ranges

    engine = args.engine or args.output
    result = compile_model(
        args.path, precision=args.precision, backend=args.backend, reference=args.reference,
        output_base=engine if engine and not str(engine).endswith(".onnx") else None, engine=engine,
        max_batch=args.max_batch, opt_batch=args.opt_batch, calib_data=args.calib_data,
        input_shapes=parse_input_shapes(args.input_shape), input_ranges=parse_input_ranges(args.input_range),
        workspace_bytes=args.workspace * 2**20 if args.workspace else None, optimization_level=args.opt_level,
        trt_version=args.trt_version)
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        print_compile(console, result)
    return EXIT_CLEAN if result.passed else EXIT_FAILED


def print_compile(console: Console, result) -> None:  # noqa: ANN001
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
    checks = [("precision transform vs original", result.precision_check),
              (f"engine ({result.backend}) vs original", result.comparison)]
    if result.comparison is result.precision_check:
        checks = [(f"{result.precision} graph and {result.backend} engine vs original", result.comparison)]
    for title, check in checks:
        if check is not None:
            _print_check(console, title, check)


def _print_check(console: Console, title: str, check) -> None:  # noqa: ANN001
    outputs = getattr(check, "outputs", [])
    table = Table(title=title, box=None, header_style="bold")
    for column in ("output", "batch", "max abs", "max rel", "cosine", "SNR dB", "result"):
        table.add_column(column, justify="right" if column not in ("output", "result") else "left")
    for out in outputs:
        table.add_row(str(getattr(out, "output", getattr(out, "name", "?"))), str(getattr(out, "batch", "")),
                      f"{out.max_abs:.3g}", f"{out.max_rel:.3g}",
                      _fmt(getattr(out, "cosine", None)), _fmt(getattr(out, "snr_db", None)),
                      "[green]PASSED[/green]" if out.passed else "[red]FAILED[/red]")
    console.print(table)
    status = "[bold green]PASSED[/bold green]" if check.passed else "[bold red]FAILED[/bold red]"
    message = getattr(check, "message", "")
    console.print(f"{title}: {status}{' ' + escape(message) if message else ''}", soft_wrap=True)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def run_run_command(args: argparse.Namespace, console: Console) -> int:
    from graphfix.runner import load, random_feeds
    from graphfix.saving import write_bytes_atomic
    from graphfix.verify import parse_input_ranges

    runner = load(args.path)
    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    feeds = random_feeds(runner, args.batch, parse_input_ranges(args.input_range), seed=args.seed)
    for spec in args.input:
        name, sep, file = spec.partition("=")
        if not sep or not name or not file:
            raise UsageError(f"--input {spec!r}: expected NAME=FILE.npy")
        try:
            feeds[name] = np.load(file)
        except (OSError, ValueError) as error:
            raise GraphfixError(f"{file}: cannot read a .npy array: {error}") from error
    outputs = runner(feeds)
    table = Table(box=None, header_style="bold")
    for column in ("output", "shape", "dtype", "min", "max", "mean"):
        table.add_column(column)
    for name, value in outputs.items():
        numeric = value.astype(np.float64) if value.size else np.zeros(1)
        table.add_row(name, str(list(value.shape)), str(value.dtype), f"{numeric.min():.4g}",
                      f"{numeric.max():.4g}", f"{numeric.mean():.4g}")
    console.print(f"ran {escape(args.path)} with {runner.kind} "
                  f"({', '.join(f'{k}{list(v.shape)}' for k, v in feeds.items())})", soft_wrap=True)
    console.print(table)
    if args.save_outputs:
        import io

        buffer = io.BytesIO()
        np.savez(buffer, **outputs)
        write_bytes_atomic(Path(args.save_outputs), buffer.getvalue())
        console.print(f"wrote {escape(args.save_outputs)}")
    return EXIT_CLEAN
