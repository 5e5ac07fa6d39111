"""A static export's as_strided: Gather from a flattened tensor with stored indices for every image.

The dynamo exporter writes a pooling of a permuted tensor (torchvision Swin's ``avgpool(permute(x))``) in a
static export as ``Gather(Reshape(t, [-1]), indices)``, the indices ``[E, ...]`` of the export batch's
images, each row the first one plus the image's offset. ``--dynamic-batch --unsafe-fixes`` flattens per image
(``[-1, per_sample]``) and gathers the first row along axis 1; indices that are not one row per image
stepping by the per-image volume are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from graphs import findings, parse, run, save

from graphfix.cli import main

# x [2, 3, 4] permuted to [2, 4, 3], flattened: per image 12 values; the indices pick [0, 3, 6, 9] of each.
STRIDED = """
agraph (float[2, 3, 4] x) => (float[2, 4] y) {
    t = Transpose <perm = [0, 2, 1]> (x)
    s = Constant <value = int64[1] {-1}> ()
    f = Reshape (t, s)
    i = Constant <value = int64[2, 4] {%s}> ()
    g = Gather <axis = 0> (f, i)
    y = Relu (g)
}"""


def _model(second_row: list[int]) -> str:
    return STRIDED % ", ".join(map(str, [0, 3, 6, 9, *second_row]))


def test_the_strided_gather_is_repaired_per_image(tmp_path: Path) -> None:
    text = _model([12, 15, 18, 21])
    [static] = findings(parse(text), "GF302")
    assert static.fixable and "Gather(g)" in static.message
    assert [p.describe() for p in static.fix][2:] == [
        "Reshape(f): input 1 := [-1, 12]", "Gather(g): input 1 := [0, 3, 6, 9]", "Gather(g): attribute axis := [1]"]
    original = save(parse(text), tmp_path / "strided.onnx")
    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed), "--dynamic-batch", "--unsafe-fixes", "-q"]) == 0
    x2 = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(run(fixed, {"x": x2})[0], run(original, {"x": x2})[0])
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, 3, 4)).astype(np.float32)
        expected = np.maximum(x.transpose(0, 2, 1).reshape(n, -1)[:, [0, 3, 6, 9]], 0)
        np.testing.assert_array_equal(run(fixed, {"x": x})[0], expected)


@pytest.mark.parametrize("second_row", [[1, 4, 7, 10], [12, 15, 18, 22]])
def test_indices_that_do_not_step_by_the_image_are_refused(tmp_path: Path, second_row: list[int]) -> None:
    original = save(parse(_model(second_row)), tmp_path / "other.onnx")
    assert main(["fix", str(original), "-o", str(tmp_path / "fixed.onnx"), "--dynamic-batch", "--unsafe-fixes",
                 "-q"]) == 2
    assert not (tmp_path / "fixed.onnx").exists()
