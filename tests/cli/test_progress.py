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
    imported = eval(out.strip())  # a printed list of module names
    assert "graphfix.progress" in imported
    assert not [m for m in imported if m.split(".")[0] in ("rich", "onnx_ir", "numpy", "onnx")], imported


# -- wired into the commands -----------------------------------------------------------------------------


def test_fix_shows_each_verification_batch_and_the_save(tmp_path, monkeypatch) -> None:
    import graphfix
    import graphfix.progress as progress_module
    from graphs import VIEW_SIZE0, parse, save
    from graphfix.progress import use

    source = save(parse(VIEW_SIZE0), tmp_path / "m.onnx")
    monkeypatch.setattr(progress_module, "LARGE_FILE_BYTES", 0)  # every file counts as large here
    stream = io.StringIO()
    with use(Progress(stream=stream, force_terminal=True, transient=False)):
        graphfix.fix(str(source), tmp_path / "out.onnx")
    text = stream.getvalue()
    assert "verify at batch 1, 3" in text and "2/2" in text
    assert "loading m.onnx" in text and "saving" in text
    stream = io.StringIO()
    graphfix.fix(str(source), tmp_path / "out2.onnx")  # outside the CLI: silent
    assert stream.getvalue() == ""


def test_int8_calibration_advances_per_batch(tmp_path) -> None:
    from pathlib import Path

    import numpy as np
    from graphfix.compiling import compile_model
    from graphfix.progress import use

    source = Path(__file__).resolve().parents[2] / "samples" / "detector_legacy.onnx"
    calib = tmp_path / "calib.npz"
    np.savez(calib, images=np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype(np.float32))
    stream = io.StringIO()
    with use(Progress(stream=stream, force_terminal=True, transient=False)):
        compile_model(source, precision="int8", backend="onnxruntime", calib_data=calib,
                      output_base=tmp_path / "m.onnx")
    text = stream.getvalue()
    assert "int8 calibration" in text and "int8 transform" in text


@pytest.mark.parametrize("flags, enabled", [([], True), (["--quiet"], False), (["-q"], False)])
def test_quiet_flag_turns_the_display_off(tmp_path, monkeypatch, flags, enabled) -> None:
    import graphfix.progress as progress_module
    from graphs import VIEW_SIZE0, parse, save
    from graphfix.cli import main

    source = save(parse(VIEW_SIZE0), tmp_path / "m.onnx")
    monkeypatch.setattr(progress_module, "_is_terminal", lambda stream: True)
    seen = []
    real_use = progress_module.use

    def spy(display):
        seen.append(display.enabled)
        return real_use(Progress(quiet=True))  # draw nothing in the test's output

    monkeypatch.setattr(progress_module, "use", spy)
    for command in (["lint", str(source)], ["fix", str(source), "--diff"],
                    ["compile", str(source), "--backend", "onnxruntime"], ["run", str(source)]):
        main([*command, *flags])
    assert seen == [enabled] * 4


def test_a_step_that_starts_while_output_is_captured_still_draws_on_the_terminal(monkeypatch) -> None:
    """Verification runs with Polygraphy's output captured (sys.stderr is a buffer then): its step drew
    into that buffer, so `graphfix fix` showed nothing while it verified."""
    from graphfix.compare.log import polygraphy_log

    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    reporter = Progress()  # made by the command, before anything is captured: draws on that stderr
    assert reporter.enabled
    with polygraphy_log() as log, reporter.task("verify at batch 1, 3", total=2) as step:
        assert sys.stderr is not terminal
        step.advance()
        time.sleep(0.3)
        print("polygraphy says", file=sys.stderr)
    assert "verify at batch 1, 3" in terminal.getvalue()
    assert "verify at batch" not in log.text and "polygraphy says" in log.text
