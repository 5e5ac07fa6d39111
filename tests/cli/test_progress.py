"""graphfix.progress: silent unless stderr is a terminal and quiet is off; rich only imported to draw."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import pytest

from graphfix.progress import SILENT, Progress, progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    reporter = Progress(stream=stream)
    assert not reporter.enabled
    with reporter.task("verifying at batch 3", total=4) as step:
        step.advance(2)
        step.update(description="verifying at batch 5")
    with progress("loading model.onnx", stream=stream) as step:
        step.advance()
    assert stream.getvalue() == ""


def test_silent_with_quiet_even_on_a_terminal() -> None:
    stream = FakeTerminal()
    assert not Progress(quiet=True, stream=stream).enabled
    with progress("saving fixed.onnx", quiet=True, stream=stream, force_terminal=True) as step:
        step.advance()
    assert stream.getvalue() == "" and not SILENT.enabled


def test_a_terminal_stream_enables_it() -> None:
    assert Progress(stream=FakeTerminal()).enabled


def test_visible_on_a_forced_terminal_with_bar_and_count() -> None:
    stream = io.StringIO()
    reporter = Progress(stream=stream, force_terminal=True)
    with reporter.task("verifying at batch 3") as outer:
        with reporter.task("calibrating", total=4) as step:
            for _ in range(4):
                step.advance()
                time.sleep(0.01)
        outer.update(description="verifying at batch 5")
    text = stream.getvalue()
    assert "calibrating" in text and "4/4" in text and "verifying at batch" in text
    assert "\x1b[" in text  # drawn with terminal control sequences
    assert text.endswith("\x1b[?25h\r") or "\x1b[2K" in text  # transient: the lines are erased at the end


def test_the_display_stops_when_a_step_fails_and_can_start_again() -> None:
    stream = io.StringIO()
    reporter = Progress(stream=stream, force_terminal=True)
    with pytest.raises(RuntimeError), reporter.task("compiling"):
        raise RuntimeError("engine build failed")
    assert reporter._display is None
    with reporter.task("compiling again", total=1) as step:
        step.advance()
    assert "compiling again" in stream.getvalue()


def test_importing_it_does_not_import_rich() -> None:
    code = ("import sys, graphfix; before = set(sys.modules); import graphfix.progress as p; "
            "print(sorted(m for m in set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "['graphfix.progress']"
