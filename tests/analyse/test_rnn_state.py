"""An RNN's stored all-zero initial state with the export batch baked in (``torch.zeros(layers, n, hidden)``).

The dynamo exporter stores ``h0``/``c0`` of a static export as constants ``[dirs, E, hidden]``: at another
batch ONNX Runtime refuses the LSTM. Zeros are the operator's default, so ``--dynamic-batch
--unsafe-fixes`` drops them (exact at every batch); a non-zero state is refused, never guessed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from graphs import findings, parse, run, save

from graphfix.cli import main

HIDDEN = 4
_RNG = np.random.default_rng(0)
_W = ", ".join(f"{v:.3f}" for v in _RNG.standard_normal(4 * HIDDEN * 3))
_R = ", ".join(f"{v:.3f}" for v in _RNG.standard_normal(4 * HIDDEN * HIDDEN))

# x [2, 5, 3] batch-first, transposed to [5, 2, 3] for a sequence-first LSTM (h0 given, c0 zeros).
LSTM = """
agraph (float[2, 5, 3] x) => (float[2, 4] y) {
    t = Transpose <perm = [1, 0, 2]> (x)
    w = Constant <value = float[1, 16, 3] {%s}> ()
    r = Constant <value = float[1, 16, 4] {%s}> ()
    h0 = Constant <value = float[1, 2, 4] {%s}> ()
    c0 = Constant <value = float[1, 2, 4] {%s}> ()
    seq, yh, yc = LSTM <hidden_size = 4> (t, w, r, , , h0, c0)
    a = Constant <value = int64[1] {0}> ()
    y = Squeeze (yh, a)
}"""


def _model(state: float) -> str:
    zeros = ", ".join(["0.0"] * 8)
    values = ", ".join([str(state)] * 8)
    return LSTM % (_W, _R, values if state else zeros, zeros)


def test_a_zero_initial_state_is_dropped_and_the_batch_made_dynamic(tmp_path: Path) -> None:
    [static] = findings(parse(_model(0.0)), "GF302")
    assert static.fixable and "LSTM" in static.message
    assert [p.describe() for p in static.fix][2:] == ["LSTM(seq): input 5 := (removed), input 6 := (removed)"]
    original = save(parse(_model(0.0)), tmp_path / "lstm.onnx")
    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed), "--dynamic-batch", "--unsafe-fixes", "-q"]) == 0
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, 5, 3)).astype(np.float32)
        got = run(fixed, {"x": x})[0]
        for i in range(n):  # each sample as the original computes it at its export batch
            expected = run(original, {"x": np.repeat(x[i:i + 1], 2, axis=0)})[0][0]
            np.testing.assert_allclose(got[i], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("state", [0.5])
def test_a_non_zero_initial_state_is_refused(tmp_path: Path, state: float) -> None:
    original = save(parse(_model(state)), tmp_path / "lstm.onnx")
    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed), "--dynamic-batch", "--unsafe-fixes", "-q"]) == 2
    assert not fixed.exists()


def test_a_dynamic_batch_with_a_baked_zero_state_is_repaired_with_unsafe_fixes(tmp_path: Path) -> None:
    text = _model(0.0).replace("float[2, 5, 3] x", "float[N, 5, 3] x").replace("float[2, 4] y", "float[N, 4] y")
    [baked] = [f for f in findings(parse(text), "GF103") if "LSTM" in f.message]
    assert "no initial state (zeros, the default)" in baked.message and "--unsafe-fixes" in baked.message
    original = save(parse(text), tmp_path / "lstm.onnx")
    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed), "-q"]) == 1  # left without --unsafe-fixes
    assert main(["fix", str(original), "-o", str(fixed), "--unsafe-fixes", "-q"]) == 0
    x = np.random.default_rng(3).standard_normal((3, 5, 3)).astype(np.float32)
    got = run(fixed, {"x": x})[0]
    for i in range(3):
        expected = run(original, {"x": np.repeat(x[i:i + 1], 2, axis=0)})[0][0]
        np.testing.assert_allclose(got[i], expected, rtol=1e-5, atol=1e-6)


# The legacy exporter's form: the zero state [1, 2, 4] expanded to [1, batch, 4] (batch from Shape(t)[1]).
EXPANDED = """
agraph (float[2, 5, 3] x) => (float[2, 4] y) {
    t = Transpose <perm = [1, 0, 2]> (x)
    w = Constant <value = float[1, 16, 3] {%s}> ()
    r = Constant <value = float[1, 16, 4] {%s}> ()
    s = Shape <start = 1, end = 2> (t)
    one = Constant <value = int64[1] {1}> ()
    four = Constant <value = int64[1] {4}> ()
    target = Concat <axis = 0> (one, s, four)
    z = Constant <value = float[1, 2, 4] {%s}> ()
    h0 = Expand (z, target)
    seq, yh = GRU <hidden_size = 4> (t, w, r, , , h0)
    a = Constant <value = int64[1] {0}> ()
    y = Squeeze (yh, a)
}"""


def _expanded(rows: list[float]) -> str:
    w = ", ".join(f"{v:.3f}" for v in np.random.default_rng(1).standard_normal(12 * 3))
    r = ", ".join(f"{v:.3f}" for v in np.random.default_rng(2).standard_normal(12 * 4))
    return EXPANDED.replace("float[1, 16, 3]", "float[1, 12, 3]").replace("float[1, 16, 4]", "float[1, 12, 4]") % (
        w, r, ", ".join(str(v) for v in rows for _ in range(4)))


def test_an_expanded_state_with_the_export_batch_becomes_one_row(tmp_path: Path) -> None:
    original = save(parse(_expanded([0.25, 0.25])), tmp_path / "gru.onnx")
    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed), "--dynamic-batch", "--unsafe-fixes", "-q"]) == 0
    x = np.random.default_rng(3).standard_normal((3, 5, 3)).astype(np.float32)
    got = run(fixed, {"x": x})[0]
    for i in range(3):
        expected = run(original, {"x": np.repeat(x[i:i + 1], 2, axis=0)})[0][0]
        np.testing.assert_allclose(got[i], expected, rtol=1e-5, atol=1e-6)
    # Rows that differ per image are not one value repeated: refused, nothing written.
    other = save(parse(_expanded([0.25, 0.5])), tmp_path / "other.onnx")
    assert main(["fix", str(other), "-o", str(tmp_path / "o.onnx"), "--dynamic-batch", "--unsafe-fixes", "-q"]) == 2
    assert not (tmp_path / "o.onnx").exists()
