"""The analysis' numpy evaluator agrees with ONNX Runtime on the edge cases of the spec."""

from __future__ import annotations

import itertools

import numpy as np
import onnx.helper as oh
import onnx_ir as ir
import pytest

from graphfix.analyse.evaluator import evaluate


def _run_both(node_proto, inputs: dict[str, np.ndarray], opset: int = 17):
    import onnxruntime as ort

    graph = oh.make_graph([node_proto], "g", [oh.make_tensor_value_info(n, oh.np_dtype_to_tensor_dtype(a.dtype), a.shape)
                                              for n, a in inputs.items()],
                          [oh.make_empty_tensor_value_info(o) for o in node_proto.output])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, inputs)
    node = list(ir.from_proto(model).graph)[0]
    got = evaluate(node, list(inputs.values()), opset)
    return got, want


@pytest.mark.parametrize("start,end,step", list(itertools.product([-100, -6, -1, 0, 3, 6, 100],
                                                                   [-100, -7, -1, 0, 3, 7, 100], [1, -1, -2])))
def test_slice_clamps_like_onnx(start: int, end: int, step: int):
    inputs = {"d": np.arange(6, dtype=np.int64), "s": np.array([start]), "e": np.array([end]),
              "a": np.array([0]), "p": np.array([step])}
    got, want = _run_both(oh.make_node("Slice", list(inputs), ["o"]), inputs)
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("noop", [0, 1])
def test_reduce_with_empty_axes(noop: int):
    inputs = {"d": np.array([3, 4, 6], dtype=np.int64), "a": np.zeros(0, dtype=np.int64)}
    node = oh.make_node("ReduceSum", ["d", "a"], ["o"], noop_with_empty_axes=noop, keepdims=0)
    got, want = _run_both(node, inputs)
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("a,b", [(-7, 2), (7, -2), (-7, -2), (6, 3)])
def test_integer_division_truncates(a: int, b: int):
    inputs = {"x": np.array([a], dtype=np.int64), "y": np.array([b], dtype=np.int64)}
    got, want = _run_both(oh.make_node("Div", ["x", "y"], ["o"]), inputs)
    np.testing.assert_array_equal(got[0], want[0])
