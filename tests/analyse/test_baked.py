"""Reshapes that bake the export batch (graphfix.analyse.baked): found from the probes, seen through so one
analysis finds every one of them, repaired with --unsafe-fixes and verified per sample (issue 8)."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir
import pytest
from graphs import findings, parse, run

import graphfix
from graphfix.analyse import analyse
from graphfix.ir import load
from graphfix.linting import ExpandOutput, SetInputs

# Exported at batch 3: x.view(int(b) * 4, 16) then .view(int(b), 64); both targets hold 3, neither has a -1.
BATCH3_CHAIN = """
agraph (float[N, 4, 16] x) => (float[N, 64] y) {
    t1 = Constant <value = int64[2] {12, 16}> ()
    r1 = Reshape (x, t1)
    a = Relu (r1)
    t2 = Constant <value = int64[2] {3, 64}> ()
    y = Reshape (a, t2)
}"""

# A batch-1 parameter [1, 6, 8] viewed with the batch of x (Concat(Shape(x)[0:1], [-1, 2, 4])), then joined
# with x along axis 1: right only at batch 1.
BATCH1_PARAMETER = """
agraph (float[N, 3, 2, 4] x) => (float[N, 9, 2, 4] y) {
    p = Constant <value = float[1, 6, 8] {%s}> ()
    s = Shape <start = 0, end = 1> (x)
    rest = Constant <value = int64[3] {-1, 2, 4}> ()
    t = Concat <axis = 0> (s, rest)
    g = Reshape (p, t)
    y = Concat <axis = 1> (x, g)
}""" % ", ".join(str(float(v)) for v in range(48))

# Exported with a static batch 4: both Reshapes hold it.
STATIC4 = """
agraph (float[4, 8, 4] x) => (float[4, 32] y) {
    t1 = Constant <value = int64[2] {16, 8}> ()
    r1 = Reshape (x, t1)
    a = Sigmoid (r1)
    t2 = Constant <value = int64[2] {4, 32}> ()
    y = Reshape (a, t2)
}"""


def _repairs(text: str, assume_batch: bool = False) -> dict[str, tuple[int, ...]]:
    analysis = analyse(load(parse(text)), assume_batch=assume_batch)
    return {r.node.outputs[0].name or "": r.target for r in analysis.repairs.values()}


def test_every_baked_reshape_of_a_chain_is_found_in_one_analysis():
    # r1 fails at the probes; y's input is only known once r1 is seen through.
    assert _repairs(BATCH3_CHAIN) == {"r1": (-1, 16), "y": (-1, 64)}
    baked = findings(parse(BATCH3_CHAIN), "GF103")
    assert [f.node_name for f in baked] == ["Reshape(r1)", "Reshape(y)"]
    assert all("bakes in batch 3" in f.message and "fails at batches 1, 2, 4 and 5" in f.message for f in baked)
    assert all(isinstance(p, SetInputs) and p.check_batch == 3 for f in baked for p in f.fix)
    assert findings(parse(BATCH3_CHAIN), "GF902") == [] and findings(parse(BATCH3_CHAIN), "GF101") == []


def test_baked_chain_repaired_and_verified_per_sample_at_its_export_batch():
    result = graphfix.fix(parse(BATCH3_CHAIN), unsafe_fixes=True)
    assert result.verification is not None and result.verification.passed
    assert "per sample at its export batch 3" in result.verification.reference
    fixed = ir.to_proto(result.model)
    x = np.random.default_rng(0).standard_normal((5, 4, 16)).astype(np.float32)
    np.testing.assert_allclose(run(fixed, {"x": x})[0], np.maximum(x, 0).reshape(5, 64))
    assert not result.remaining


def test_batch1_parameter_viewed_with_the_batch_is_named_and_expanded():
    [finding] = findings(parse(BATCH1_PARAMETER), "GF103")
    assert finding.node_name == "Reshape(g)"
    assert "fixed dim 0 of 1" in finding.message and "right only at batch 1" in finding.message
    assert "fails at batches 4 and 5" in finding.message and "silently wrong at batches 2 and 3" in finding.message
    assert "batch-1 tensor" in finding.message and "?" not in finding.message
    reshape, expand = finding.fix
    assert isinstance(reshape, SetInputs) and list(reshape.inputs[1]) == [1, -1, 2, 4] and reshape.check_batch == 1
    assert isinstance(expand, ExpandOutput) and expand.entries == (("batch", 1), 6, 2, 4)
    assert findings(parse(BATCH1_PARAMETER), "GF101") == [] and findings(parse(BATCH1_PARAMETER), "GF902") == []


def test_batch1_parameter_repair_gives_every_sample_the_parameter():
    model = parse(BATCH1_PARAMETER)
    result = graphfix.fix(model, unsafe_fixes=True)
    assert result.verification is not None and result.verification.passed
    fixed = ir.to_proto(result.model)
    parameter = np.arange(48, dtype=np.float32).reshape(1, 6, 2, 4)
    for batch in (1, 2, 3, 4):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 2, 4)).astype(np.float32)
        want = np.concatenate([x, np.repeat(parameter, batch, axis=0)], axis=1)
        np.testing.assert_array_equal(run(fixed, {"x": x})[0], want)
        # per sample: the original at its export batch 1 on that sample
        for i in range(batch):
            np.testing.assert_array_equal(run(model, {"x": x[i:i + 1]})[0], want[i:i + 1])


def test_batch1_parameter_broadcast_downstream_needs_no_expand():
    text = BATCH1_PARAMETER.replace("float[N, 9, 2, 4] y", "float[N, 6, 2, 4] y").replace(
        "float[N, 3, 2, 4] x", "float[N, 6, 2, 4] x").replace("y = Concat <axis = 1> (x, g)", "y = Add (x, g)")
    [finding] = findings(parse(text), "GF103")
    assert [type(p) for p in finding.fix] == [SetInputs]
    result = graphfix.fix(parse(text), unsafe_fixes=True)
    assert result.verification is not None and result.verification.passed
    x = np.ones((3, 6, 2, 4), np.float32)
    want = x + np.arange(48, dtype=np.float32).reshape(1, 6, 2, 4)
    np.testing.assert_array_equal(run(ir.to_proto(result.model), {"x": x})[0], want)


def test_static_batch_4_names_every_baked_reshape_and_repairs_them_with_both_flags():
    assert _repairs(STATIC4, assume_batch=True) == {"r1": (-1, 8), "y": (-1, 32)}
    [finding] = findings(parse(STATIC4), "GF302")
    assert "2 node(s) bake the batch: Reshape(r1), Reshape(y)" in finding.message
    with pytest.raises(graphfix.GraphfixError, match="unsafe_fixes=True"):
        graphfix.fix(parse(STATIC4), dynamic_batch=True)
    result = graphfix.fix(parse(STATIC4), dynamic_batch=True, unsafe_fixes=True)
    assert result.verification is not None and result.verification.passed
    assert result.verification.batches == [1, 3, 4]
    x = np.random.default_rng(1).standard_normal((3, 8, 4)).astype(np.float32)
    expected = 1 / (1 + np.exp(-x.reshape(3, 32)))
    np.testing.assert_allclose(run(ir.to_proto(result.model), {"x": x})[0], expected, rtol=1e-6)


def test_a_reshape_that_follows_the_batch_is_not_baked():
    text = BATCH3_CHAIN.replace("{12, 16}", "{-1, 16}").replace("{3, 64}", "{-1, 64}")
    assert _repairs(text) == {}
    assert findings(parse(text), "GF103") == []


def test_a_parameter_without_a_leading_1_viewed_with_the_batch_is_repaired_at_batch_1():
    text = BATCH1_PARAMETER.replace("float[1, 6, 8]", "float[6, 8]")
    [finding] = findings(parse(text), "GF103")
    assert "no batch (a fixed shape [6, 8])" in finding.message and "right only at batch 1" in finding.message
    result = graphfix.fix(parse(text), unsafe_fixes=True)
    assert result.verification is not None and result.verification.passed
    x = np.zeros((2, 3, 2, 4), np.float32)
    got = run(ir.to_proto(result.model), {"x": x})[0]
    np.testing.assert_array_equal(got[1, 3:], np.arange(48, dtype=np.float32).reshape(6, 2, 4))


def test_a_batch1_parameter_that_is_the_graph_output_is_expanded_under_the_output_name():
    text = """
    agraph (float[N, 3] x) => (float[N, 6, 2] y) {
        p = Constant <value = float[1, 12] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}> ()
        s = Shape <start = 0, end = 1> (x)
        rest = Constant <value = int64[2] {-1, 2}> ()
        t = Concat <axis = 0> (s, rest)
        y = Reshape (p, t)
    }"""
    result = graphfix.fix(parse(text), unsafe_fixes=True)
    assert result.verification is not None and result.verification.passed
    fixed = ir.to_proto(result.model)
    assert [o.name for o in fixed.graph.output] == ["y"]
    got = run(fixed, {"x": np.zeros((3, 3), np.float32)})[0]
    np.testing.assert_array_equal(got, np.repeat(np.arange(12, dtype=np.float32).reshape(1, 6, 2), 3, axis=0))


# A static batch-2 export of F.interpolate(x, size=(8, 8)) then x.view(2, -1): both hold the batch.
STATIC_RESIZE = """
agraph (float[2, 3, 4, 4] x) => (float[2, 192] y) {
    roi = Constant <value = float[0] {}> ()
    scales = Constant <value = float[0] {}> ()
    sizes = Constant <value = int64[4] {2, 3, 8, 8}> ()
    r = Resize <mode = "nearest"> (x, roi, scales, sizes)
    t = Constant <value = int64[2] {2, -1}> ()
    y = Reshape (r, t)
}"""


def test_static_resize_by_sizes_and_reshape_are_repaired_together():
    [finding] = findings(parse(STATIC_RESIZE), "GF302")
    assert "2 node(s) bake the batch: Reshape(y), Resize(r)" in finding.message and finding.fixable
    result = graphfix.fix(parse(STATIC_RESIZE), dynamic_batch=True, unsafe_fixes=True)
    assert result.verification is not None and result.verification.passed
    x = np.random.default_rng(2).standard_normal((3, 3, 4, 4)).astype(np.float32)
    want = x.repeat(2, axis=2).repeat(2, axis=3).reshape(3, 192)
    np.testing.assert_array_equal(run(ir.to_proto(result.model), {"x": x})[0], want)


def test_a_resize_seen_through_keeps_its_baked_sizes_unsafe():
    text = STATIC_RESIZE.replace("float[2, 3, 4, 4] x", "float[N, 3, 4, 4] x").replace("float[2, 192] y",
                                                                                     "float[N, 192] y")
    [resize] = findings(parse(text), "GF201")
    assert resize.safety is graphfix.Safety.UNSAFE and "bakes in batch 2" in resize.message
    [reshape] = findings(parse(text), "GF103")
    assert reshape.node_name == "Reshape(y)" and list(reshape.fix[0].inputs[1]) == [-1, 192]
