"""The engine: findings in graph order whatever the rules' order, one crash never hides the others."""

from __future__ import annotations

from graphs import parse

import graphfix
from graphfix.ir import load
from graphfix.linting import Options, all_rules, lint_loaded, run_rules
from graphfix.linting.rule import Context

# A Resize (GF201) before a Reshape (GF101), and an output declared with the export batch (GF103, a
# model-level finding). The registry runs GF101 first.
TWO_NODES = """
agraph (float[N, 3, 8, 8] x) => (float[2, 768] z) {
    s = Shape(x)
    st = Constant <value = int64[1] {0}> ()
    en = Constant <value = int64[1] {2}> ()
    nc = Slice (s, st, en)
    hw = Constant <value = int64[2] {16, 16}> ()
    sizes = Concat <axis = 0> (nc, hw)
    y = Resize <mode = "nearest"> (x, , , sizes)
    sy = Shape(y)
    i0 = Constant <value = int64[1] {0}> ()
    b = Gather <axis = 0> (sy, i0)
    m1 = Constant <value = int64[1] {-1}> ()
    t = Concat <axis = 0> (b, m1)
    z = Reshape (y, t)
}
"""


def test_findings_are_in_graph_order_model_level_first():
    report = graphfix.lint(parse(TWO_NODES))
    assert [(f.code, f.op_type) for f in report.findings] == [("GF103", None), ("GF201", "Resize"),
                                                              ("GF101", "Reshape")]
    assert [rule.code for rule in all_rules()].index("GF101") < [rule.code for rule in all_rules()].index("GF201")


def test_findings_on_the_same_node_are_ordered_by_code():
    loaded = load(parse(TWO_NODES))
    _, ctx = lint_loaded(loaded, Options())
    reversed_rules = list(reversed(all_rules()))
    findings = run_rules(Context(loaded, ctx.analysis, Options()), reversed_rules)
    assert [f.code for f in findings] == ["GF103", "GF201", "GF101"]
    positions = [ctx.analysis.positions.get(f.node, -1) if f.node is not None else -1 for f in findings]
    assert positions == sorted(positions)
