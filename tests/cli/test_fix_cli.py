"""``graphfix fix`` wiring: ``--report`` writes the HTML page; ``--diff PATH...`` over several models."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from graphs import RESIZE_SIZES, VIEW_SIZE0, parse, save

from graphfix.cli import main

CLEAN = """
agraph (float[N, 4] x) => (float[N, 4] y) {
    y = Relu(x)
}
"""


def test_fix_report_writes_one_page_with_the_pictures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = save(parse(VIEW_SIZE0), tmp_path / "view.onnx")
    before = source.read_bytes()
    assert main(["fix", str(source), "-o", str(tmp_path / "fixed.onnx"), "--report", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "GF101" in page and "PASSED" in page.upper()
    assert page.count("<svg") >= 2  # before and after, drawn by dot or grandalf (both installed by default)
    assert page.count("before") >= 1 and page.count("after") >= 1
    assert "wrote the report" in capsys.readouterr().out
    assert source.read_bytes() == before


def test_fix_diff_over_several_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    changing = save(parse(RESIZE_SIZES), tmp_path / "resize.onnx")
    clean = save(parse(CLEAN), tmp_path / "clean.onnx")
    clean2 = save(parse(CLEAN), tmp_path / "clean2.onnx")
    assert main(["fix", "--diff", str(clean), str(clean2)]) == 0
    capsys.readouterr()
    assert main(["fix", "--diff", str(clean), str(changing)]) == 1
    out = capsys.readouterr().out
    assert "resize.onnx" in out and "would be made" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.onnx", "clean2.onnx", "resize.onnx"]
    assert main(["fix", "--diff", str(tmp_path)]) == 1  # a folder, as lint takes it


def test_one_unreadable_model_does_not_hide_the_others(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"junk")
    changing = save(parse(RESIZE_SIZES), tmp_path / "resize.onnx")
    assert main(["fix", "--diff", str(broken), str(changing)]) == 2
    captured = capsys.readouterr()
    assert "broken.onnx" in captured.err and "resize.onnx" in captured.out


def test_several_models_need_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = save(parse(CLEAN), tmp_path / "a.onnx")
    assert main(["fix", str(a), str(a), "-o", str(tmp_path / "o.onnx")]) == 2
    assert "several models only with --diff" in capsys.readouterr().err
    assert onnx.load(str(a))  # untouched


def test_fix_diff_over_several_models_in_json_is_one_json_array(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import json

    changing = save(parse(RESIZE_SIZES), tmp_path / "resize.onnx")
    clean = save(parse(CLEAN), tmp_path / "clean.onnx")
    missing = tmp_path / "missing.onnx"
    assert main(["fix", "--diff", str(changing), str(clean), str(missing), "--format", "json"]) == 2
    captured = capsys.readouterr()
    documents = json.loads(captured.out)  # one JSON value, not one document per model run together
    assert [d["file"] for d in documents] == [str(changing), str(clean), str(missing)]
    assert documents[0]["applied"] and not documents[1]["applied"]
    assert documents[2]["error"] == f"{missing}: no such file (check the path)"
    # The error names the file once (it was "missing.onnx: missing.onnx: no such file").
    assert captured.err == f"graphfix: error: {missing}: no such file (check the path)\n"
