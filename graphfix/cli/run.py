"""``graphfix run PATH``: run an ``.onnx`` (ONNX Runtime) or an ``.engine`` (TensorRT) on inputs."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphfix.cli.common import (
    EXIT_CLEAN,
    add_custom_ops_option,
    add_quiet_option,
    check_output_flag,
    parse_input_ranges,
)
from graphfix.errors import GraphfixError, UsageError

if TYPE_CHECKING:
    from rich.console import Console


def add_parsers(commands: Any) -> None:
    run_parser = commands.add_parser("run", help="run an ONNX model or a TensorRT engine on inputs")
    run_parser.add_argument("path", metavar="PATH", help="an .onnx model or a .engine/.plan file")
    run_parser.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                            help="an input (default: random valid data)")
    run_parser.add_argument("--batch", type=int, default=1, help="batch of the random inputs (default 1)")
    run_parser.add_argument("--input-range", action="append", default=[], metavar="NAME:LO,HI")
    run_parser.add_argument("--save-outputs", metavar="FILE.npz", help="save the outputs")
    run_parser.add_argument("--seed", type=int, default=0)
    add_custom_ops_option(run_parser)
    run_parser.add_argument("--plugins", action="append", default=[], metavar="FILE.py|lib.so",
                            help="TensorRT plugins an engine uses, loaded before it is deserialized")
    run_parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks for errors")
    add_quiet_option(run_parser)
    run_parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console, errors: Console) -> int:
    import numpy as np
    from rich.markup import escape
    from rich.table import Table

    from graphfix.compiling.runner import ENGINE_SUFFIXES, load, random_feeds
    from graphfix.ir.saving import write_bytes_atomic

    if args.plugins and Path(args.path).suffix.lower() in ENGINE_SUFFIXES:
        from graphfix.plugins.loader import load_plugins

        load_plugins(args.plugins)  # an engine with plugins needs their creators registered first
    check_output_flag("--save-outputs", args.save_outputs, [args.path])  # before the model runs
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
        buffer = io.BytesIO()
        np.savez(buffer, **outputs)  # type: ignore[arg-type]  # numpy types **kwds like allow_pickle: bool
        write_bytes_atomic(Path(args.save_outputs), buffer.getvalue())
        console.print(f"wrote {escape(args.save_outputs)}")
    return EXIT_CLEAN
