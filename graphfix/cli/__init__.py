"""The ``graphfix`` command line: a thin layer on the library, one module per subcommand.

Exit codes follow ruff: 0 clean (or everything fixed), 1 findings remain, 2 usage error, unreadable or
invalid model, or internal error. Library errors are printed as one line with the CLI's flag names
(:mod:`.flags`).

Must never: compute anything the library does not (parsing the command line and rendering the results
are its whole job), or print a traceback unless asked (``--verbose``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from graphfix import __version__
from graphfix.cli import compile as compile_command
from graphfix.cli import config, fix, lint, plugin, rules, run
from graphfix.cli.common import (
    EXIT_CLEAN,
    EXIT_ERROR,
    EXIT_FINDINGS,
    Parser,
    lazy_console,
    report_error,
    report_internal,
)
from graphfix.errors import GraphfixError

# The subcommands, in the order ``graphfix --help`` lists them; each module has add_parsers().
COMMANDS: tuple[ModuleType, ...] = (lint, rules, fix, compile_command, run, plugin, config)

__all__ = ["COMMANDS", "EXIT_CLEAN", "EXIT_ERROR", "EXIT_FINDINGS", "build_parser", "entry", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; each sets ``args.run(args, console, errors) -> exit code``."""
    parser = Parser(prog="graphfix", description="Lint and fix PyTorch ONNX exports for TensorRT.")
    parser.add_argument("--version", action="version", version=f"graphfix {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``graphfix`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # --version and --help end here, before rich is imported
    console, errors = lazy_console(), lazy_console(stderr=True)  # rich is imported when first printed to
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    import gc

    collecting = gc.isenabled()
    if args.command == "lint":
        # Lint frees what it allocates by reference counting; the cyclic collector's passes over the
        # imports and the graph cost about 5% of a large model's lint (lint_files turns it back on for a
        # second file).
        gc.disable()
    try:
        from graphfix.progress import Progress, use

        from graphfix.plugins import registry_from, using

        # --custom-ops: the references every stage of this command runs custom ops through.
        with use(Progress(quiet=getattr(args, "quiet", False))), \
                using(registry_from(getattr(args, "custom_ops", None) or None)):
            code: int = args.run(args, console, errors)
        return code
    except GraphfixError as error:
        report_error(errors, error, args)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (`graphfix lint ... | head`): stop quietly, as command-line tools do, and
        # point stdout at /dev/null so that flushing it at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except KeyboardInterrupt:
        errors.print("graphfix: interrupted")
        return EXIT_ERROR
    except Exception as error:  # a bug in graphfix: one line, and the traceback on request
        report_internal(errors, error, args, "")
        return EXIT_ERROR
    finally:
        if collecting:
            gc.enable()


def entry() -> NoReturn:
    """The ``graphfix`` console script: :func:`main`, then exit with its code.

    After ``graphfix lint`` the process ends without tearing down its modules and objects (as mypy does):
    lint has written everything and holds nothing that needs closing, and the teardown of a large model's
    graph costs about 3% of its lint. Other commands exit normally."""
    code = main()
    if sys.argv[1:2] == ["lint"]:
        if "logging" in sys.modules:
            import logging

            logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)
