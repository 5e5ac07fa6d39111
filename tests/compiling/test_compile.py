"""--compile, graphfix compile and graphfix run, end to end with the ONNX Runtime backend."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

import graphfix
from graphfix.cli import main

SAMPLES = Path(__file__).parents[2] / "samples"
HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    target = tmp_path / "detector.onnx"
    shutil.copy(SAMPLES / "detector_legacy.onnx", target)
    return target


def test_fix_compile_fp16_with_onnxruntime(sample: Path, tmp_path: Path, capsys):
    out = tmp_path / "fixed.onnx"
    code = main(["fix", str(sample), "-o", str(out), "--compile", "fp16", "--backend", "onnxruntime"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "verification PASSED" in text and "fp16 graph and onnxruntime engine vs original: PASSED" in text
    fp16 = onnx.load(tmp_path / "fixed.fp16.onnx")
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in fp16.graph.initializer)
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for i in fp16.graph.input)
    assert "Shape" not in {n.op_type for n in fp16.graph.node}


def test_compile_int8_with_calibration_and_json(sample: Path, tmp_path: Path, capsys):
    calib = tmp_path / "calib.npz"
    rng = np.random.default_rng(0)
    np.savez(calib, images=rng.standard_normal((4, 3, 64, 64)).astype(np.float32))
    engine = tmp_path / "detector.ort.onnx"
    code = main(["compile", str(sample), "--precision", "int8", "--backend", "onnxruntime",
                 "--calib-data", str(calib), "--engine", str(engine), "--format", "json"])
    import json

    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["passed"] is True
    assert report["comparison"]["precision"] == "int8" and report["comparison"]["random_calibration"] is False
    assert {o["batch"] for o in report["comparison"]["outputs"]} == {1, 8}
    assert all(o["cosine"] >= 0.98 for o in report["comparison"]["outputs"])
    assert engine.exists() and (tmp_path / "detector.int8.onnx").exists()
    qdq = onnx.load(tmp_path / "detector.int8.onnx")  # the TensorRT form: symmetric, zero point 0
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in qdq.graph.node}
    assert report["precision_check"]["passed"] is True
    # ONNX Runtime runs its own form: uint8 activations, which its x86 int8 kernels fuse.
    runtime = onnx.load(tmp_path / "detector.int8.ort.onnx")
    zero_points = [i for i in runtime.graph.initializer if i.name.endswith("zero_point")]
    assert any(z.data_type == onnx.TensorProto.UINT8 for z in zero_points)


def test_int8_without_calibration_says_accuracy_will_be_poor(sample: Path, capsys):
    assert main(["compile", str(sample), "--precision", "int8", "--backend", "onnxruntime"]) == 0
    assert "random data: accuracy will be poor" in capsys.readouterr().out


def test_default_backend_says_why_it_is_onnxruntime(sample: Path, capsys):
    if HAS_TENSORRT:
        pytest.skip("TensorRT is installed here: the default backend is TensorRT")
    assert main(["compile", str(sample)]) == 0
    out = capsys.readouterr().out
    assert "compiling with ONNX Runtime (TensorRT is not installed" in out


@pytest.mark.skipif(HAS_TENSORRT, reason="checks the message when TensorRT is missing")
def test_tensorrt_backend_without_tensorrt_is_one_line_exit_2(sample: Path, tmp_path: Path, capsys):
    code = main(["fix", str(sample), "-o", str(tmp_path / "f.onnx"), "--compile", "fp16", "--backend", "tensorrt"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "TensorRT is not installed: pip install tensorrt" in err


def test_run_and_load_give_the_same_outputs(sample: Path, tmp_path: Path, capsys):
    images = np.random.default_rng(1).standard_normal((2, 3, 64, 64)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    saved = tmp_path / "out.npz"
    assert main(["run", str(sample), "--input", f"images={tmp_path / 'images.npy'}", "--save-outputs", str(saved)]) == 0
    assert "boxes" in capsys.readouterr().out
    runner = graphfix.load(sample)
    assert [i.name for i in runner.inputs] == ["images"]
    outputs = runner({"images": images})
    import onnxruntime as ort

    expected = ort.InferenceSession(str(sample), providers=["CPUExecutionProvider"]).run(None, {"images": images})
    stored = np.load(saved)
    for name, value in zip(("boxes", "logits"), expected):
        np.testing.assert_array_equal(outputs[name], value)
        np.testing.assert_array_equal(stored[name], value)


def test_run_errors_are_one_line(sample: Path, tmp_path: Path, capsys):
    assert main(["run", str(tmp_path / "missing.onnx")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["run", str(sample), "--input", "nope=x.npy"]) == 2
    assert main(["run", str(sample), "--input", f"wrong={sample}"]) == 2
    assert "Traceback" not in capsys.readouterr().err
