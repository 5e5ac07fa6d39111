"""The analysis: what is a constant, what follows the batch, and the batch facts rules share."""

from __future__ import annotations

import numpy as np
import onnx
import onnx.helper as oh
import onnx.numpy_helper as onh
import pytest
from graphs import STATIC_BATCH, findings, parse, run

import graphfix
from graphfix.analyse import Kind, analyse, walker
from graphfix.ir import load
from graphfix.linting import Options, lint_loaded


def listed_initializer(ir_version: int) -> onnx.ModelProto:
    """Reshape(x, t) with the initializer t = [2, 256] also listed as a graph input (IR 3 requires it)."""
    graph = oh.make_graph(
        [oh.make_node("Reshape", ["x", "t"], ["y"])], "g",
        [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 16, 16]),
         oh.make_tensor_value_info("t", onnx.TensorProto.INT64, [2])],
        [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["A", "B"])],
        [onh.from_array(np.array([2, 256], np.int64), "t")])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 8)], ir_version=ir_version)
    onnx.checker.check_model(model, full_check=True)
    return model


def test_before_ir_4_an_initializer_listed_as_input_is_a_constant():
    model = listed_initializer(3)
    analysis = analyse(load(model))
    t = next(v for v in analysis.model.graph.inputs if v.name == "t")
    assert not analysis.is_runtime(t) and list(analysis.value(t)) == [2, 256]
    assert analysis.value_kind(t) is Kind.CONSTANT
    codes = {f.code for f in findings(model)}
    assert "GF103" in codes and "GF901" not in codes  # the constant bakes batch 2; nothing is data-dependent


def test_from_ir_4_an_initializer_listed_as_input_is_an_overridable_run_time_input():
    model = listed_initializer(8)
    analysis = analyse(load(model))
    t = next(v for v in analysis.model.graph.inputs if v.name == "t")
    assert analysis.is_runtime(t) and analysis.value(t) is None and analysis.value_kind(t) is Kind.UNKNOWN
    [finding] = findings(model, "GF901")  # (opset 8 is also below TensorRT 10+'s parser range: GF504)
    assert finding.code == "GF901" and "'t' depends on tensor values" in finding.message
    x = np.ones((2, 16, 16), np.float32)  # ONNX Runtime agrees: t is an input with a default
    assert run(model, {"x": x, "t": np.array([4, 128], np.int64)})[0].shape == (4, 128)


def test_the_static_batch_re_analysis_is_an_analysis_fact_made_once(monkeypatch):
    loaded = load(parse(STATIC_BATCH))
    report, ctx = lint_loaded(loaded, Options())
    assert [f.code for f in report.findings] == ["GF302"]
    static = ctx.analysis.batch.static_batch
    assert static is not None and static.can_be_dynamic and static.batches == (1,)

    def no_second_analysis(*args, **kwargs):
        raise AssertionError("the static-batch facts were analysed again")

    monkeypatch.setattr(walker, "analyse", no_second_analysis)
    assert ctx.analysis.batch.static_batch is static  # cached: GF302 read it, nothing re-analyses


def test_batch_facts_are_computed_once_per_analysis():
    model = parse("""
    agraph (float[N, 4, 8] x) => (float[N, 5, 8] y) {
        cls = Constant <value = float[1, 1, 8] {1, 2, 3, 4, 5, 6, 7, 8}> ()
        shape = Constant <value = int64[3] {2, 1, 8}> ()
        e = Expand (cls, shape)
        y = Concat <axis = 1> (e, x)
    }""")
    analysis = analyse(load(model))
    origins = analysis.batch.baked_origins
    assert [n.op_type for n in origins] == ["Expand"] and analysis.batch.baked_origins is origins
    assert {n.op_type for n in analysis.batch.explained_failures} == {"Expand", "Concat"}
    assert analysis.batch.static_batch is None  # the batch is dynamic


@pytest.mark.parametrize("text", [STATIC_BATCH])
def test_library_lint_accepts_only_typed_input_shapes(text):
    with pytest.raises(graphfix.UsageError, match="input_shapes names nope"):
        graphfix.lint(parse(text), input_shapes={"nope": [1, 2]})
