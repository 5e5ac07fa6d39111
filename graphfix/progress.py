"""Progress display for long steps (loading and saving large models, verification batches, calibration,
engine builds), drawn by rich on stderr.

    from graphfix.progress import Progress

    progress = Progress(quiet=args.quiet)                 # one per command, passed down
    with progress.task("verifying at batch 3") as step:   # a spinner and the elapsed time
        ...
    with progress.task("calibrating", total=32) as step:  # a bar: 0/32 ... 32/32
        for batch in batches:
            ...
            step.advance(len(batch))

    with progress("saving fixed.onnx", quiet=args.quiet):   # one-off form
        ...

The display is silent when ``quiet`` is set or when the stream (stderr by default) is not a terminal, so
pipes, files and CI logs never get spinner frames. Importing this module costs nothing: rich is imported
only when a display is actually drawn. Library functions take ``progress: Progress | None = None`` and
use ``progress or SILENT``; a silent ``Progress`` does nothing at all.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, Any


class Step:
    """One running task: ``advance(n)`` moves its bar, ``update(description=..., total=...)`` relabels it."""

    def advance(self, amount: float = 1) -> None:
        pass

    def update(self, *, description: str | None = None, total: float | None = None,
               completed: float | None = None) -> None:
        pass


class _RichStep(Step):
    def __init__(self, owner: Progress, task_id: Any) -> None:
        self._owner, self._task_id = owner, task_id

    def advance(self, amount: float = 1) -> None:
        self._owner._display.advance(self._task_id, amount)

    def update(self, *, description: str | None = None, total: float | None = None,
               completed: float | None = None) -> None:
        fields: dict[str, Any] = {}
        if description is not None:
            fields["description"] = description
        if total is not None:
            fields["total"] = total
        if completed is not None:
            fields["completed"] = completed
        self._owner._display.update(self._task_id, **fields)


_SILENT_STEP = Step()


class Progress:
    """Progress display for one command. Tasks may nest (each gets its own line); the display starts with
    the first task and goes away when the last one ends (``transient``: nothing is left on the screen).

    ``stream``: where to draw (default ``sys.stderr``); ``force_terminal``: draw even when ``stream`` is
    not a terminal (tests, ``--progress`` style flags).
    """

    def __init__(self, *, quiet: bool = False, stream: IO[str] | None = None,
                 force_terminal: bool = False, transient: bool = True) -> None:
        # The stream is fixed now: a step may start while Polygraphy's output is captured (sys.stderr is
        # then a buffer, and a display made there would draw into it, unseen).
        self._stream = stream if stream is not None else sys.stderr
        self._force = force_terminal
        self._transient = transient
        self.enabled = not quiet and (force_terminal or _is_terminal(self._stream))
        self._display: Any = None
        self._active = 0
        self._lock = threading.Lock()

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Step]:
        """A running step: a spinner and the elapsed time, plus a bar and ``n/total`` when ``total`` is
        given. The task's line is removed when the block ends, whether it ends well or not."""
        if not self.enabled:
            yield _SILENT_STEP
            return
        with self._lock:
            if self._display is None:
                self._display = self._make_display()
                self._display.start()
            self._active += 1
            task_id = self._display.add_task(description, total=total)
        try:
            yield _RichStep(self, task_id)
        finally:
            with self._lock:
                self._display.refresh()  # the final count is drawn even for a step shorter than a frame
                self._display.remove_task(task_id)
                self._active -= 1
                if self._active == 0:
                    self._display.stop()
                    self._display = None

    def _make_display(self) -> Any:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )
        from rich.text import Text

        class Count(ProgressColumn):  # "3/32", nothing for a step without a total
            def render(self, task: Any) -> Text:
                if task.total is None:
                    return Text("")
                return Text(f"{task.completed:g}/{task.total:g}", style="progress.download")

        console = Console(file=self._stream, force_terminal=True if self._force else None, highlight=False)
        return RichProgress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(bar_width=30),
            Count(),
            TimeElapsedColumn(),
            console=console,
            transient=self._transient,
            redirect_stdout=False,
            redirect_stderr=False,
        )


SILENT = Progress(quiet=True)


@contextmanager
def progress(description: str, total: float | None = None, *, quiet: bool = False,
                  stream: IO[str] | None = None, force_terminal: bool = False) -> Iterator[Step]:
    """One task with its own display: ``with progress("loading model.onnx"): ...``."""
    with Progress(quiet=quiet, stream=stream, force_terminal=force_terminal).task(description, total) as step:
        yield step


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


# The display of the running command. Library steps draw on it without a parameter threaded through every
# call (``with current().task("saving ..."):``); outside the CLI it is SILENT, so library users see nothing.
_current: ContextVar[Progress] = ContextVar("graphfix_progress", default=SILENT)

# Files smaller than this load and save in well under a second: no line for them.
LARGE_FILE_BYTES = 64 * 2**20


def current() -> Progress:
    """The progress display of the running command (``SILENT`` outside :func:`use`)."""
    return _current.get()


@contextmanager
def use(display: Progress) -> Iterator[Progress]:
    """Make ``display`` the :func:`current` one for the block (the CLI wraps each command in it)."""
    token = _current.set(display)
    try:
        yield display
    finally:
        _current.reset(token)
