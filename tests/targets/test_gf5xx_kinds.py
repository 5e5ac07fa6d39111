"""Every restriction kind of the support tables is evaluated: one tiny graph per kind that breaks a restriction
of that kind, checked on a version whose table has it (and, where one exists, a version without it)."""

from __future__ import annotations

import pytest
from graphs import parse

import graphfix
from graphfix.targets import KINDS, resolve

LSTM = """
agraph (float[2, N, 3] x, float[2, 8, 3] w, float[2, 8, 2] r) => (float[2, 2, N, 2] y) {
    y = LSTM <direction = "bidirectional", hidden_size = 2,
              activations = ["Sigmoid", "Tanh", "Tanh", "Sigmoid", "Relu", "Relu"]> (x, w, r)
}
"""

# (kind, restriction id, opset, graph, version where it applies, version where it does not or None)
CASES = [
    ("attribute-value", "LpNormalization/attribute-value/p", 17,
     "agraph (float[N, 4] x) => (float[N, 4] y) { y = LpNormalization <p = 3> (x) }", "8.6", None),
    ("attribute-absent", "Constant/attribute-absent/value_string", 17,
     'agraph (float[N] x) => (string y) { y = Constant <value_string = "a"> () }', "10.16", None),
    ("attribute-ignored", "RandomNormal/attribute-ignored/seed", 17,
     "agraph (float[N] x) => (float[2, 3] y) { y = RandomNormal <shape = [2, 3], seed = 1.0> () }", "10.16", None),
    ("attribute-ints", "MaxPool/attribute-ints", 17,
     "agraph (float[N, 3, 9, 9] x) => (float[N, 3, 7, 7] y) "
     "{ y = MaxPool <kernel_shape = [2, 2], dilations = [2, 2]> (x) }", "8.6", None),
    ("attribute-requires", "Resize/attribute-requires", 11,
     "agraph (float[N, 3, 4, 4] x) => (float[N, 3, 8, 8] y) { r = Constant <value = float[0] {}> () "
     "s = Constant <value = float[4] {1, 1, 2, 2}> () y = Resize <mode = \"nearest\", "
     "coordinate_transformation_mode = \"tf_half_pixel_for_nn\", nearest_mode = \"floor\"> (x, r, s) }", "8.6", None),
    ("attribute-dtype", "Cast/attribute-dtype", 17,
     "agraph (float[N] x) => (float[N] y) { h = Cast <to = 16> (x) y = Cast <to = 1> (h) }", "8.6", "10.16"),
    ("attribute-default-differs", "DequantizeLinear/attribute-default-differs", 17,
     "agraph (int8[N, 3] x) => (float[N, 3] y) { s = Constant <value = float[3] {0.1, 0.2, 0.3}> () "
     "z = Constant <value = int8[3] {0, 0, 0}> () y = DequantizeLinear (x, s, z) }", "8.6", "10.16"),
    ("bidirectional-activations-equal", "LSTM/bidirectional-activations-equal", 17, LSTM, "10.16", None),
    ("input-constant", "CumSum/input-constant", 17,
     "agraph (float[N, 4] x, int64 a) => (float[N, 4] y) { y = CumSum (x, a) }", "8.6", None),
    ("input-not-constant", "RandomNormalLike/input-not-constant", 17,
     "agraph (float[N] x) => (float[2] y) { c = Constant <value = float[2] {1, 2}> () y = RandomNormalLike (c) }",
     "8.6", "10.16"),
    ("input-absent", "Pad/input-absent", 18,
     "agraph (float[N, 4] x) => (float[N, 6] y) { p = Constant <value = int64[2] {1, 1}> () "
     "a = Constant <value = int64[1] {1}> () v = Constant <value = float {0}> () y = Pad (x, p, v, a) }",
     "8.6", "10.16"),
    ("input-required", "QuantizeLinear/input-required", 17,
     "agraph (float[N, 4] x) => (uint8[N, 4] y) { s = Constant <value = float {0.1}> () y = QuantizeLinear (x, s) }",
     "8.6", "10.16"),
    ("input-value", "Dropout/input-value", 17,
     "agraph (float[N, 4] x) => (float[N, 4] y) { r = Constant <value = float {0.5}> () "
     "t = Constant <value = bool {1}> () y = Dropout (x, r, t) }", "10.16", None),
    ("input-static-shape", "EyeLike/input-static-shape", 17,
     "agraph (float[N, 4] x) => (float[N, 4] y) { y = EyeLike (x) }", "10.16", None),
    ("output-absent", "MaxPool/output-absent", 17,
     "agraph (float[N, 3, 8, 8] x) => (float[N, 3, 4, 4] y, int64[N, 3, 4, 4] i) "
     "{ y, i = MaxPool <kernel_shape = [2, 2], strides = [2, 2]> (x) }", "10.16", None),
    ("rank", "AveragePool/rank", 17,
     "agraph (float[N, 1, 2, 4, 4, 4] x) => (float[N, 1, 1, 3, 3, 3] y) "
     "{ y = AveragePool <kernel_shape = [2, 2, 2, 2]> (x) }", "10.16", None),
    ("dtype", "MatMul/dtype/A", 17,
     "agraph (int32[N, 4] a, int32[4, 2] b) => (int32[N, 2] y) { y = MatMul (a, b) }", "10.16", None),
    ("value-max", "TopK/value-max", 17,
     "agraph (float[N, 5000] x) => (float[N, 4000] v, int64[N, 4000] i) "
     "{ k = Constant <value = int64[1] {4000}> () v, i = TopK (x, k) }", "10.16", "8.6"),
    ("squeeze-axes-required-for-dynamic", "Squeeze/squeeze-axes-required-for-dynamic", 17,
     "agraph (float[N, 1, 4] x) => (float[N, 4] y) { y = Squeeze (x) }", "10.16", "11.5"),
    ("split-equal-parts", "Split/split-equal-parts", 18,
     "agraph (float[N, 8] x) => (float[N, 3] a, float[N, 3] b, float[N, 2] c) "
     "{ a, b, c = Split <axis = 1, num_outputs = 3> (x) }", "8.6", "10.16"),
    ("resize-scaled-dims", "Resize/resize-scaled-dims/linear", 17,
     "agraph (float[2, 3, 4, 4] x) => (float[4, 6, 8, 8] y) { s = Constant <value = float[4] {2, 2, 2, 2}> () "
     "y = Resize <mode = \"linear\"> (x, , s) }", "10.16", None),
    ("einsum-equation", "Einsum/einsum-equation", 17,
     "agraph (float[N, 3, 3] a) => (float[N, 3] y) { y = Einsum <equation = \"bii->bi\"> (a) }", "8.6", "10.16"),
    ("qdq-zero-point-zero", "QuantizeLinear/qdq-zero-point-zero", 17,
     "agraph (float[N, 4] x) => (int8[N, 4] y) { s = Constant <value = float {0.1}> () "
     "z = Constant <value = int8 {3}> () y = QuantizeLinear (x, s, z) }", "10.16", None),
    ("qdq-scale-positive", "QuantizeLinear/qdq-scale-positive", 17,
     "agraph (float[N, 4] x) => (int8[N, 4] y) { s = Constant <value = float {0}> () "
     "z = Constant <value = int8 {0}> () y = QuantizeLinear (x, s, z) }", "10.16", None),
    ("qdq-block-unsupported", "DequantizeLinear/qdq-block-unsupported", 21,
     "agraph (int8[4, 8] x) => (float[4, 8] y) { s = Constant <value = float[4, 2] {1, 1, 1, 1, 1, 1, 1, 1}> () "
     "y = DequantizeLinear <axis = 1, block_size = 4> (x, s) }", "8.6", "10.16"),
    ("qdq-block-single-axis", "DequantizeLinear/qdq-block-single-axis", 21,
     "agraph (int8[4, 8] x) => (float[4, 8] y) { s = Constant <value = float[2, 2] {1, 1, 1, 1}> () "
     "y = DequantizeLinear <axis = 1, block_size = 4> (x, s) }", "10.16", None),
    ("operator-version", "GroupNormalization/operator-version", 21,
     "agraph (float[N, 4, 8] x, float[4] s, float[4] b) => (float[N, 4, 8] y) "
     "{ y = GroupNormalization <num_groups = 2> (x, s, b) }", "10.8", "10.9"),
    ("text", "Loop/text", 17,
     "agraph (float[N] x, int64 m) => (float[N] y) { c = Constant <value = bool {1}> () "
     "y = Loop (m, c, x) <body = g (int64 i, bool cin, float[N] s) => (bool cout, float[N] t) "
     "{ cout = Identity (cin) t = Neg (s) }> }", "10.16", None),
]


def _ids(report: graphfix.Report) -> list[str]:
    return [f.message.rsplit("[", 1)[-1].rstrip("]") for f in report.findings if f.message.endswith("]")]


@pytest.mark.parametrize(("kind", "rid", "opset", "text", "applies", "absent"), CASES, ids=[c[0] for c in CASES])
def test_each_kind_is_evaluated(kind: str, rid: str, opset: int, text: str, applies: str, absent: str | None):
    table = resolve(applies)
    restriction = table.restriction(rid)
    assert restriction is not None and restriction.kind == kind
    model = parse(text, opset=opset)
    report = graphfix.lint(model, trt_version=applies, select="GF5")
    assert rid in _ids(report), [f.message for f in report.findings]
    finding = next(f for f in report.findings if f.message.endswith(f"[{rid}]"))
    assert f"TensorRT {applies}" in finding.message
    assert finding.severity == ("error" if restriction.static else "info")
    if absent is not None:  # lifted, changed or not applicable there
        assert rid not in _ids(graphfix.lint(model, trt_version=absent, select="GF5"))


def test_every_kind_has_a_case():
    assert {case[0] for case in CASES} == set(KINDS)
