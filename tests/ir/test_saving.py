"""The one atomic writer: nothing half-written, the destination untouched on failure."""

from __future__ import annotations

import os

import pytest

from graphfix.errors import GraphfixError, WriteError
from graphfix.ir.saving import staged, write_bytes_atomic, write_text_atomic


def test_write_atomic_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "model.engine"
    assert write_bytes_atomic(target, b"engine-bytes") == 12 and target.read_bytes() == b"engine-bytes"

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_bytes_atomic(tmp_path / "other.engine", bytearray(b"x" * 100))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.engine"]


def test_a_failed_write_is_a_one_line_graphfix_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    write_text_atomic(target, "old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(WriteError, match="report.json: cannot write: no space left on device") as caught:
        write_text_atomic(target, "new")
    assert isinstance(caught.value, GraphfixError) and "\n" not in str(caught.value)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_companions_move_before_the_file_and_failures_leave_nothing(tmp_path):
    with staged(tmp_path / "m.onnx") as stage:
        (stage.folder / "m.onnx.data").write_bytes(b"weights")
        stage.path.write_bytes(b"graph")
        stage.add_companion("m.onnx.data")
    assert stage.written == [tmp_path / "m.onnx.data", tmp_path / "m.onnx"]
    with pytest.raises(RuntimeError):
        with staged(tmp_path / "n.onnx") as stage:
            stage.path.write_bytes(b"half")
            raise RuntimeError("a check refused it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]
    with pytest.raises(GraphfixError, match="does not exist"):
        with staged(tmp_path / "missing" / "x.onnx"):
            pass
