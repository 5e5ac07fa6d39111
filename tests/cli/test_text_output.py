"""The text report is the same characters into a pipe (written without rich) as rich draws it."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from graphfix.cli import main
from graphfix.cli.report import plain_text, print_lines, text_lines
from graphfix import lint

SAMPLES = Path(__file__).parents[2] / "samples"


def _rich(lines: list) -> str:
    buffer = io.StringIO()
    print_lines(Console(file=buffer, highlight=False, soft_wrap=True, no_color=True, width=80), lines)
    return buffer.getvalue()


def test_plain_and_rich_text_are_the_same_characters(tmp_path: Path) -> None:
    # A file name that looks like rich markup, and findings of every marker (safe, with options, info).
    model = shutil.copy(SAMPLES / "detector_legacy.onnx", tmp_path / "a[bold]b.onnx")
    reports = [lint(str(model)), lint(str(SAMPLES / "detector_dynamo.onnx"))]
    lines = text_lines(reports)
    assert len(lines) > 3 and "[bold]" in plain_text(lines)
    assert plain_text(lines) == _rich(lines)


def test_lint_into_a_pipe_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    model = shutil.copy(SAMPLES / "detector_legacy.onnx", tmp_path / "m[x].onnx")
    assert main(["lint", str(model)]) == 1
    out = capsys.readouterr().out
    assert out == _rich(text_lines([lint(str(model))]))
    assert f"{model}: /Resize GF201 [*] Resize '/Resize' takes sizes" in out
    assert out.splitlines()[-1].startswith("Found ") and "fixable with `graphfix fix` [*]" in out


def test_forced_colour_is_drawn_by_rich(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert main(["lint", str(SAMPLES / "detector_legacy.onnx")]) == 1
    assert "\x1b[" in capsys.readouterr().out
