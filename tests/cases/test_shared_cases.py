"""The cases in ``../shared/cases`` (generators of real-world export faults, each docstring naming the right
result), generated with torch and checked against their docstrings (issue 8).

The scripts live beside the repository (``<parent>/shared/cases``, or ``$GRAPHFIX_CASES``); the tests skip
with the reason when they or torch are absent. Torch-free graphs of the same kinds are in tests/rules and
tests/fixing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from graphfix.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _cases_dir() -> Path | None:
    candidates = [Path(os.environ["GRAPHFIX_CASES"])] if os.environ.get("GRAPHFIX_CASES") else []
    candidates += [ROOT.parent / "shared" / "cases", ROOT.parent.parent / "shared" / "cases"]
    return next((c for c in candidates if (c / "_export.py").is_file()), None)


CASES = _cases_dir()
pytestmark = [
    pytest.mark.skipif(CASES is None, reason="no ../shared/cases beside the repository (set GRAPHFIX_CASES)"),
    pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                       reason="the cases export with torch (pip install torch==2.13.0)"),
    pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="the cases run ONNX Runtime"),
]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Runs a case script once (on first use) and gives the folder it wrote."""
    folders: dict[str, Path] = {}

    def make(stem: str) -> Path:
        assert CASES is not None
        if stem not in folders:
            folder = tmp_path_factory.mktemp(stem)
            subprocess.run([sys.executable, str(CASES / f"{stem}.py"), str(folder)], check=True,
                           capture_output=True, timeout=600)
            folders[stem] = folder
        return folders[stem]

    return make


def _compare(stem: str, original: Path, fixed: Path) -> subprocess.CompletedProcess[str]:
    assert CASES is not None
    return subprocess.run([sys.executable, str(CASES / f"{stem}.py"), "--compare", str(original), str(fixed)],
                          capture_output=True, text=True, timeout=600)


def _lint_json(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, object]]]:
    import json

    code = main(["lint", str(path), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)["files"][0]["findings"]


def test_02_legacy_int_window_reverse(generated: Callable[[str], Path], capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    original = generated("02_window_int") / "02_window_int__legacy.onnx"
    code, findings = _lint_json(original, capsys)
    assert code == 1
    baked = {f["node"]: f["fix"] for f in findings if f["code"] == "GF103"}
    assert baked == {"/Reshape_2": ["/Reshape_2: input 1 := [-1, 2, 2, 4, 4, 16]"],
                     "/Reshape_3": ["/Reshape_3: input 1 := [-1, 16, 8, 8]"]}
    assert not [f for f in findings if f["code"] == "GF101" and f["node"] in baked]
    assert not [f for f in findings if f["code"] == "GF902"]
    assert sum(f["code"] == "GF101" and f["fixable"] for f in findings) == 7

    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed), "--unsafe-fixes"]) == 0
    compared = _compare("02_window_int", original, fixed)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    capsys.readouterr()
    assert main(["lint", str(fixed)]) == 0


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_11_squeeze_without_axes(generated: Callable[[str], Path], capsys: pytest.CaptureFixture[str],
                                 tmp_path: Path, exporter: str) -> None:
    original = generated("11_squeeze_no_axes") / f"11_squeeze_no_axes__{exporter}.onnx"
    code, findings = _lint_json(original, capsys)
    assert code == 1
    [squeeze] = [f for f in findings if f["code"] == "GF101"]
    assert squeeze["op_type"] == "Squeeze" and squeeze["fix"] == [f"{squeeze['node']}: input 1 := [1]"]

    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed)]) == 0
    compared = _compare("11_squeeze_no_axes", original, fixed)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    capsys.readouterr()
    assert main(["lint", str(fixed)]) == 0


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_07_batch1_constant_reshaped_with_the_batch(generated: Callable[[str], Path],
                                                    capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                    exporter: str) -> None:
    original = generated("07_batch1_constant_reshape") / f"07_batch1_constant_reshape__{exporter}.onnx"
    node = "/Reshape" if exporter == "legacy" else "node_view"
    code, findings = _lint_json(original, capsys)
    assert code == 1
    [baked] = [f for f in findings if f["code"] == "GF103"]
    assert baked["node"] == node and isinstance(baked["message"], str)
    for words in ("fixed dim 0 of 1", "class_embeddings", "dim 0 is the run-time batch", "right only at batch 1",
                  "fails at batch 3", "silently wrong at batches 2, 4"):
        assert words in baked["message"], words
    assert baked["fix"] == [f"{node}: input 1 := [1, -1, 4, 32]",
                            f"{node}: output 0 := Expand(output 0, [images.shape[0], 80, 4, 32])"]
    assert not [f for f in findings if f["node"] == node and f["code"] != "GF103"]  # no GF902, no GF101
    safe = {f["node"]: f["fix"] for f in findings if f["code"] == "GF101"}
    if exporter == "legacy":
        assert safe == {"/Reshape_1": ["/Reshape_1: input 1 := [-1, 4, 32, 8, 8]"],
                        "/Reshape_2": ["/Reshape_2: input 1 := [-1, 4, 8, 8, 8]"],
                        "/Reshape_3": ["/Reshape_3: input 1 := [-1, 32, 8, 8]"]}
    else:
        assert safe == {}

    fixed = tmp_path / "safe.onnx"
    assert main(["fix", str(original), "-o", str(fixed)]) == 1
    out = capsys.readouterr().out
    assert "GF103" in out
    if exporter == "legacy":
        assert "PASSED" in out and "at batch 1 " in out and "fails at batch 3" in out and fixed.is_file()

    repaired = tmp_path / "repaired.onnx"
    assert main(["fix", str(original), "-o", str(repaired), "--unsafe-fixes"]) == 0
    assert "per sample" in capsys.readouterr().out
    compared = _compare("07_batch1_constant_reshape", original, repaired)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert main(["lint", str(repaired)]) == 0


