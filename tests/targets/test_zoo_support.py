"""The zoo (both exporters) and the samples against the TensorRT support tables: no GF5xx error on 10.x and
11.x; on 8.6 only what the table justifies; and fix --trt-version 8.6 converts real exports to opset 17,
verified (including a dynamo export at opset 18 with the operators onnx's converter alone cannot convert)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

pytest.importorskip("torch", reason="the zoo tests need torch (pip install torch==2.13.0)")

from graphs import run  # noqa: E402
from models.exports import export_zoo, make_inputs, run_torch  # noqa: E402
from models.zoo import ZOO  # noqa: E402

import graphfix  # noqa: E402
from graphfix import targets  # noqa: E402
from graphfix.fixing import fix  # noqa: E402

SAMPLES = sorted((Path(__file__).parents[2] / "samples").glob("*.onnx"))
CASES = [(name, exporter) for name in ZOO for exporter in ("legacy", "dynamo")]
TENSORRT_10_AND_11 = ("10.0", "10.5", "10.12", "10.16", "11.0", "11.2", "11.5")
GELU = {"transformer_block", "gpt2_tiny", "vit_tiny"}  # nn.GELU: Gelu-20, which 8.6 does not import
PINNED = {"dynamic_hw": {"x": [1, 3, 16, 16]}}


def _opset(path: Path) -> int:
    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


@pytest.mark.parametrize(("name", "exporter"), CASES)
def test_no_gf5xx_errors_on_tensorrt_10_and_11(name: str, exporter: str, zoo_dir: Path):
    path = export_zoo(name, exporter, zoo_dir)
    for version in TENSORRT_10_AND_11:
        report = graphfix.lint(path, trt_version=version, select="GF5")
        assert report.trt_version == version
        assert [f.message for f in report.findings] == []  # no error, and no INT64 note: 10.0+ has INT64


@pytest.mark.parametrize(("name", "exporter"), CASES)
def test_on_8_6_only_what_the_table_justifies(name: str, exporter: str, zoo_dir: Path):
    path = export_zoo(name, exporter, zoo_dir)
    table = targets.resolve("8.6")
    report = graphfix.lint(path, trt_version="8.6", select="GF5")
    errors = {(f.code, f.op_type) for f in report.errors}
    expected = {("GF504", None)} | ({("GF501", "Gelu")} if name in GELU else set())
    assert errors == expected, [f.message for f in report.errors]
    assert _opset(path) > table.opset.max  # torch 2.13 exports at opset 20; 8.6 documents up to 17
    assert not table.imports("Gelu")
    assert all(f.fixable for f in report.errors if f.code == "GF504")
    # INT64 shape tensors, which 8.6 narrows itself: at most one information finding, never a failure.
    assert [f.code for f in report.findings if not f.is_error] in ([], ["GF503"])


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples(path: Path):
    for version in TENSORRT_10_AND_11:
        assert graphfix.lint(path, trt_version=version, select="GF5").findings == []
    report = graphfix.lint(path, trt_version="8.6", select="GF5")  # opset 17: in 8.6's range
    assert report.errors == [] and [f.code for f in report.findings] == ["GF503"]


@pytest.mark.parametrize("name", list(ZOO))
def test_fix_for_8_6_converts_dynamo_exports_to_opset_17(name: str, zoo_dir: Path, tmp_path: Path):
    exported = export_zoo(name, "dynamo", zoo_dir)
    for file in exported.parent.glob(exported.name + "*"):
        shutil.copy(file, tmp_path / file.name)
    zoo_model = ZOO[name]()
    out = tmp_path / "fixed.onnx"
    result = fix(tmp_path / exported.name, out, trt_version="8.6", unsafe_fixes=zoo_model.bakes_batch,
                 input_shapes=PINNED.get(name, {}))
    assert result.verification is not None and result.verification.passed, result.verification
    assert any(f.code == "GF504" for f in result.applied)
    assert _opset(out) == 17
    assert graphfix.lint(out, trt_version="8.6", select="GF5", input_shapes=PINNED.get(name)).errors == []
    feeds = make_inputs(zoo_model, 2)
    for got, want in zip(run(out, feeds), run_torch(zoo_model, feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_a_dynamo_export_at_opset_18_converts_to_17_for_8_6(tmp_path: Path):
    """Split-18 (an uneven chunk), ReduceMean-18/ReduceMax-18, Pad-18, Resize-18 and Mish-18: onnx's converter
    alone fails on this export; graphfix converts it and verification proves it unchanged."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from graphfix.export import export

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.mish(self.conv(x))
            a, b, c = y.chunk(3, dim=1)  # 8 channels: 3, 3, 2
            y = torch.cat([a * 2, b, c], 1)
            y = F.pad(y, (1, 1, 1, 1), mode="reflect")
            y = y - y.mean(dim=(2, 3), keepdim=True) + y.amax(dim=1, keepdim=True)
            return F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)

    torch.manual_seed(0)
    module = Block().eval()
    x = torch.randn(2, 3, 8, 8)
    source = export(module, (x,), tmp_path / "block.onnx", exporter="dynamo", opset=18)
    assert _opset(source) == 18
    model = onnx.load(str(source), load_external_data=False)
    ops = {n.op_type for n in model.graph.node}
    assert {"Split", "Pad", "ReduceMean", "ReduceMax", "Resize", "Mish"} <= ops
    with pytest.raises(Exception, match="(?i)adapter|split"):  # what onnx's converter does on its own
        onnx.version_converter.convert_version(model, 17)

    out = tmp_path / "fixed.onnx"
    result = fix(source, out, trt_version="8.6")
    assert result.verification is not None and result.verification.passed and 1 in result.verification.batches
    assert _opset(out) == 17 and "Mish" not in {n.op_type for n in onnx.load(str(out)).graph.node}
    assert graphfix.lint(out, trt_version="8.6", select="GF5").errors == []
    for batch in (1, 3):
        feed = torch.randn(batch, 3, 8, 8)
        with torch.no_grad():
            want = module(feed).numpy()
        np.testing.assert_allclose(run(out, {"x": feed.numpy()})[0], want, rtol=1e-4, atol=1e-5)
