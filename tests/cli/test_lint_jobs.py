"""``lint --jobs``: the process pool, and the default that fans out only when the files are worth a pool."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphs import VIEW_SIZE0, parse, save

from graphfix.cli import lint_jobs
from graphfix.cli.lint_jobs import POOL_MIN_BYTES, DetachedFinding, FileTask, lint_files, worth_a_pool
from graphfix.linting import Finding


@pytest.fixture
def small(tmp_path: Path) -> list[FileTask]:
    paths = []
    for index in range(3):
        path = tmp_path / f"view{index}.onnx"
        save(parse(VIEW_SIZE0), path)
        paths.append(path)
    return [FileTask(str(p), None, [], {}) for p in paths]


def _kinds(results: list[lint_jobs.FileResult]) -> set[type]:
    return {type(f) for r in results for f in r.report.findings}


def test_small_files_are_not_worth_a_pool_and_large_ones_are(small: list[FileTask], tmp_path: Path) -> None:
    assert not worth_a_pool(small)
    big = tmp_path / "big.onnx"
    big.write_bytes(b"\0" * POOL_MIN_BYTES)
    assert worth_a_pool([*small, FileTask(str(big), None, [], {})])
    assert not worth_a_pool([FileTask(str(tmp_path / "missing.onnx"), None, [], {})])


def test_by_default_small_files_lint_in_process(small: list[FileTask]) -> None:
    # In-process results keep live findings (with their graph nodes); a pool's are detached copies.
    results = list(lint_files(small, 2, auto=True))
    assert _kinds(results) == {Finding}
    assert all(r.report.findings and r.report.findings[0].node is not None for r in results)


def test_jobs_asked_for_always_use_the_pool_with_the_same_findings(small: list[FileTask]) -> None:
    pooled = list(lint_files(small, 2))
    assert _kinds(pooled) == {DetachedFinding}
    serial = list(lint_files(small, 1))
    assert [[(f.code, f.message) for f in r.report.findings] for r in pooled] == \
        [[(f.code, f.message) for f in r.report.findings] for r in serial]


def test_enough_work_fans_out_by_default(small: list[FileTask], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lint_jobs, "POOL_MIN_BYTES", 1)
    assert _kinds(list(lint_files(small, 2, auto=True))) == {DetachedFinding}


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_file_error_names_its_file(small: list[FileTask], jobs: int, capsys: pytest.CaptureFixture[str]) -> None:
    """An option that one model contradicts is that model's error: each of them is named (in the pool too)."""
    import json

    from graphfix.cli import main

    folder = str(Path(small[0].path).parent)
    assert main(["lint", folder, "--input-shape", "x:1x4x8x9", "--jobs", str(jobs), "--format", "json"]) == 2
    captured = capsys.readouterr()
    errors = [f["error"] for f in json.loads(captured.out)["files"]]
    assert errors == [f"{t.path}: --input-shape x: dim 3 is 8 in the model, 9 given (only dynamic dims can be "
                      "pinned)" for t in small]
    assert sorted(captured.err.splitlines()) == sorted(f"graphfix: error: {e}" for e in errors)
