"""``graphfix lint PATH...`` like ruff: folders, globs, --exclude, sidecars, --jobs, one bad file."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from graphs import RESIZE_SIZES, VIEW_SIZE0, parse, save

from graphfix.cli import main
from graphfix.cli.paths import collect_models, is_sidecar

CLEAN = """
agraph (float[N, 4] x) => (float[N, 4] y) {
    y = Relu(x)
}
"""


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """models/{a,b}/ with two faulty models, a clean one, an external-data model and its sidecar."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "a").mkdir(parents=True)
    (tmp_path / "models" / "b" / "deep").mkdir(parents=True)
    save(parse(VIEW_SIZE0), tmp_path / "models" / "a" / "view.onnx")
    save(parse(RESIZE_SIZES), tmp_path / "models" / "b" / "deep" / "resize.onnx")
    save(parse(CLEAN), tmp_path / "models" / "clean.onnx")
    external = parse(VIEW_SIZE0)
    onnx.save(external, str(tmp_path / "models" / "b" / "ext.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="ext.onnx.data", size_threshold=0)
    sidecar = tmp_path / "models" / "b" / "ext.onnx.data"
    if not sidecar.exists():  # no initializer was large enough: write one as an exporter would
        sidecar.write_bytes(b"\0" * 64)
    (tmp_path / "models" / "README.md").write_text("not a model")
    return tmp_path


def lint_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(["lint", "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def files(document: dict[str, object]) -> list[str]:
    return [Path(entry["file"]).as_posix() for entry in document["files"]]  # type: ignore[index, union-attr]


def test_a_folder_is_searched_recursively_in_a_stable_order(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, document = lint_json(["models", "-j", "1"], capsys)
    assert code == 1
    assert files(document) == ["models/a/view.onnx", "models/b/deep/resize.onnx", "models/b/ext.onnx",
                               "models/clean.onnx"]
    assert not any(f.endswith(".data") for f in files(document))


def test_jobs_give_the_same_report_in_the_same_order(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, serial = lint_json(["models", "--jobs", "1"], capsys)
    _, parallel = lint_json(["models", "--jobs", "2"], capsys)
    for document in (serial, parallel):
        for entry in document["files"]:  # type: ignore[union-attr]
            entry.pop("seconds")
    assert serial == parallel
    assert serial["summary"]["findings"] >= 3  # type: ignore[index]


def test_globs_and_exclude(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, document = lint_json(["models/**/*.onnx", "--exclude", "deep", "--exclude", "clean.onnx"], capsys)
    assert files(document) == ["models/a/view.onnx", "models/b/ext.onnx"]
    assert main(["lint", "models/*.nothing"]) == 2
    assert "matches no .onnx file" in capsys.readouterr().err


def test_a_named_sidecar_is_never_taken_for_a_model(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert is_sidecar(Path("m.onnx.data")) and not is_sidecar(Path("m.onnx"))
    assert collect_models(["models/b/ext.onnx.data", "models/clean.onnx"]) == [Path("models/clean.onnx")]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_one_bad_file_does_not_hide_the_others(tree: Path, capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    (tree / "models" / "a" / "broken.onnx").write_bytes(b"not a protobuf at all")
    code = main(["lint", "models", "-j", jobs])
    captured = capsys.readouterr()
    assert code == 2
    assert "broken.onnx" in captured.err
    assert "view.onnx" in captured.out and "resize.onnx" in captured.out and "GF201" in captured.out


def test_jobs_must_be_positive(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "models", "--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_html_format(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "models", "--format", "html", "--output-file", "report.html"]) == 1
    page = (tree / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") or page.lower().startswith("<!doctype html>")
    assert "view.onnx" in page and "GF201" in page and "<script src" not in page
