"""Validation: onnx.checker's full check, and a fault the export already had named as the export's."""

from __future__ import annotations

import onnx
import onnx.helper as oh
import onnx_ir as ir
import pytest
from onnx import TensorProto

from graphfix.errors import VerificationError
from graphfix.fixing.validate import validate


def split(sizes: list[int]) -> onnx.ModelProto:
    """The legacy exporter's Split of a dim 15 into ``sizes`` (fuzz kind B1: [7, 7, 7] is invalid)."""
    node = oh.make_node("Split", ["x", "sizes"], ["a", "b", "c"], axis=1, name="/Split")
    outputs = [oh.make_tensor_value_info(name, TensorProto.FLOAT, ["N", size]) for name, size in zip("abc", sizes)]
    graph = oh.make_graph([node], "g", [oh.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 15])], outputs,
                          [oh.make_tensor("sizes", TensorProto.INT64, [3], sizes)])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])


def test_a_fault_of_the_export_is_named_with_its_node_not_blamed_on_graphfix(tmp_path):
    broken = tmp_path / "fixed.onnx"
    onnx.save(split([7, 7, 7]), broken)
    for original in (broken, ir.serde.deserialize_model(split([7, 7, 7]))):
        with pytest.raises(VerificationError) as error:
            validate(broken, original=original)
        message = str(error.value)
        assert message.startswith("the original model already fails onnx.checker: ")
        assert "node name: /Split" in message and "a fault of the export" in message
        assert "please report this" not in message


def test_a_fault_graphfix_introduced_is_its_own(tmp_path):
    broken, good = tmp_path / "fixed.onnx", tmp_path / "original.onnx"
    onnx.save(split([7, 7, 7]), broken)
    onnx.save(split([5, 5, 5]), good)
    validate(good, original=broken)  # a valid model passes whatever the original
    with pytest.raises(VerificationError, match=r"^the fixed model fails onnx.checker: .*please report this"):
        validate(broken, original=good)
