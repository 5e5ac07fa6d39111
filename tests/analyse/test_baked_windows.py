"""A batch baked into a Reshape of windows (dim 0 ``k * batch``) that folds the batch silently.

Swin's reference ``window_reverse`` reads ``B = int(windows.shape[0] / nW)``: a traced export stores
``[2, 2, 2, 4, 4, -1]`` for windows ``[4 * batch, 4, 4, C]``. At other batches the -1 absorbs the batch
and nothing fails, so only the export batch other Reshapes bake (here a plain ``[2, -1]``) tells that the
leading 2 is the batch. Every baked Reshape is reported by GF103 only (never a safe GF102 built on the
repaired walk), ``--unsafe-fixes`` repairs them all, and the safe fixes alone keep the original's numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from graphs import findings, parse, run, save

from graphfix.cli import main

# x [N, 8, 8, 4] exported at batch 2: windows [4N, 4, 4, 4], reversed with the batch baked (folds
# silently), back to tokens with -1 (undoes the fold: nothing fails), then a plain baked [2, -1].
WINDOWS = """
agraph (float[N, 8, 8, 4] x) => (float[N, 256] y) {
    t1 = Constant <value = int64[6] {-1, 2, 4, 2, 4, 4}> ()
    a = Reshape (x, t1)
    b = Transpose <perm = [0, 1, 3, 2, 4, 5]> (a)
    t2 = Constant <value = int64[4] {-1, 4, 4, 4}> ()
    windows = Reshape (b, t2)
    w = Relu (windows)
    t3 = Constant <value = int64[6] {2, 2, 2, 4, 4, -1}> ()
    c = Reshape (w, t3)
    d = Transpose <perm = [0, 1, 3, 2, 4, 5]> (c)
    t4 = Constant <value = int64[4] {2, 8, 8, -1}> ()
    e = Reshape (d, t4)
    t5 = Constant <value = int64[3] {-1, 64, 4}> ()
    tokens = Reshape (e, t5)
    s = Sigmoid (tokens)
    t6 = Constant <value = int64[2] {2, -1}> ()
    y = Reshape (s, t6)
}"""


def _reference(x: np.ndarray) -> np.ndarray:
    """What the model computes when the batch is not baked (the export at any batch)."""
    n = x.shape[0]
    windows = np.maximum(x.reshape(n, 2, 4, 2, 4, 4).transpose(0, 1, 3, 2, 4, 5).reshape(-1, 4, 4, 4), 0)
    back = windows.reshape(n, 2, 2, 4, 4, 4).transpose(0, 1, 3, 2, 4, 5).reshape(n, 64, 4)
    return (1 / (1 + np.exp(-back))).reshape(n, -1)


def _targets(path: Path) -> list[list[int]]:
    graph = onnx.load(str(path)).graph
    values = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    values.update({n.output[0]: onnx.numpy_helper.to_array(n.attribute[0].t) for n in graph.node
                   if n.op_type == "Constant"})
    return [[int(v) for v in values[n.input[1]]] for n in graph.node if n.op_type == "Reshape"]


def test_every_window_reshape_is_a_baked_batch_and_none_a_safe_minus_one():
    baked = {f.node_name for f in findings(parse(WINDOWS), "GF103")}
    assert baked == {"Reshape(c)", "Reshape(e)", "Reshape(y)"}
    assert findings(parse(WINDOWS), "GF102") == []  # a repaired node's -1 is part of GF103's target


@pytest.mark.parametrize("batch", [1, 3])
def test_unsafe_fixes_repair_the_windows_and_default_keeps_the_original(tmp_path: Path, batch: int) -> None:
    original = save(parse(WINDOWS), tmp_path / "windows.onnx")
    x = np.random.default_rng(batch).standard_normal((batch, 8, 8, 4)).astype(np.float32)
    x2 = np.random.default_rng(0).standard_normal((2, 8, 8, 4)).astype(np.float32)

    fixed = tmp_path / "unsafe.onnx"
    assert main(["fix", str(original), "-o", str(fixed), "--unsafe-fixes", "-q"]) == 0
    np.testing.assert_allclose(run(fixed, {"x": x})[0], _reference(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run(fixed, {"x": x2})[0], run(original, {"x": x2})[0], rtol=1e-5, atol=1e-6)
    assert [-1, 2, 2, 4, 4, 4] in _targets(fixed)  # the window reverse keeps the batch, C made concrete

    # Without --unsafe-fixes the baked batch stays (exit 1, GF103 left) and what is written is the original's.
    safe = tmp_path / "safe.onnx"
    assert main(["fix", str(original), "-o", str(safe), "-q"]) == 1
    np.testing.assert_allclose(run(safe, {"x": x})[0], run(original, {"x": x})[0], rtol=1e-5, atol=1e-6)
