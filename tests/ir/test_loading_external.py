"""External data is read from the model's folder, whether the tensor is an initializer or a node attribute."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import onnx.helper as oh
import onnx.numpy_helper as onh
from onnx.external_data_helper import convert_model_to_external_data

from graphfix.ir import load


def _model(folder: Path) -> Path:
    weight = np.arange(12, dtype=np.float32).reshape(3, 4)
    bias = np.full((3, 4), 0.5, np.float32)
    graph = oh.make_graph(
        [oh.make_node("Constant", [], ["b"], value=onh.from_array(bias, "bias")),
         oh.make_node("Add", ["x", "w"], ["t"]), oh.make_node("Add", ["t", "b"], ["y"])], "g",
        [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [3, 4])],
        [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [3, 4])], [onh.from_array(weight, "w")])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="m.onnx.data", size_threshold=0,
                                   convert_attribute=True)
    path = folder / "m.onnx"
    onnx.save(model, str(path))
    return path


def test_external_initializers_and_attributes_are_read_from_the_models_folder(tmp_path: Path, monkeypatch):
    path = _model(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative locations must not resolve against the working directory
    loaded = load(os.path.relpath(path, elsewhere))
    graph = loaded.model.graph
    weight = graph.initializers["w"].const_value
    assert weight is not None and np.array_equal(weight.numpy(), np.arange(12, dtype=np.float32).reshape(3, 4))
    constant = next(node for node in graph if node.op_type == "Constant")
    assert np.array_equal(constant.attributes["value"].value.numpy(), np.full((3, 4), 0.5, np.float32))
