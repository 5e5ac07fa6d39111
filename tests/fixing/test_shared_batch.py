"""One run-time batch per input, shared by every consumer (issue 8 item 2): the editor reads an existing
``Shape(input)[0:1]`` (and its ``Mul``) again, and a common-subexpression pass merges duplicate shape nodes."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnx_ir as ir
from graphs import parse, run

from graphfix.fixing import Editor, fix

# Three Expands of one parameter to the batch (k = 1, 2, 2), each with its own legacy-style chain.
THREE_CONSUMERS = """
g (float[N, 4] x) => (float[N, 4] a, float[M, 4] b, float[K, 1, 4] c) {
    p = Constant <value = float[1, 4] {1.0, 2.0, 3.0, 4.0}> ()
    i0 = Constant <value = int64 {0}> ()
    ax = Constant <value = int64[1] {0}> ()
    four = Constant <value = int64[1] {4}> ()
    two = Constant <value = int64 {2}> ()
    one = Constant <value = int64[1] {1}> ()
    s1 = Shape (x)
    b1 = Gather <axis = 0> (s1, i0)
    u1 = Unsqueeze (b1, ax)
    t1 = Concat <axis = 0> (u1, four)
    e1 = Expand (p, t1)
    a = Add (e1, x)
    s2 = Shape (x)
    b2 = Gather <axis = 0> (s2, i0)
    m2 = Mul (b2, two)
    u2 = Unsqueeze (m2, ax)
    t2 = Concat <axis = 0> (u2, four)
    b = Expand (p, t2)
    s3 = Shape (x)
    b3 = Gather <axis = 0> (s3, i0)
    m3 = Mul (b3, two)
    u3 = Unsqueeze (m3, ax)
    t3 = Concat <axis = 0> (u3, one, four)
    c = Expand (p, t3)
}
"""

# What the dynamo exporter writes: one Shape(x, 0, 1) read by a short chain, and a second, longer chain.
DYNAMO_STYLE = """
g (float[N, 4] x) => (float[N, 4] a, float[M, 1, 4] b) {
    p = Constant <value = float[1, 4] {1.0, 2.0, 3.0, 4.0}> ()
    s = Shape <start = 0, end = 1> (x)
    four = Constant <value = int64[1] {4}> ()
    t1 = Concat <axis = 0> (s, four)
    a = Expand (p, t1)
    sq = Squeeze (s)
    k = Constant <value = int64 {3}> ()
    m = Mul (sq, k)
    minus = Constant <value = int64[1] {-1}> ()
    r = Reshape (m, minus)
    ones = Constant <value = int64[2] {1, 4}> ()
    t2 = Concat <axis = 0> (r, ones)
    b = Expand (p, t2)
}
"""

# Duplicate shape nodes over one tensor, and duplicate data nodes (never merged: not shape computations).
DUPLICATES = """
g (float[N, 4] x) => (float[N, 4] a, float[N, 4] b, float[N, 4] c, float[N, 4] d) {
    p = Constant <value = float[1, 4] {1.0, 2.0, 3.0, 4.0}> ()
    s1 = Shape <start = 0, end = 1> (x)
    s2 = Shape <start = 0, end = 1> (x)
    s3 = Shape <start = 0, end = 2> (x)
    four1 = Constant <value = int64[1] {4}> ()
    four2 = Constant <value = int64[1] {4}> ()
    t1 = Concat <axis = 0> (s1, four1)
    t2 = Concat <axis = 0> (s2, four2)
    a = Expand (p, t1)
    b = Expand (p, t2)
    c = Expand (p, s3)
    r1 = Relu (x)
    r2 = Relu (x)
    d = Add (r1, r2)
}
"""


def _ops(model: ir.Model) -> Counter[str]:
    return Counter(node.op_type for node in model.graph)


def _shape_input_ops(model: ir.Model) -> Counter[str]:
    """Op counts of the nodes computing the Expands' shape inputs."""
    found: dict[ir.Node, None] = {}
    stack = [n.inputs[1] for n in model.graph if n.op_type == "Expand"]
    while stack:
        value = stack.pop()
        producer = value.producer() if value is not None else None
        if producer is None or producer in found:
            continue
        found[producer] = None
        stack.extend(producer.inputs)
    return Counter(n.op_type for n in found if n.op_type != "Constant")


def _same_numerics(original: onnx.ModelProto, fixed: ir.Model) -> None:
    proto = ir.to_proto(fixed)
    onnx.checker.check_model(proto, full_check=True)
    for batch in (1, 2, 3):
        feeds = {"x": np.random.default_rng(batch).standard_normal((batch, 4)).astype(np.float32)}
        for want, got in zip(run(original, feeds), run(proto, feeds)):
            np.testing.assert_array_equal(got, want)


def test_three_consumers_read_one_batch():
    original = parse(THREE_CONSUMERS)
    result = fix(original, verify=False)
    assert sorted(f.code for f in result.applied) == ["GF101"] * 3
    assert _shape_input_ops(result.model) == Counter({"Shape": 1, "Mul": 1, "Concat": 3})
    assert _ops(result.model)["Shape"] == 1
    _same_numerics(original, result.model)


def test_an_existing_shape_of_the_batch_is_read_again():
    original = parse(DYNAMO_STYLE)
    result = fix(original, verify=False)
    assert [f.node_name for f in result.applied] == ["Expand(b)"]
    assert _shape_input_ops(result.model) == Counter({"Shape": 1, "Mul": 1, "Concat": 2})
    [shape] = [n for n in result.model.graph if n.op_type == "Shape"]
    assert shape.outputs[0].name == "s"  # the model's own node
    _same_numerics(original, result.model)


def test_duplicate_shape_nodes_collapse_and_data_nodes_stay():
    original = parse(DUPLICATES)
    model = ir.from_proto(original)
    editor = Editor(model)
    assert editor.share_duplicates() == 3  # four2 (a Constant of the same value), s2, then t2
    editor.cleanup()
    ops = _ops(model)
    assert ops["Shape"] == 2 and ops["Concat"] == 1 and ops["Relu"] == 2 and ops["Expand"] == 3
    assert ops["Constant"] == 2  # p and one 4
    _same_numerics(original, model)


def test_the_editor_reads_an_existing_batch_and_mul_before_any_merging():
    from graphfix.linting import BatchShape

    model = ir.from_proto(parse(DYNAMO_STYLE))
    editor = Editor(model)
    [source] = model.graph.inputs
    expands = [n for n in model.graph if n.op_type == "Expand"]
    editor.apply([BatchShape(expands[1], 1, source, (("batch", 3), 1, 4))])
    editor.apply([BatchShape(expands[0], 1, source, (("batch", 3), 4))])
    ops = _ops(model)
    assert ops["Shape"] == 1 and ops["Mul"] == 2  # the model's Mul reads Squeeze(s), not s: one new Mul, shared
    assert expands[0].inputs[1].producer().inputs[0] is expands[1].inputs[1].producer().inputs[0]
