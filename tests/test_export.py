"""Real torch exports from both exporters: what lint finds, and what fix makes of them.

Each zoo model (tests/models/zoo.py) is exported with the legacy (TorchScript) and the dynamo exporter,
batch dynamic. Lint must find the seed's anti-patterns and keep the seed-compliant twins clean; fix
must remove them, keep the batch dynamic, and match torch in ONNX Runtime.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

pytest.importorskip("torch", reason="the export tests need torch (pip install torch==2.13.0)")

from graphs import run  # noqa: E402
from models.exports import export_zoo, make_inputs, run_torch  # noqa: E402
from models.zoo import ZOO  # noqa: E402

import graphfix  # noqa: E402
from graphfix.fixing import fix  # noqa: E402

EXPORTERS = ("legacy", "dynamo")

# Codes each export must show (GF301 on outputs the legacy exporter left symbolic may come on top).
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    "seed_lesson": (set(), set()),
    "seed_twin_view_size0": ({"GF101"}, set()),  # dynamo folds view(size(0), -1) itself
    "view_size0_minus1_4": ({"GF101"}, set()),
    "interp_size_nearest": ({"GF201"}, {"GF201"}),
    "interp_size_bilinear": ({"GF201"}, {"GF201"}),
    "interp_scale_nearest": (set(), set()),
    "interp_scale_bilinear": (set(), set()),
    "yolo_head": ({"GF101"}, set()),
    "dynamic_hw": ({"GF301"}, {"GF301"}),
    "baked_batch_int": ({"GF103"}, {"GF103"}),
    "transformer_block": ({"GF101"}, set()),
    "small_cnn": (set(), set()),
    "bert_tiny": ({"GF101"}, {"GF101"}),  # torch's own attention decomposition reshapes by Shape
    "gpt2_tiny": ({"GF101"}, set()),
    "vit_tiny": ({"GF101"}, set()),
}
PINNED = {"dynamic_hw": {"x": [1, 3, 16, 16]}}


def cases() -> list[tuple[str, str]]:
    return [(name, exporter) for name in ZOO for exporter in EXPORTERS]


def test_expectations_cover_the_zoo():
    assert set(EXPECTED) == set(ZOO)


@pytest.mark.parametrize("name,exporter", cases())
def test_lint_finds_the_anti_patterns_and_keeps_the_twins_clean(name: str, exporter: str, zoo_dir: Path):
    path = export_zoo(name, exporter, zoo_dir)
    expected = EXPECTED[name][EXPORTERS.index(exporter)]
    report = graphfix.lint(path)
    codes = {f.code for f in report.findings}
    extra = {f.code for f in report.findings if f.code not in expected
             and not (f.code == "GF301" and f.message.startswith("output") and f.fixable)}
    assert expected <= codes, report.findings
    assert extra == set(), [f.message for f in report.findings]
    if name == "seed_lesson":
        assert report.findings == []


def _copy(path: Path, directory: Path) -> Path:
    for file in path.parent.glob(path.name + "*"):
        shutil.copy(file, directory / file.name)
    return directory / path.name


@pytest.mark.parametrize("name,exporter", cases())
def test_fix_keeps_the_batch_dynamic_and_matches_torch(name: str, exporter: str, zoo_dir: Path, tmp_path: Path):
    zoo_model = ZOO[name]()
    source = _copy(export_zoo(name, exporter, zoo_dir), tmp_path)
    out = tmp_path / "fixed.onnx"
    pinned = PINNED.get(name, {})
    result = fix(source, out, unsafe_fixes=zoo_model.bakes_batch, input_shapes=pinned)
    if result.changed:
        assert result.verification is not None and result.verification.passed, result.verification
    fixed = onnx.load(out)
    onnx.checker.check_model(fixed, full_check=True)

    after = graphfix.lint(out, input_shapes=pinned)
    assert [f.message for f in after.findings if f.fixable] == []
    assert not any(f.code in ("GF101", "GF102", "GF103", "GF201", "GF202") for f in after.findings)
    shapes = [n for n in fixed.graph.node if n.op_type == "Shape"]
    # What is left reads the batch in the shortest form (an Expand of a class token, a mask), never more.
    assert len(shapes) <= sum(1 for f in result.applied if type(f.fix[0]).__name__ == "BatchShape") + \
        sum(1 for n in onnx.load(source, load_external_data=False).graph.node if n.op_type == "Shape")
    if name in ("seed_twin_view_size0", "yolo_head", "transformer_block", "gpt2_tiny", "view_size0_minus1_4"):
        assert shapes == []
    for value in [*fixed.graph.input, *fixed.graph.output]:
        assert value.type.tensor_type.shape.dim[0].dim_param, f"{value.name} lost its dynamic batch"

    batches = (2,) if zoo_model.bakes_batch else (1, 3)
    for batch in batches:
        feeds = make_inputs(zoo_model, batch)
        expected = run_torch(zoo_model, feeds)
        for got, want in zip(run(out, feeds), expected):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    again = fix(out, input_shapes=pinned, unsafe_fixes=zoo_model.bakes_batch, verify=False, dry_run=True)
    assert again.applied == [], "fixing a fixed model must change nothing"
