"""Baked Reshapes in series: each analysis walk sees one more of them, and there is no fixed cap on walks.

A static export of a deep transformer (MobileViT, Swin by the dynamo exporter) bakes the batch into a
Reshape per block, each visible only once the one before it is walked as repaired: 40 of them here. Every
one is repaired by ``--dynamic-batch --unsafe-fixes`` and the model then runs at any batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from graphs import parse, run, save

from graphfix.analyse import analyse
from graphfix.cli import main
from graphfix.ir import load

DEPTH = 40


def _series(depth: int) -> str:
    lines = ["agraph (float[2, 8, 4] x) => (float[2, 8, 4] y) {", "    h0 = Identity (x)"]
    for i in range(depth):
        lines += [f"    f{i} = Constant <value = int64[2] {{2, 32}}> ()",
                  f"    a{i} = Reshape (h{i}, f{i})",
                  f"    b{i} = Sigmoid (a{i})",
                  f"    u{i} = Constant <value = int64[3] {{2, 8, 4}}> ()",
                  f"    h{i + 1} = Reshape (b{i}, u{i})"]
    lines += [f"    y = Identity (h{depth})", "}"]
    return "\n".join(lines)


def test_every_baked_reshape_of_a_long_series_is_seen_through() -> None:
    static = load(parse(_series(DEPTH)))
    batch = analyse(static).batch.static_batch
    assert batch is not None and batch.repairable
    assert len(batch.repairs) == 2 * DEPTH


def test_a_long_series_is_made_dynamic(tmp_path: Path) -> None:
    original = save(parse(_series(DEPTH)), tmp_path / "series.onnx")
    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed), "--dynamic-batch", "--unsafe-fixes", "-q"]) == 0
    x2 = np.random.default_rng(0).standard_normal((2, 8, 4)).astype(np.float32)
    np.testing.assert_allclose(run(fixed, {"x": x2})[0], run(original, {"x": x2})[0], rtol=1e-6, atol=1e-6)
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, 8, 4)).astype(np.float32)
        expected = x
        for _ in range(DEPTH):
            expected = 1 / (1 + np.exp(-expected))
        np.testing.assert_allclose(run(fixed, {"x": x})[0], expected, rtol=1e-5, atol=1e-6)