def test_02_dynamo_static_batch_baked_by_four_reshapes(generated: Callable[[str], Path],
                                                       capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    original = generated("02_window_int") / "02_window_int__dynamo.onnx"
    code, findings = _lint_json(original, capsys)
    assert code == 1
    [static] = [f for f in findings if f["code"] == "GF302"]
    assert "4 node(s) bake the batch: node__unsafe_view, node__unsafe_view_1, node_view, node_view_1" \
        in str(static["message"])

    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed), "--dynamic-batch"]) == 2  # the Reshapes need unsafe
    assert "--unsafe-fixes" in capsys.readouterr().err
    assert main(["fix", str(original), "-o", str(fixed), "--dynamic-batch", "--unsafe-fixes"]) == 0
    out = capsys.readouterr().out
    for plan in ("node_view: input 1 := [-1, 16, 2, 4, 2, 4]", "node__unsafe_view: input 1 := [-1, 16, 16]",
                 "node_view_1: input 1 := [-1, 2, 2, 4, 4, 16]", "node__unsafe_view_1: input 1 := [-1, 16, 8, 8]",
                 "image: [batch, 3, 8, 8]", "out: [batch, 16, 8, 8]", "per sample at its export batch 2"):
        assert plan in out, plan
    assert "at batch 1, 2, 3" in out
    compared = _compare("02_window_int", original, fixed)


def test_05_legacy_if_folded_by_the_batch_only_assumption(generated: Callable[[str], Path],
                                                          capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import onnx

    original = generated("05_squeeze_if") / "05_squeeze_if__legacy.onnx"
    code, findings = _lint_json(original, capsys)
    assert code == 1
    assert sorted(f["node"] for f in findings if f["code"] == "GF201" and f["fixable"]) == ["/Resize", "/Resize_1"]
    [inline] = [f for f in findings if f["code"] == "GF101"]
    assert inline["node"] == "/If" and inline["fix"] == ["/If: If := its then_branch (Squeeze)"]
    assert sorted(f["message"].split(" is ")[0] for f in findings if f["code"] == "GF301" and f["fixable"]) == [
        "output 'depth' dim 1 ('Ifdepth_dim_1')", "output 'depth' dim 2 ('Ifdepth_dim_2')"]
    assert not [f for f in findings if f["code"] in ("GF901", "GF902")]

    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed)]) == 0
    model = onnx.load(str(fixed))
    assert sorted(n.op_type for n in model.graph.node) == ["Conv"] * 3 + ["Relu", "Resize", "Resize", "Squeeze"]
    [squeeze] = [n for n in model.graph.node if n.op_type == "Squeeze"]
    axes = {i.name: i for i in model.graph.initializer}[squeeze.input[1]]
    assert onnx.numpy_helper.to_array(axes).tolist() == [1] and squeeze.output[0] == "depth"
    [depth] = model.graph.output
    assert [d.dim_param or d.dim_value for d in depth.type.tensor_type.shape.dim] == ["batch", 28, 28]
    compared = _compare("05_squeeze_if", original, fixed)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    capsys.readouterr()
    assert main(["lint", str(fixed)]) == 0


