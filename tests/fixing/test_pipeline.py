"""The fix loop: rounds, and the isolation of fixes that touch the same node in one round."""

from __future__ import annotations

import numpy as np
from graphs import EXPAND_TO_BATCH, SLICE_BOTH_BOUNDS, parse, run

from graphfix.fixing import fix, isolate_round
from graphfix.ir import load
from graphfix.linting import Options, lint_loaded


def test_two_fixes_of_one_node_are_applied_in_two_rounds():
    model = parse(SLICE_BOTH_BOUNDS)
    report, _ = lint_loaded(load(model), Options())
    assert [f.code for f in report.findings] == ["GF101", "GF101"]
    assert report.findings[0].node is report.findings[1].node
    now, later = isolate_round(report.findings)
    assert now == [report.findings[0]] and later == [report.findings[1]]

    result = fix(model)
    assert result.rounds == 2 and [f.code for f in result.applied] == ["GF101", "GF101"]
    assert result.verification is not None and result.verification.passed
    x = np.random.default_rng(0).standard_normal((3, 10)).astype(np.float32)
    import onnx_ir as ir

    np.testing.assert_array_equal(run(ir.to_proto(result.model), {"x": x})[0], x[:, 2:9])


def test_fixes_of_different_nodes_share_a_round():
    report, _ = lint_loaded(load(parse(EXPAND_TO_BATCH.replace("y = Concat <axis = 1> (e, x)", """s2 = Shape(x)
    i1 = Constant <value = int64[1] {1}> ()
    i3 = Constant <value = int64[1] {3}> ()
    w = Slice (s2, i1, i3)
    m1 = Constant <value = int64[1] {-1}> ()
    t = Concat <axis = 0> (m1, w)
    r = Reshape (x, t)
    y = Concat <axis = 1> (e, r)"""))), Options())
    nodes = [f.node for f in report.findings]
    assert len(report.findings) == 2 and nodes[0] is not nodes[1]
    now, later = isolate_round(report.findings)
    assert now == report.findings and later == []
