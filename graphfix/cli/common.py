"""What every subcommand shares: exit codes, one-line errors, the model options and their parsing."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from graphfix.cli.flags import speak
from graphfix.errors import GraphfixError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _LazyConsole:
    """A rich ``Console`` made on first use: a command that prints nothing through rich (lint into a pipe)
    never imports it (about 50 ms of lint's start-up)."""

    def __init__(self, **options: object) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> object:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)  # type: ignore[arg-type]
        return getattr(self._console, name)


def lazy_console(*, stderr: bool = False) -> Console:
    """The console a command prints through (stdout, or stderr), made when first used."""
    from typing import cast

    return cast("Console", _LazyConsole(stderr=stderr, highlight=False, soft_wrap=True))


def styled_output() -> bool:
    """Whether standard output gets rich's styles: a terminal, or ``FORCE_COLOR`` / ``TTY_COMPATIBLE`` set
    (as rich decides); otherwise a command may write the same characters without rich."""
    import os

    if os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE"):
        return True
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False


class Parser(argparse.ArgumentParser):
    """argparse with graphfix's exit code (2) and one-line errors."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"graphfix: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def add_trt_version_option(parser: argparse.ArgumentParser) -> None:
    """--trt-version: the TensorRT version the GF5xx rules check (library: ``trt_version``)."""
    parser.add_argument("--trt-version", metavar="VERSION", default=None,
                        help="the TensorRT version the GF5xx rules check: 8.6, 10, 10.12, 11 (a major alone is its "
                             "newest table; default: the installed TensorRT, else the newest table)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--select, --ignore, --input-shape, --trt-version and --verbose."""
    parser.add_argument("--select", action="append", metavar="CODES",
                        help="only these rule code prefixes, comma-separated (e.g. GF1,GF201)")
    parser.add_argument("--ignore", action="append", metavar="CODES", help="skip these rule code prefixes")
    parser.add_argument("--input-shape", action="append", default=[], metavar="NAME:DIMS",
                        help="an input's shape, e.g. x:1x3x224x224; dim 0 is the batch and stays dynamic")
    add_trt_version_option(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks for errors")
    add_quiet_option(parser)
    from graphfix.cli.config import add_config_option

    add_config_option(parser)


def add_quiet_option(parser: argparse.ArgumentParser) -> None:
    """--quiet: no progress display (it is already off when stderr is not a terminal)."""
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display")


def add_path_options(parser: argparse.ArgumentParser) -> None:
    """--exclude and --jobs, for commands that take several models."""
    parser.add_argument("--exclude", action="append", metavar="PATTERN",
                        help="skip paths matching this pattern (fnmatch; a name, or a path from here)")
    parser.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                        help="files linted at once, in a process pool (default: the number of cores, "
                             "when the files are enough work to pay for the pool)")


def add_custom_ops_option(parser: argparse.ArgumentParser) -> None:
    """--custom-ops FILE.py (repeatable): loaded by ``main`` for the whole command."""
    parser.add_argument("--custom-ops", action="append", default=[], metavar="FILE.py",
                        help="reference implementations of custom ops: every top-level function named like an op "
                             "of the model (inputs as numpy arrays, attributes as keyword arguments)")


def message_of(error: GraphfixError) -> str:
    """The error's one line, with the library's parameter names replaced by the CLI's flags."""
    return speak(str(error), error.parameters)


def report_error(errors: Console, error: GraphfixError | str, args: argparse.Namespace) -> None:
    """Print a user error as one line (and the traceback with --verbose)."""
    from rich.markup import escape

    message = message_of(error) if isinstance(error, GraphfixError) else error
    errors.print(f"[bold red]graphfix: error:[/bold red] {escape(message)}")
    if getattr(args, "verbose", False):
        errors.print(traceback.format_exc(), markup=False)


def report_internal(errors: Console, error: BaseException, args: argparse.Namespace, where: str) -> None:
    """Print a bug in graphfix as one line (and the traceback with --verbose)."""
    from rich.markup import escape

    errors.print(f"[bold red]graphfix: internal error[/bold red]{escape(where)}: "
                 f"{type(error).__name__}: {escape(str(error).splitlines()[0] if str(error) else '')} "
                 "(re-run with --verbose for the traceback, and please report it)")
    if getattr(args, "verbose", False):
        errors.print("".join(traceback.format_exception(error)), markup=False)


