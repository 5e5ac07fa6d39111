"""Unsafe baked-batch repairs are applied only when the batch then flows through every node (issue 8)."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir
from graphs import parse, run

from graphfix.fixing import fix
from graphfix.ir import load
from graphfix.linting import Options, lint_loaded

# x.reshape(2, -1).softmax(-1).reshape(2, 4, 3) then [:2] (exported at batch 2): the Slice end holds it too.
HALF_BAKED = """
g (float[N, 4, 3] x) => (float[2, 4, 3] y) {
    t1 = Constant <value = int64[2] {2, -1}> ()
    r1 = Reshape (x, t1)
    s = Softmax <axis = -1> (r1)
    t2 = Constant <value = int64[3] {2, 4, 3}> ()
    r2 = Reshape (s, t2)
    starts = Constant <value = int64[1] {0}> ()
    ends = Constant <value = int64[1] {2}> ()
    axes = Constant <value = int64[1] {0}> ()
    y = Slice (r2, starts, ends, axes)
}
"""

# The same without the Slice: repairing both Reshapes makes the model right at every batch.
WHOLE = HALF_BAKED.replace("y = Slice (r2, starts, ends, axes)", "y = Identity (r2)")


def _softmax_rows(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(x.shape[0], -1)
    e = np.exp(flat - flat.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).reshape(x.shape)


def test_a_repair_that_leaves_the_batch_baked_is_not_applied():
    result = fix(parse(HALF_BAKED), unsafe_fixes=True, verify=False)
    assert not [f for f in result.applied if f.code == "GF103"]
    baked = [f for f in result.remaining if f.code == "GF103"]
    assert baked and all("still baked" in (f.reason or "") for f in baked if f.fixable)
    assert any("Slice" in text for text in baked[0].message.split("still baked", 1)[1:])
    assert result.baked_left and result.export_batches == (2,)


def test_a_whole_repair_is_applied_and_runs_at_every_batch():
    result = fix(parse(WHOLE), unsafe_fixes=True, verify=False)
    assert {f.node_name for f in result.applied if f.code == "GF103"} == {"Reshape(r1)", "Reshape(r2)", None}  # None: output y
    assert result.baked_left == () and result.export_batches == (2,)
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 4, 3)).astype(np.float32)
        np.testing.assert_allclose(run(ir.to_proto(result.model), {"x": x})[0], _softmax_rows(x), rtol=1e-5)


def test_values_read_from_a_baked_batch_are_never_offered_as_constants():
    # After the baked Reshape, x.size(0) is 2 at every probe: a -1 in dim 0 downstream is the export
    # batch, not a constant GF102 may write.
    text = WHOLE.replace("y = Identity (r2)", """t3 = Constant <value = int64[2] {-1, 12}> ()
    y = Reshape (r2, t3)""").replace("float[2, 4, 3] y", "float[2, 12] y")
    report, _ = lint_loaded(load(parse(text)), Options())
    assert not [f for f in report.findings if f.code in ("GF101", "GF102")], [f.message for f in report.findings]
    assert "Reshape(r1)" in {f.node_name for f in report.findings if f.code == "GF103"}
