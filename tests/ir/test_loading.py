"""Bad input: every problem is one clear ModelError naming the file; nothing crashes."""

import os
from pathlib import Path

import numpy as np
import onnx
import onnx.helper as oh
import pytest
from graphs import VIEW_SIZE0, parse

import graphfix
from graphfix.errors import ModelError
from graphfix.ir.loading import load


def test_missing_file(tmp_path: Path):
    with pytest.raises(ModelError, match="no such file"):
        load(tmp_path / "nope.onnx")


def test_directory(tmp_path: Path):
    with pytest.raises(ModelError, match="is a directory"):
        load(tmp_path)


def test_file_that_is_not_onnx(tmp_path: Path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\n")
    with pytest.raises(ModelError, match="notes.onnx: not a"):
        load(path)


def test_empty_file(tmp_path: Path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelError, match="no graph"):
        load(path)


def test_truncated_model(tmp_path: Path):
    data = parse(VIEW_SIZE0).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="cut.onnx"):
        load(path)


def test_cycle(tmp_path: Path):
    graph = oh.make_graph(
        [oh.make_node("Add", ["x", "b"], ["a"]), oh.make_node("Relu", ["a"], ["b"])], "cyc",
        [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [oh.make_tensor_value_info("b", onnx.TensorProto.FLOAT, [1])])
    path = tmp_path / "cycle.onnx"
    onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)]), path)
    with pytest.raises(ModelError, match="cycle"):
        load(path)


def test_undefined_tensor():
    graph = oh.make_graph([oh.make_node("Relu", ["ghost"], ["y"])], "g", [],
                          [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    with pytest.raises(ModelError, match="'ghost'"):
        load(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)]))


def test_opset_newer_than_onnx_knows():
    model = parse(VIEW_SIZE0)
    model.opset_import[0].version = 99
    with pytest.raises(ModelError, match="opset 99 is newer"):
        load(model)


def _with_external_weight(tmp_path: Path, location: str) -> Path:
    weight = oh.make_tensor("w", onnx.TensorProto.FLOAT, [4], np.ones(4, np.float32).tobytes(), raw=True)
    graph = oh.make_graph([oh.make_node("Add", ["x", "w"], ["y"])], "g",
                          [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])],
                          [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4])], [weight])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    onnx.save(model, tmp_path / "m.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="m.data", size_threshold=0)
    reloaded = onnx.load(tmp_path / "m.onnx", load_external_data=False)
    for entry in reloaded.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    onnx.save(reloaded, tmp_path / "m.onnx")
    return tmp_path / "m.onnx"


def test_external_data_loads_lazily_and_lints(tmp_path: Path):
    path = _with_external_weight(tmp_path, "m.data")
    assert graphfix.lint(path).findings == []


def test_missing_external_data(tmp_path: Path):
    path = _with_external_weight(tmp_path, "gone.data")
    with pytest.raises(ModelError, match="'gone.data' of tensor 'w' is missing"):
        load(path)


@pytest.mark.parametrize("location", ["../m.data", "/etc/passwd"])
def test_external_data_outside_the_folder_is_refused(tmp_path: Path, location: str):
    sub = tmp_path / "sub"
    sub.mkdir()
    path = _with_external_weight(sub, location)
    with pytest.raises(ModelError, match="outside the model's folder"):
        load(path)


def test_truncated_external_data(tmp_path: Path):
    path = _with_external_weight(tmp_path, "m.data")
    (tmp_path / "m.data").write_bytes(b"\0\0")
    with pytest.raises(ModelError, match="shorter than tensor 'w'"):
        load(path)


def test_lint_does_not_modify_the_input(tmp_path: Path):
    path = tmp_path / "m.onnx"
    onnx.save(parse(VIEW_SIZE0), path)
    before = path.read_bytes()
    graphfix.lint(path)
    assert path.read_bytes() == before


def test_hard_linked_external_data_lints_and_is_refused_before_its_weights_are_read(tmp_path: Path):
    """onnx-ir will not read weights from a file with several hard links (DVC's hard-link cache makes
    them): lint, which reads no weights, works; whatever writes weights is refused with one line first."""
    from graphfix.ir.loading import require_weights

    path = _with_external_weight(tmp_path, "m.data")
    os.link(tmp_path / "m.data", tmp_path / "cache-copy")
    assert graphfix.lint(path).error is None
    loaded = load(path)
    assert loaded.hard_linked == {"m.data": 2}
    with pytest.raises(ModelError, match=r"'m.data' has 2 hard links.*cp .*m\.data .*m\.data\.copy && mv"):
        require_weights(loaded)
    (tmp_path / "cache-copy").unlink()
    require_weights(load(path))  # one link: nothing to refuse
