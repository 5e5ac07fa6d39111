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


@pytest.mark.skipif(HAS_TENSORRT, reason="checks what happens when TensorRT is missing")
def test_tensorrt_backend_without_tensorrt_writes_the_commands(sample: Path, tmp_path: Path, capsys):
    out = tmp_path / "f.onnx"
    code = main(["fix", str(sample), "-o", str(out), "--compile", "fp16", "--backend", "tensorrt",
                 "--trt-version", "8.6"])
    text = capsys.readouterr().out
    assert code == 0, text
    script = tmp_path / "f.trt8.6.sh"
    assert f"TensorRT is not installed here, so nothing was built: wrote {script}" in text.replace("\n", " ")
    assert not (tmp_path / "f.engine").exists()
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/bin/sh" and script.stat().st_mode & 0o111
    [trtexec] = [line for line in lines if line.startswith("trtexec ")]
    assert "--onnx=f.onnx" in trtexec and "--fp16" in trtexec and "--stronglyTyped" not in trtexec  # 8.6: flags
    assert "--minShapes=images:1x3x64x64" in trtexec and "--maxShapes=images:8x3x64x64" in trtexec
    assert "--timingCacheFile=f.trt8.6.timing.cache" in trtexec
    runs = [line for line in lines if line.startswith("polygraphy run ")]
    assert len(runs) == 4 and "detector.onnx --onnxrt" in runs[0] and "--model-type engine --trt" in runs[1]
    assert "--atol 0.01 --rtol 0.01" in runs[1]


@pytest.mark.skipif(HAS_TENSORRT, reason="checks what happens when TensorRT is missing")
def test_the_target_is_checked_before_building(tmp_path: Path, capsys):
    from graphs import parse, save

    model = save(parse("""
    agraph (float[N, 3, 8, 8] x) => (float[N, 3, 4, 4] y, int64[N, 3, 4, 4] i) {
        y, i = MaxPool <kernel_shape = [2, 2], strides = [2, 2]> (x)
    }"""), tmp_path / "pool.onnx")
    result = graphfix.compile(str(model), backend="tensorrt", trt_version="10.16")
    assert not result.passed and result.commands is None
    assert [f.code for f in result.target_errors] == ["GF502"]
    assert main(["compile", str(model), "--backend", "tensorrt", "--trt-version", "10"]) == 1
    out = capsys.readouterr().out
    assert "refused GF502" in out and "not built: TensorRT 10.16 would refuse" in out
    assert not list(tmp_path.glob("*.sh"))


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


def test_a_run_that_onnx_runtime_refuses_says_what_is_wrong(sample: Path, tmp_path: Path, capfd):
    """ONNX Runtime's facts (the input, the dims it got and expected; the node and the shapes), in one line,
    not its closing 'Please fix either the inputs/outputs or the model.' nor its C++ source location."""
    np.save(tmp_path / "small.npy", np.zeros((1, 3, 32, 32), np.float32))  # the sample takes 64x64 images
    assert main(["run", str(sample), "--input", f"images={tmp_path / 'small.npy'}"]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1, err  # one line: ONNX Runtime's own log is not printed as well
    assert "graphfix: error: ONNX Runtime failed: Got invalid dimensions for input: images" in err
    assert "index: 2 Got: 32 Expected: 64" in err and "Please fix" not in err

    model = onnx.parser.parse_model("""<ir_version: 8, opset_import: ["" : 17]>
    agraph (float[N, 8] x) => (float[1, 8] y) {
        t = Constant <value = int64[2] {1, 8}> ()
        y = Reshape (x, t)
    }""")
    onnx.save(model, tmp_path / "batch1.onnx")
    with pytest.raises(graphfix.GraphfixError) as raised:
        graphfix.load(tmp_path / "batch1.onnx")({"x": np.zeros((3, 8), np.float32)})
    assert str(raised.value) == ("ONNX Runtime failed: Reshape node: The input tensor cannot be "
                                 "reshaped to the requested shape. Input shape:{3,8}, requested shape:{1,8}")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_graphfix_precision_graphs_are_what_every_tensorrt_takes(sample: Path, tmp_path: Path):
    """The fp16 graph and the symmetric int8 Q/DQ graph raise no GF5xx error on any version (no false alarm on
    Q/DQ zero points or fp16 tensors)."""
    from graphfix import precision

    for kind in ("fp16", "int8"):
        graph = precision.transform(sample, tmp_path / "d.onnx", kind)
        for version in ("8.6", "10.0", "10.16", "11.5"):
            report = graphfix.lint(graph, trt_version=version, select="GF5")
            assert report.errors == [], (kind, version, [f.message for f in report.errors])