def parse_input_shapes(specs: Sequence[str]) -> dict[str, list[int]]:
    """``--input-shape NAME:1x3x224x224`` (or ``NAME:1,3,224,224``) specs as ``{name: dims}``.

    Raises:
        UsageError: A spec is not NAME:DIMS with positive integer dims.
    """
    shapes: dict[str, list[int]] = {}
    for spec in specs:
        name, sep, dims = spec.rpartition(":")
        if not sep or not name or not dims:
            raise UsageError(f"--input-shape {spec!r}: expected NAME:DIMS, e.g. x:1x3x224x224")
        try:
            values = [int(d) for d in dims.replace(",", "x").split("x")]
        except ValueError:
            raise UsageError(f"--input-shape {spec!r}: dims must be integers separated by x") from None
        if any(v <= 0 for v in values):
            raise UsageError(f"--input-shape {spec!r}: dims must be positive")
        shapes[name] = values
    return shapes


def parse_input_ranges(specs: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``--input-range NAME:LO,HI`` specs as ``{name: (lo, hi)}``.

    Raises:
        UsageError: A spec is not NAME:LO,HI with LO <= HI.
    """
    ranges: dict[str, tuple[float, float]] = {}
    for spec in specs:
        name, sep, bounds = spec.rpartition(":")
        low, comma, high = bounds.partition(",")
        try:
            if not sep or not comma:
                raise ValueError
            ranges[name] = (float(low), float(high))
        except ValueError:
            raise UsageError(f"--input-range {spec!r}: expected NAME:LO,HI, e.g. input_ids:0,30521") from None
        if ranges[name][0] > ranges[name][1]:
            raise UsageError(f"--input-range {spec!r}: LO is above HI")
    return ranges


def parse_reshapes(specs: Sequence[str]) -> dict[str, list[int]]:
    """``--reshape NODE=DIMS`` specs as ``{node: dims}``.

    Raises:
        UsageError: A spec is not NODE=DIMS with integer dims.
    """
    result: dict[str, list[int]] = {}
    for spec in specs:
        name, sep, dims = spec.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            result[name] = [int(d) for d in dims.replace("x", ",").split(",")]
        except ValueError:
            raise UsageError(f"--reshape {spec!r}: expected NODE=DIMS, e.g. /Reshape=-1,25") from None
    return result


def check_output_flag(flag: str, output: str | None, inputs: Sequence[str | os.PathLike[str]]) -> None:
    """Refuse, before any work, an output flag (``--output-file``, ``--report``, ``--save-outputs``,
    ``--engine``) whose file would overwrite an input model or its external data, or whose folder does not
    exist. Only ``fix -o IN --in-place`` may replace an input.

    Raises:
        UsageError: The output is an input model or one of its external data files, a folder, or its
            folder does not exist.
    """
    if not output:
        return
    target = Path(output)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{flag} {output}: the output folder {parent} does not exist (create it first)")
    if target.is_dir():
        raise UsageError(f"{flag} {output}: is a directory; give a file name")
    if not target.exists():
        return  # nothing there to overwrite
    for source in inputs:
        for protected in _model_files(Path(source)):
            if os.path.samefile(target, protected):
                what = "the input model" if protected == Path(source) else "external data of the input model"
                raise UsageError(f"{flag} {output}: is {what} {source}; give another path (graphfix never "
                                 "overwrites its input)")


def _model_files(model: Path) -> list[Path]:
    """``model`` and the external data files it names (read only when an output would land on a file)."""
    if not model.is_file():
        return []
    files = [model]
    if model.suffix.lower() != ".onnx":
        return files
    try:
        import onnx

        proto = onnx.load(str(model), load_external_data=False)
    except Exception:  # not a readable model: the command reports that itself
        return files
    from graphfix.ir.loading import external_locations

    files += [f for f in (model.parent / location for location in external_locations(proto)) if f.is_file()]
    return files
