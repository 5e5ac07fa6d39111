"""Batch slots outside Reshape in real exports: a Python int batch in ``repeat``/``expand``/``torch.full``/``x[:n]``
and a loop over ``x.unbind(0)``, exported by the legacy exporter at batch 2 with a dynamic batch declared.
The repair (``unsafe_fixes``) is checked against eager torch at batches 1, 3 and 4, and against the original
in ONNX Runtime, which runs only at batch 2."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from graphs import run

torch = pytest.importorskip("torch", reason="the exports need torch (pip install torch==2.13.0)")
pytest.importorskip("onnxruntime", reason="the exports are run in ONNX Runtime")

import graphfix  # noqa: E402
from graphfix.export import export  # noqa: E402
from graphfix.linting import Safety  # noqa: E402

nn = torch.nn


class TileByInt(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.randn(1, 4, 1))

    def forward(self, x):
        return x * self.g.repeat(int(x.shape[0]), 1, 3)


class ExpandByInt(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.randn(1, 2, 3))

    def forward(self, x):
        return torch.cat([x, self.p.expand(int(x.shape[0]), -1, -1)], 1)


class FullByInt(nn.Module):
    def forward(self, x):
        return torch.cat([torch.tanh(x), torch.full((int(x.shape[0]), 1, 3), 0.5)], 1)


class AddFullByInt(nn.Module):
    def forward(self, x):
        return x + torch.full((int(x.shape[0]), 4, 1), 0.25)


class SliceByInt(nn.Module):
    def forward(self, x):
        n = int(x.shape[0])
        return torch.tanh(x)[:n]


class UnbindLoop(nn.Module):
    def forward(self, x):
        return torch.stack([torch.tanh(s) * s.mean() for s in x.unbind(0)], 0)


CASES = {
    "tile": (TileByInt, "Tile", "x.repeat(n"),
    "expand": (ExpandByInt, "Expand", "x.expand(n"),
    "full-concat": (FullByInt, "Concat", "torch.zeros/ones/full"),
    "full-add": (AddFullByInt, "Add", "torch.zeros/ones/full"),
    "slice": (SliceByInt, "Slice", "x[:n]"),
}


def _export(module: nn.Module, path: Path) -> Path:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return export(module.eval(), (torch.randn(2, 4, 3),), path, exporter="legacy", input_names=["x"],
                      output_names=["y"], opset=17)


def _follows_batch(model: onnx.ModelProto, batch: int) -> bool:
    try:
        return bool(run(model, {"x": np.zeros((batch, 4, 3), np.float32)})[0].shape[0] == batch)
    except Exception:  # noqa: BLE001 - ONNX Runtime's shape errors
        return False


@pytest.mark.parametrize("name", list(CASES))
def test_a_python_int_batch_is_repaired_and_verified_per_sample(name: str, tmp_path: Path):
    cls, op, cause = CASES[name]
    torch.manual_seed(0)
    module = cls().eval()
    original = _export(module, tmp_path / "original.onnx")
    assert not _follows_batch(onnx.load(str(original)), 3)  # the export is right only at its batch 2
    report = graphfix.lint(original)
    [finding] = [f for f in report.findings if f.code == "GF103" and f.node is not None]
    assert finding.node.op_type == op and cause in finding.message and "export batch 2" in finding.message
    # An output declared with the export batch follows the batch only once the slot is repaired: unsafe too.
    assert all(not f.fix or f.safety is not Safety.SAFE for f in report.findings if f.code == "GF103")
    assert finding.fixable
    result = graphfix.fix(original, tmp_path / "fixed.onnx", unsafe_fixes=True)
    assert [f for f in result.remaining if f.severity != "info"] == []
    assert result.verification is not None and result.verification.passed
    assert "per sample" in result.verification.reference
    fixed = onnx.load(str(tmp_path / "fixed.onnx"))
    for batch in (1, 3, 4):
        x = np.random.default_rng(batch).standard_normal((batch, 4, 3)).astype(np.float32)
        with torch.no_grad():
            expected = module(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(run(fixed, {"x": x})[0], expected, rtol=1e-5, atol=1e-6)


def test_a_loop_over_unbind_is_reported_as_a_baked_batch(tmp_path: Path):
    original = _export(UnbindLoop(), tmp_path / "original.onnx")
    report = graphfix.lint(original)
    codes = [f.code for f in report.findings]
    assert "GF902" not in codes
    [finding] = [f for f in report.findings if f.code == "GF103"]
    assert finding.node.op_type == "Split" and not finding.fixable
    assert "x.unbind(0)" in finding.message and "re-export" in finding.message
    result = graphfix.fix(original, tmp_path / "fixed.onnx", unsafe_fixes=True, verify=False)
    assert any(f.code == "GF103" for f in result.remaining)
