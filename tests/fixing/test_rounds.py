"""Findings are re-derived after each rewrite round (issue 8 item 7): what ``graphfix fix`` reports as
remaining (text, JSON, HTML report) names only nodes of the model it wrote, never one a rewrite removed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import onnx_ir as ir
import pytest
from graphs import parse, save

from graphfix.cli import main
from graphfix.ir import node_label

# An If folded by the batch-only assumption (replaced by its then-branch in round 1, after which the output
# dims are set), a Reshape target computed at run time, and a NonZero whose GF901 stays.
FOLDED_AND_LEFT = """
g (float[N, 3, 8, 8] x) => (float[N, d1, d2] y, int64[2, M] idx) {
    w = Constant <value = float[1, 3, 1, 1] {0.5, -1.0, 2.0}> ()
    h = Conv (x, w)
    s = Shape (h)
    i1 = Constant <value = int64 {1}> ()
    d = Gather <axis = 0> (s, i1)
    one = Constant <value = int64 {1}> ()
    c = Equal (d, one)
    sq = If (c) <
        then_branch = then_g () => (float[N, 8, 8] t) {
            ax = Constant <value = int64[1] {1}> ()
            t = Squeeze (h, ax)
        },
        else_branch = else_g () => (float[N, 1, 8, 8] e) {
            e = Identity (h)
        }
    >
    i0 = Constant <value = int64 {0}> ()
    b = Gather <axis = 0> (s, i0)
    ax0 = Constant <value = int64[1] {0}> ()
    bu = Unsqueeze (b, ax0)
    tail = Constant <value = int64[2] {8, 8}> ()
    target = Concat <axis = 0> (bu, tail)
    y = Reshape (sq, target)
    flat = Flatten (y)
    idx = NonZero (flat)
}
"""


def _labels(path: Path) -> set[str]:
    model = ir.load(str(path))
    return {node_label(node) for graph in [model.graph, *model.graph.subgraphs()] for node in graph}


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    return save(parse(FOLDED_AND_LEFT), tmp_path / "model.onnx")


def test_json_remaining_names_only_nodes_of_the_written_model(model_file: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(model_file), "-o", str(fixed), "--format", "json"]) == 1  # GF901 remains
    document = json.loads(capsys.readouterr().out)
    assert {f["code"] for f in document["applied"]} >= {"GF101", "GF301"}
    assert "If(sq)" in {f["node"] for f in document["applied"]}
    remaining = [f for f in document["remaining"] if f["node"] is not None]
    assert [f["code"] for f in remaining] == ["GF901"]
    labels = _labels(fixed)
    assert "If(sq)" not in labels
    assert all(f["node"] in labels for f in remaining), (remaining, labels)
    assert not [f for f in document["remaining"] if "If" in f["message"]]


def test_text_and_html_report_remaining_rows_name_live_nodes(model_file: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    fixed, report = tmp_path / "fixed.onnx", tmp_path / "report.html"
    assert main(["fix", str(model_file), "-o", str(fixed), "--report", str(report)]) == 1
    text = capsys.readouterr().out
    remains = [line for line in text.splitlines() if line.startswith("remains")]
    assert remains and all("If" not in line for line in remains)
    page = report.read_text()
    assert "NonZero(idx)" in page
    # The If appears only among the fixed findings: each row of the page that names it says "fixed".
    rows = re.findall(r'<tr class="finding[^>]*>(.*?)</tr>', page, re.DOTALL)
    assert len(rows) == 5
    named = [row for row in rows if "If(sq)" in row]
    assert named and all('class="status fixed"' in row for row in named), named
