"""The precision check: the transformed model against fp32, through the one comparator, judged by the
precision's similarity thresholds. fp16 is emulated (ONNX Runtime's CPU kernels would hide overflow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from graphfix.ir import load
from graphfix.precision import DEFAULT_THRESHOLDS, FP16_BLOCK_LIST, compare_precision, to_fp16
from graphfix.verify import input_shapes_for, input_specs, integer_ranges

BATCHES = (1, 3)


def _compare(source: Path, transformed: Path, precision: str, **kwargs):
    model = load(source).model
    specs = input_specs(model)
    feeds = {batch: input_shapes_for(specs, batch, {}) for batch in BATCHES}
    return compare_precision(source, transformed, feeds, precision=precision,
                             dtypes={spec.name: spec.dtype for spec in specs}, ranges=integer_ranges(model), **kwargs)


def _planted_overflow(path: Path) -> Path:
    """y = (x @ W) / 60000 with W = 60000 (both fp16-representable): x @ W = 60000 * sum(x), above fp16's
    65504 as soon as the 8 inputs in [0, 1) sum past 1.09; the division brings it back to [0, 8); + x."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])
    weight = numpy_helper.from_array(np.full((8, 8), 60000.0, np.float32), "W")
    divisor = numpy_helper.from_array(np.array(60000.0, np.float32), "D")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="big_matmul"),
             helper.make_node("Div", ["h", "D"], ["s"], name="back_down"),
             helper.make_node("Add", ["s", "x"], ["y"], name="residual")]  # stays fp16 in every variant
    graph = helper.make_graph(nodes, "planted", [x], [y], [weight, divisor])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_fp16_overflow_is_reported_and_block_list_fixes_it(tmp_path: Path) -> None:
    source = _planted_overflow(tmp_path / "planted.onnx")

    plain = to_fp16(source, tmp_path / "plain.fp16.onnx")
    for runner in ("auto", "reference"):
        report = _compare(source, plain, "fp16", runner=runner)
        assert not report.passed, runner
        assert all(o.nonfinite > 0 and not o.passed for o in report.outputs)
        assert "non-finite" in report.message and "overflow" in report.message
        assert json.loads(json.dumps(report.to_dict(), allow_nan=False))["passed"] is False

    # Blocking the MatMul alone is not enough: its fp32 result is cast back to fp16 for the Div.
    half = to_fp16(source, tmp_path / "half.fp16.onnx", block_list=(*FP16_BLOCK_LIST, "MatMul"))
    assert not _compare(source, half, "fp16").passed

    # Blocking the chain that carries the large value keeps it in fp32 end to end.
    safe = to_fp16(source, tmp_path / "safe.fp16.onnx", block_list=(*FP16_BLOCK_LIST, "MatMul", "Div"))
    for runner in ("auto", "reference"):
        report = _compare(source, safe, "fp16", runner=runner)
        assert report.passed, report.message
        assert all(o.nonfinite == 0 and o.cosine > 0.99999 for o in report.outputs)


def _mlp(path: Path, scale: float = 1.0, noise: float = 0.0) -> Path:
    """y = relu(x @ W + b) (scaled, and with weights perturbed by relative ``noise``): 4 outputs per row."""
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((8, 4)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    weight = weight * (1 + noise * np.random.default_rng(4).standard_normal(weight.shape).astype(np.float32))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Add", ["m", "B"], ["y"])], "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(weight * scale, "W"), numpy_helper.from_array(bias * scale, "B")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize(("scale", "noise", "passes", "problem"), [
    (1.0, 0.0, True, ""),
    (1.002, 0.0, True, ""),  # fp16-sized error: within 1e-2 + 1e-2*|ref|
    (1.05, 0.0, False, "beyond 0.01 + 0.01*|ref|"),  # 5% too large: cosine is blind to it, the bound is not
    (1.0, 0.15, False, "cosine"),  # weights 15% off: the direction of the output changes
], ids=["same", "fp16-sized", "five-percent-gain", "noisy-weights"])
def test_fp16_thresholds_catch_errors_fp16_does_not_make(tmp_path, scale, noise, passes, problem):
    original = _mlp(tmp_path / "original.onnx")
    candidate = _mlp(tmp_path / "candidate.onnx", scale=scale, noise=noise)
    report = _compare(original, candidate, "fp16")
    assert report.thresholds == DEFAULT_THRESHOLDS["fp16"]
    assert report.passed is passes, report.message
    assert problem in report.message
    if not passes:
        worst = report.worst()
        assert worst is not None and not worst.passed
