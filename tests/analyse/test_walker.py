"""The walk: ONNX's shape inference is asked once per distinct question, and answers are never mixed up."""

from __future__ import annotations

import numpy as np
import onnx
import onnx.parser
from graphs import parse, run

from graphfix.analyse import analyse
from graphfix.ir import load

# Two Transposes and two Reshapes of the same input: same op, same input shapes; only the attributes
# (perm) or the shape values differ. A reused answer that ignores either gives a wrong shape.
SAME_OP_OTHER_ATTRIBUTES = """
g (float[N, 2, 3, 4] x) => (float[N, 4, 3, 2] a, float[N, 3, 2, 4] b, float[N, 24] c, float[N, 6, 4] d) {
    a = Transpose <perm = [0, 3, 2, 1]> (x)
    b = Transpose <perm = [0, 2, 1, 3]> (x)
    s1 = Constant <value = int64[2] {-1, 24}> ()
    s2 = Constant <value = int64[3] {-1, 6, 4}> ()
    c = Reshape (x, s1)
    d = Reshape (x, s2)
}
"""


def test_inference_answers_follow_attributes_and_shape_values():
    model = parse(SAME_OP_OTHER_ATTRIBUTES)
    analysis = analyse(load(model))
    x = np.zeros((3, 2, 3, 4), np.float32)
    expected = [o.shape for o in run(model, {"x": x})]  # ONNX Runtime at batch 3 (the first probe)
    outputs = list(analysis.model.graph.outputs)
    assert analysis.probes[0].batch == 3
    assert [analysis.facts[v].shapes[0] for v in outputs] == expected


def test_repeated_blocks_are_inferred_once(monkeypatch):
    """Eight identical Transpose→Relu blocks: ONNX is asked about each distinct (op, attributes, input) once
    per probe, not once per node."""
    body = "\n".join(f"    t{i} = Transpose <perm = [0, 2, 1]> (r{i - 1})\n    r{i} = Relu (t{i})" for i in range(1, 9))
    model = parse(f"""
g (float[N, 5, 5] r0) => (float[N, 5, 5] r8) {{
{body}
}}
""")
    calls = []
    real = onnx.shape_inference.infer_node_outputs

    def counting(*args, **kwargs):
        calls.append(args[1].op_type)
        return real(*args, **kwargs)

    monkeypatch.setattr(onnx.shape_inference, "infer_node_outputs", counting)
    analysis = analyse(load(model))
    probes = len({p.batch for p in analysis.probes})
    assert len(calls) == 2 * probes  # Transpose and Relu, each once per distinct batch
    out = analysis.model.graph.outputs[0]
    assert [s for s in analysis.facts[out].shapes] == [(p.batch, 5, 5) for p in analysis.probes]


def test_an_inference_failure_names_each_failing_node():
    """Each node whose inference fails gets its own issue, also when an identical node failed before."""
    model = onnx.parser.parse_model("""<ir_version: 8, opset_import: ["" : 17]>
g (float[N, 4] x, float[N, 5] y) => (float a, float b) {
    a = MatMul (x, y)
    b = MatMul (x, y)
}
""")
    analysis = analyse(load(model))
    failed = {issue.node.name or issue.node.outputs[0].name for issue in analysis.issues
              if issue.kind == "inference-failed"}
    names = {n.name or n.outputs[0].name for n in analysis.model.graph}
    assert failed == names and len(names) == 2
