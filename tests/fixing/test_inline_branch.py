"""An If whose condition is the same at every batch size is replaced by the branch it takes (issue 8 item 7):
the analysis walks that branch, GF101 plans an InlineBranch, the editor moves the branch into the graph."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnx_ir as ir
import pytest
from graphs import findings, parse, run

from graphfix.fixing import fix

# squeeze(1) after a conv to one channel, as the legacy exporter records it when dim 1 is not known to be 1.
SQUEEZE_IF = """
g (float[N, 3, 8, 8] x) => (float[N, d1, d2] y) {
    w = Constant <value = float[1, 3, 1, 1] {0.5, -1.0, 2.0}> ()
    h = Conv (x, w)
    s = Shape (h)
    i1 = Constant <value = int64 {1}> ()
    d = Gather <axis = 0> (s, i1)
    one = Constant <value = int64 {1}> ()
    c = Equal (d, one)
    y = If (c) <
        then_branch = then_g () => (float[N, 8, 8] sq) {
            ax = Constant <value = int64[1] {1}> ()
            sq = Squeeze (h, ax)
        },
        else_branch = else_g () => (float[N, 1, 8, 8] same) {
            same = Identity (h)
        }
    >
}
"""

# The else-branch is taken (dim 1 is 3, not 4); the branches are of different kinds, and the taken one reads
# an outer initializer and an outer intermediate, and hands on a value the If's consumers use twice.
ELSE_TAKEN = """
g (float[N, 3, 4] x) => (float[N, 3, 4] y, float[N, 3, 4] z) {
    r = Relu (x)
    s = Shape (x)
    i1 = Constant <value = int64 {1}> ()
    d = Gather <axis = 0> (s, i1)
    four = Constant <value = int64 {4}> ()
    c = Equal (d, four)
    t = If (c) <
        then_branch = then_g () => (float[N, 4, 3] tr) {
            tr = Transpose <perm = [0, 2, 1]> (r)
        },
        else_branch = else_g () => (float[N, 3, 4] scaled) {
            k = Constant <value = float[1] {3.0}> ()
            m = Mul (r, k)
            scaled = Add (m, x)
        }
    >
    y = Neg (t)
    z = Abs (t)
}
"""

# Two foldable Ifs whose branches use the same value and node names (legal in sibling scopes; one namespace
# once inlined), and a nested If inside the first one's taken branch.
NESTED = """
g (float[N, 2, 5] x) => (float[N, 2, 5] y) {
    s = Shape (x)
    i2 = Constant <value = int64 {2}> ()
    d = Gather <axis = 0> (s, i2)
    five = Constant <value = int64 {5}> ()
    c = Equal (d, five)
    a = If (c) <
        then_branch = then_a () => (float[N, 2, 5] t) {
            s2 = Shape (x)
            i1 = Constant <value = int64 {1}> ()
            d2 = Gather <axis = 0> (s2, i1)
            two = Constant <value = int64 {2}> ()
            c2 = Equal (d2, two)
            t = If (c2) <
                then_branch = inner_then () => (float[N, 2, 5] u) {
                    u = Sigmoid (x)
                },
                else_branch = inner_else () => (float[N, 2, 5] v) {
                    v = Tanh (x)
                }
            >
        },
        else_branch = else_a () => (float[N, 2, 5] t) {
            t = Identity (x)
        }
    >
    nc = Not (c)
    y = If (nc) <
        then_branch = then_b () => (float[N, 2, 5] t) {
            t = Identity (a)
        },
        else_branch = else_b () => (float[N, 2, 5] t) {
            t = Relu (a)
        }
    >
}
"""

# torch: `if x.size(0) == 1: ...` is false at every probe but true at batch 1: never inlined.
BATCH_CONDITION = """
g (float[N, 4] x) => (float[N, 4] y) {
    s = Shape (x)
    i0 = Constant <value = int64 {0}> ()
    b = Gather <axis = 0> (s, i0)
    one = Constant <value = int64 {1}> ()
    c = Equal (b, one)
    y = If (c) <
        then_branch = then_g () => (float[N, 4] p) {
            p = Neg (x)
        },
        else_branch = else_g () => (float[N, 4] q) {
            q = Relu (x)
        }
    >
}
"""


def _feeds(model: onnx.ModelProto, batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch)
    feeds = {}
    for value in model.graph.input:
        dims = [batch if not d.dim_value else d.dim_value for d in value.type.tensor_type.shape.dim]
        feeds[value.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


def _same_numerics(original: onnx.ModelProto, fixed: ir.Model) -> None:
    proto = ir.to_proto(fixed)
    onnx.checker.check_model(proto, full_check=True)
    for batch in (1, 2, 3):
        feeds = _feeds(original, batch)
        for want, got in zip(run(original, feeds), run(proto, feeds)):
            np.testing.assert_array_equal(got, want)


def _ops(model: ir.Model) -> Counter[str]:
    return Counter(node.op_type for node in model.graph)


def test_the_taken_branch_is_walked_so_the_if_has_shapes():
    found = findings(parse(SQUEEZE_IF))
    assert not [f for f in found if f.code in ("GF901", "GF902")]
    [inline] = [f for f in found if f.code == "GF101"]
    assert inline.node_name == "If(y)" and inline.fixable
    assert [p.describe() for p in inline.fix] == ["If(y): If := its then_branch (Squeeze)"]
    assert "always true" in inline.message
    assert sorted(f.message.split(" is ")[0] for f in found if f.code == "GF301") == [
        "output 'y' dim 1 ('d1')", "output 'y' dim 2 ('d2')"]


def test_then_branch_inlined_keeps_the_output_name_and_numerics():
    original = parse(SQUEEZE_IF)
    result = fix(original, verify=False)
    assert _ops(result.model) == Counter({"Constant": 1, "Conv": 1, "Squeeze": 1})  # the weight
    [output] = result.model.graph.outputs
    assert output.name == "y" and list(output.shape) == [ir.SymbolicDim("N"), 8, 8]
    [squeeze] = [n for n in result.model.graph if n.op_type == "Squeeze"]
    assert squeeze.inputs[1] is not None and squeeze.inputs[1].const_value is not None  # a Constant became an initializer
    assert not result.remaining
    _same_numerics(original, result.model)


def test_else_branch_inlined_reads_outer_scope_values():
    original = parse(ELSE_TAKEN)
    [inline] = findings(original, "GF101")
    assert inline.fix[0].describe() == "If(t): If := its else_branch (Mul, Add)"  # type: ignore[union-attr]
    result = fix(original, verify=False)
    assert _ops(result.model) == Counter({"Relu": 1, "Mul": 1, "Add": 1, "Neg": 1, "Abs": 1})
    [add] = [n for n in result.model.graph if n.op_type == "Add"]
    assert add.outputs[0].name == "t" and {u.node.op_type for u in add.outputs[0].uses()} == {"Neg", "Abs"}
    assert [o.name for o in result.model.graph.outputs] == ["y", "z"]
    _same_numerics(original, result.model)


def test_nested_ifs_and_clashing_names_are_inlined_in_rounds():
    original = parse(NESTED)
    result = fix(original, verify=False)
    assert _ops(result.model) == Counter({"Sigmoid": 1, "Relu": 1})
    names = [v.name for n in result.model.graph for v in n.outputs]
    assert len(names) == len(set(names))
    assert result.rounds >= 2 and not result.remaining
    _same_numerics(original, result.model)


def test_a_condition_that_reads_the_batch_is_never_folded():
    original = parse(BATCH_CONDITION)
    assert not findings(original, "GF101")
    result = fix(original, verify=False)
    assert _ops(result.model)["If"] == 1
    _same_numerics(original, result.model)


def test_a_branch_value_given_as_two_outputs_gets_an_identity():
    text = SQUEEZE_IF.replace("=> (float[N, d1, d2] y)", "=> (float[N, d1, d2] y, float[N, e1, e2] y2)").replace(
        "y = If (c)", "y, y2 = If (c)").replace(
        "then_g () => (float[N, 8, 8] sq)", "then_g () => (float[N, 8, 8] sq, float[N, 8, 8] sq)").replace(
        "else_g () => (float[N, 1, 8, 8] same)", "else_g () => (float[N, 1, 8, 8] same, float[N, 8, 8] other)").replace(
        "same = Identity (h)", "same = Identity (h)\n            other = ReduceMean <axes = [1], keepdims = 0> (h)")
    original = parse(text)
    result = fix(original, verify=False)
    assert _ops(result.model) == Counter({"Constant": 1, "Conv": 1, "Squeeze": 1, "Identity": 1})
    assert [o.name for o in result.model.graph.outputs] == ["y", "y2"]
    proto = ir.to_proto(result.model)
    onnx.checker.check_model(proto, full_check=True)
    for batch in (1, 2, 3):  # ONNX Runtime gives None for the original's second output: compare with the first
        feeds = _feeds(original, batch)
        y, y2 = run(proto, feeds)
        np.testing.assert_array_equal(y, run(original, feeds)[0])
        np.testing.assert_array_equal(y2, y)


@pytest.mark.parametrize("text", [SQUEEZE_IF, ELSE_TAKEN, NESTED])
def test_no_remaining_finding_names_a_node_that_is_gone(text: str):
    result = fix(parse(text), verify=False)
    nodes = {id(n) for n in result.model.graph.all_nodes()}
    assert all(id(f.node) in nodes for f in result.remaining if f.node is not None)


def test_a_literal_constant_condition_is_walked_but_left_to_tensorrt():
    # TensorRT's parser imports only the taken branch of an If whose condition is a constant.
    text = SQUEEZE_IF.replace("c = Equal (d, one)", "c = Constant <value = bool {1}> ()")
    found = findings(parse(text))
    assert not [f for f in found if f.code in ("GF101", "GF901", "GF902")]
    assert {f.code for f in found} >= {"GF301"}  # the output dims are known through the branch
