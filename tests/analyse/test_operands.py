"""Operands by schema name, per opset (graphfix.analyse.operands): where each layout keeps them."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir
import pytest

from graphfix.analyse.evaluator import evaluate
from graphfix.analyse.operands import (
    Operand,
    attribute_array,
    input_name,
    is_required,
    operand,
    shape_input_indices,
)


def make(op: str, inputs: int = 1, **attributes: object) -> ir.Node:
    values = [ir.Value(name=f"i{k}") for k in range(inputs)]
    return ir.node(op, values, attributes=attributes or None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("op", "name", "opset", "where"), [
    ("Resize", "scales", 10, Operand("scales", index=1)),
    ("Resize", "roi", 10, Operand("roi")),
    ("Resize", "sizes", 10, Operand("sizes")),
    ("Resize", "scales", 11, Operand("scales", index=2)),
    ("Resize", "sizes", 13, Operand("sizes", index=3)),
    ("Resize", "axes", 18, Operand("axes", attribute=True)),
    ("Resize", "sizes", 19, Operand("sizes", index=3)),
    ("Upsample", "scales", 7, Operand("scales", attribute=True)),
    ("Upsample", "scales", 9, Operand("scales", index=1)),
    ("Pad", "pads", 2, Operand("pads", attribute=True)),
    ("Pad", "pads", 10, Operand("pads", attribute=True)),
    ("Pad", "pads", 11, Operand("pads", index=1)),
    ("Pad", "axes", 11, Operand("axes")),
    ("Pad", "axes", 18, Operand("axes", index=3)),
    ("Slice", "ends", 1, Operand("ends", attribute=True)),
    ("Slice", "ends", 9, Operand("ends", attribute=True)),
    ("Slice", "ends", 10, Operand("ends", index=2)),
    ("Slice", "steps", 13, Operand("steps", index=4)),
    ("Squeeze", "axes", 1, Operand("axes", attribute=True)),
    ("Squeeze", "axes", 11, Operand("axes", attribute=True)),
    ("Squeeze", "axes", 13, Operand("axes", index=1)),
    ("Unsqueeze", "axes", 12, Operand("axes", attribute=True)),
    ("Unsqueeze", "axes", 13, Operand("axes", index=1)),
    ("Split", "split", 2, Operand("split", attribute=True)),
    ("Split", "split", 11, Operand("split", attribute=True)),
    ("Split", "split", 13, Operand("split", index=1)),
    ("Split", "num_outputs", 13, Operand("num_outputs")),
    ("Split", "num_outputs", 18, Operand("num_outputs", attribute=True)),
    ("ReduceSum", "axes", 11, Operand("axes", attribute=True)),
    ("ReduceSum", "axes", 13, Operand("axes", index=1)),
    ("ReduceMean", "axes", 13, Operand("axes", attribute=True)),
    ("ReduceMean", "axes", 17, Operand("axes", attribute=True)),
    ("ReduceMean", "axes", 18, Operand("axes", index=1)),
    ("ReduceL2", "axes", 18, Operand("axes", index=1)),
    ("Clip", "max", 6, Operand("max", attribute=True)),
    ("Clip", "max", 11, Operand("max", index=2)),
    ("TopK", "k", 1, Operand("k", attribute=True)),
    ("TopK", "K", 10, Operand("K", index=1)),
])
def test_where_an_operand_lives(op: str, name: str, opset: int, where: Operand) -> None:
    assert operand(make(op), name, opset) == where


def test_shape_inputs_follow_the_opset() -> None:
    assert shape_input_indices(make("Resize"), 10) == (1,)
    assert shape_input_indices(make("Resize"), 13) == (1, 2, 3)
    assert shape_input_indices(make("Pad"), 10) == ()
    assert shape_input_indices(make("Pad"), 11) == (1,)  # constant_value (2) is data
    assert shape_input_indices(make("Pad"), 18) == (1, 3)
    assert shape_input_indices(make("ReduceMean"), 13) == ()
    assert shape_input_indices(make("ReduceMean"), 18) == (1,)
    assert shape_input_indices(make("Clip"), 11) == ()
    assert shape_input_indices(ir.node("Resize", [], domain="com.example"), 13) == ()
    assert input_name(make("Resize"), 1, 10) == "scales" and input_name(make("Resize"), 1, 11) == "roi"
    assert input_name(make("Concat"), 5, 13) == "inputs"  # variadic
    assert is_required(make("Resize"), "roi", 11) and not is_required(make("Resize"), "roi", 13)


def test_attribute_arrays() -> None:
    node = make("Squeeze", axes=[1, 2])
    assert attribute_array(node, "axes").tolist() == [1, 2]  # type: ignore[union-attr]
    assert attribute_array(make("Clip", max=3.5), "max").tolist() == 3.5  # type: ignore[union-attr]
    assert attribute_array(node, "absent") is None


@pytest.mark.parametrize(("op", "opset", "attributes", "extra", "shape"), [
    ("Squeeze", 11, {"axes": [1]}, [], (2, 3)),
    ("Squeeze", 13, {}, [np.array([1])], (2, 3)),
    ("Unsqueeze", 11, {"axes": [0]}, [], (1, 2, 1, 3)),
    ("Unsqueeze", 13, {}, [np.array([0])], (1, 2, 1, 3)),
    ("ReduceMean", 13, {"axes": [2]}, [], (2, 1, 1)),
    ("ReduceMean", 18, {}, [np.array([2])], (2, 1, 1)),
    ("ReduceSum", 11, {"axes": [2], "keepdims": 0}, [], (2, 1)),
    ("ReduceSum", 13, {"keepdims": 0}, [np.array([2])], (2, 1)),
    ("Slice", 9, {"starts": [0], "ends": [1], "axes": [2]}, [], (2, 1, 1)),
    ("Slice", 10, {}, [np.array([0]), np.array([1]), np.array([2])], (2, 1, 1)),
])
def test_the_evaluator_reads_each_layout(op: str, opset: int, attributes: dict[str, object],
                                         extra: list[np.ndarray], shape: tuple[int, ...]) -> None:
    data = np.arange(6, dtype=np.int64).reshape(2, 1, 3)
    node = make(op, 1 + len(extra), **attributes)
    [result] = evaluate(node, [data, *extra], opset)
    assert result.shape == shape


@pytest.mark.parametrize(("opset", "attributes", "extra"), [(11, {"axes": [1]}, []), (13, {}, [np.array([1])])])
def test_squeeze_axes_are_read_not_guessed(opset: int, attributes: dict[str, object], extra: list[np.ndarray]) -> None:
    [result] = evaluate(make("Squeeze", 1 + len(extra), **attributes), [np.zeros((1, 1, 3)), *extra], opset)
    assert result.shape == (1, 3)  # not (3,): the batch dim of size 1 stays