def test_05_dynamo_resizes_only(generated: Callable[[str], Path], capsys: pytest.CaptureFixture[str],
                                tmp_path: Path) -> None:
    original = generated("05_squeeze_if") / "05_squeeze_if__dynamo.onnx"
    code, findings = _lint_json(original, capsys)
    assert code == 1 and {f["code"] for f in findings} == {"GF201"} and len(findings) == 2
    assert all(f["fix"][0].endswith("input 2 := [1, 1, 2, 2], input 3 := (removed)") for f in findings)
    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed)]) == 0
    compared = _compare("05_squeeze_if", original, fixed)
    assert compared.returncode == 0, compared.stdout + compared.stderr


@pytest.mark.parametrize("variant", ["legacy", "legacy_opset9"])
def test_13_resize10_runtime_scales(generated: Callable[[str], Path], capsys: pytest.CaptureFixture[str],
                                    tmp_path: Path, variant: str) -> None:
    """Resize-10 keeps its scales in input 1 (as Upsample-9 does); from opset 11 they are input 2."""
    import onnx

    original = generated("13_resize10_runtime_scales") / f"13_resize10_runtime_scales__{variant}.onnx"
    code, findings = _lint_json(original, capsys)
    assert code == 1
    [scales] = [f for f in findings if f["code"] == "GF202"]
    op = "Resize" if variant == "legacy" else "Upsample"
    assert scales["node"] == f"/{op}" and scales["fix"] == [f"/{op}: input 1 := [1, 1, 2, 2]"]
    assert sorted((f["code"], f["severity"]) for f in findings if f["code"] != "GF202") == [
        ("GF301", "info"), ("GF301", "info")]

    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed)]) == 0
    model = onnx.load(fixed)
    assert [n.op_type for n in model.graph.node] == ["Conv", op, "Conv"]
    [resize] = [n for n in model.graph.node if n.op_type == op]
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    assert len(resize.input) == 2 and weights[resize.input[1]].tolist() == [1.0, 1.0, 2.0, 2.0]
    dims = [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 4, 32, 32]
    compared = _compare("13_resize10_runtime_scales", original, fixed)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    capsys.readouterr()
    assert main(["lint", str(fixed)]) == 0


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_06_one_batch_shared_by_both_expands(generated: Callable[[str], Path], capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path, exporter: str) -> None:
    from collections import Counter

    import onnx

    original = generated("06_shared_batch_chain") / f"06_shared_batch_chain__{exporter}.onnx"
    fixed = tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed)]) == 0
    model = onnx.load(str(fixed))
    producers = {o: n for n in model.graph.node for o in n.output}
    chain: dict[str, onnx.NodeProto] = {}
    stack = [n.input[1] for n in model.graph.node if n.op_type == "Expand"]
    while stack:
        node = producers.get(stack.pop())
        if node is not None and node.name not in chain:
            chain[node.name] = node
            stack.extend(node.input)
    assert Counter(n.op_type for n in chain.values() if n.op_type != "Constant") == Counter(
        {"Shape": 1, "Mul": 1, "Concat": 2})
    assert sum(n.op_type == "Shape" for n in model.graph.node) == 1
    [shape] = [n for n in chain.values() if n.op_type == "Shape"]
    attributes = {a.name: a.i for a in shape.attribute}
    assert shape.input == ["input_ids"] and attributes.get("start", 0) == 0 and attributes["end"] == 1
    weights = {i.name: onnx.numpy_helper.to_array(i).tolist() for i in model.graph.initializer}
    [mul] = [n for n in chain.values() if n.op_type == "Mul"]
    assert list(mul.input[:1]) == list(shape.output) and weights[mul.input[1]] == [4]
    if exporter == "dynamo":
        assert shape.name == "node_Shape_0"  # the export's own Shape, read again
    else:
        targets = sorted(weights[n.input[1]] for n in model.graph.node if n.op_type == "Reshape")
        assert targets == sorted([[-1, 16, 3, 4, 8], [-1, 16, 8], [-1, 16, 8], [-1, 16, 8], [-1, 4, 16, 8],
                                  [-1, 16, 32]])
    compared = _compare("06_shared_batch_chain", original, fixed)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    capsys.readouterr()
    assert main(["lint", str(fixed)]) == 0
