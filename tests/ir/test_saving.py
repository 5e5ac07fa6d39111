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


@pytest.mark.parametrize("weight_count, sidecar", [(8, False), (4096, True)], ids=["small", "large"])
def test_external_data_is_written_only_when_a_tensor_lands_in_it(tmp_path, weight_count, sidecar):
    """A model with external data keeps it external; onnx-ir leaves tensors under its threshold inside the
    model, and when that is all of them no empty ``.data`` is written (or announced) beside the model."""
    import numpy as np
    import onnx
    import onnx.helper as oh
    import onnx.numpy_helper as onh
    import onnxruntime as ort

    from graphfix.ir import load, save_model

    weight = np.arange(weight_count, dtype=np.float32)
    graph = oh.make_graph([oh.make_node("Add", ["x", "w"], ["y"])], "g",
                          [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", weight_count])],
                          [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", weight_count])],
                          [onh.from_array(weight, "w")])
    source = tmp_path / "in" / "m.onnx"
    source.parent.mkdir()
    onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)]), source, save_as_external_data=True,
              location="m.bin", size_threshold=0)
    out = tmp_path / "out.onnx"
    written = save_model(load(source).model, out)
    assert written == ([tmp_path / "out.onnx.data", out] if sidecar else [out])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in", "out.onnx"] + ["out.onnx.data"] * sidecar)
    x = np.ones((2, weight_count), np.float32)
    np.testing.assert_array_equal(ort.InferenceSession(str(out)).run(None, {"x": x})[0], x + weight)
