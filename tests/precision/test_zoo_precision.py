"""Precision transforms on real torch exports: fp16 (mixed, fp32 I/O) and int8 (Q/DQ), checked in ORT."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest

pytest.importorskip("torch", reason="these precision tests transform the zoo's torch exports (pip install torch==2.13.0)")

import onnxruntime as ort  # noqa: E402
from models.exports import export_zoo, make_inputs
from models.zoo import ZOO
from onnx import TensorProto, numpy_helper

from graphfix.errors import GraphfixError, UsageError
from graphfix.ir.loading import load
from graphfix.precision import (
    DEFAULT_THRESHOLDS,
    FP16_BLOCK_LIST,
    Calibration,
    CalibrationError,
    PrecisionError,
    RandomCalibrationWarning,
    compare_precision,
    load_calibration,
    output_path,
    to_fp16,
    to_int8,
    transform,
)
from graphfix.verify import input_shapes_for, input_specs, integer_ranges

MODELS = [("small_cnn", "dynamo"), ("small_cnn", "legacy"), ("bert_tiny", "legacy"), ("bert_tiny", "dynamo")]
BATCHES = (1, 3)


def _export(zoo_dir: Path, name: str, exporter: str) -> Path:
    return export_zoo(name, exporter, zoo_dir)


def _interface(path: Path) -> tuple[list, dict, dict, dict]:
    model = load(path).model
    specs = input_specs(model)
    ranges = integer_ranges(model)
    feeds = {batch: input_shapes_for(specs, batch, {}) for batch in BATCHES}
    return specs, ranges, feeds, {spec.name: spec.dtype for spec in specs}


def _compare(source: Path, transformed: Path, precision: str, **kwargs):
    _, ranges, feeds, dtypes = _interface(source)
    return compare_precision(source, transformed, feeds, precision=precision, dtypes=dtypes, ranges=ranges,
                             **kwargs)


def _io_types(model: onnx.ModelProto) -> list[tuple[str, int]]:
    inits = {t.name for t in model.graph.initializer}
    return [(v.name, v.type.tensor_type.elem_type) for v in [*model.graph.input, *model.graph.output]
            if v.name not in inits]


def _types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type
             for v in [*inferred.graph.input, *inferred.graph.output, *inferred.graph.value_info]}
    types.update({t.name: t.data_type for t in inferred.graph.initializer})
    return types


def _calibration_arrays(name: str, samples: int = 16) -> dict[str, np.ndarray]:
    """Real-looking inputs (zoo's make_inputs) stacked along axis 0."""
    zm = ZOO[name]()
    chunks = [make_inputs(zm, 4, seed=100 + i) for i in range(samples // 4)]
    return {key: np.concatenate([c[key] for c in chunks]) for key in zm.input_names}


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------------------------------
# fp16


@pytest.mark.parametrize(("name", "exporter"), MODELS)
def test_fp16_real_exports(zoo_dir: Path, tmp_path: Path, name: str, exporter: str) -> None:
    source = _export(zoo_dir, name, exporter)
    output = to_fp16(source, tmp_path / "fixed.fp16.onnx")

    assert output == tmp_path / "fixed.fp16.onnx"
    onnx.checker.check_model(str(output), full_check=True)
    original = onnx.load(str(source), load_external_data=False)
    converted = onnx.load(str(output), load_external_data=False)
    assert _io_types(converted) == _io_types(original)  # fp32 (and int64) I/O unchanged
    assert all(t != TensorProto.FLOAT16 for _, t in _io_types(converted))
    halves = [t for t in converted.graph.initializer if t.data_type == TensorProto.FLOAT16]
    assert len(halves) >= 3  # the weights are fp16
    # Ops on the block list compute in fp32.
    types = _types(converted)
    blocked = [n for n in converted.graph.node if n.op_type in FP16_BLOCK_LIST]
    # dynamo's small_cnn pools with ReduceMean, the legacy one with GlobalAveragePool (not blocked).
    assert blocked or (name, exporter) == ("small_cnn", "legacy")
    for node in blocked:
        assert all(types.get(i) != TensorProto.FLOAT16 for i in node.input if i), node.name
    # External data stays external (dynamo exports write weights beside the model).
    if (source.parent / f"{source.name}.data").exists():
        assert (tmp_path / "fixed.fp16.onnx.data").exists()
        assert any(t.data_location == TensorProto.EXTERNAL for t in converted.graph.initializer)
    assert _listing(tmp_path) in (["fixed.fp16.onnx"], ["fixed.fp16.onnx", "fixed.fp16.onnx.data"])

    # The real fp16 file runs in ORT and gives fp32 outputs close to torch's.
    zm = ZOO[name]()
    feeds = make_inputs(zm, 3, seed=7)
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, feeds)
    assert got.dtype == np.float32 and np.isfinite(got).all()
    from models.exports import run_torch

    np.testing.assert_allclose(got, run_torch(zm, feeds)[0], atol=2e-2, rtol=2e-2)

    report = _compare(source, output, "fp16")
    assert report.passed, report.message
    assert report.thresholds == DEFAULT_THRESHOLDS["fp16"]
    assert "emulated" in report.runner
    assert {o.batch for o in report.outputs} == set(BATCHES)
    for result in report.outputs:
        assert result.cosine >= 0.999 and result.nonfinite == 0 and result.max_abs < 1e-2
        assert result.snr_db > 40  # fp16 keeps ~3 decimal digits


def test_fp16_reference_runner_agrees(zoo_dir: Path, tmp_path: Path) -> None:
    source = _export(zoo_dir, "bert_tiny", "legacy")
    output = to_fp16(source, tmp_path / "bert.fp16.onnx")
    emulated = _compare(source, output, "fp16")
    reference = _compare(source, output, "fp16", runner="reference")
    assert emulated.passed and reference.passed, (emulated.message, reference.message)
    assert "ReferenceEvaluator" in reference.runner
    for a, b in zip(emulated.outputs, reference.outputs):
        assert abs(a.max_abs - b.max_abs) < 2e-3


def test_fp16_keeps_resize_scales_exact(zoo_dir: Path, tmp_path: Path) -> None:
    source = _export(zoo_dir, "interp_scale_bilinear", "legacy")
    output = to_fp16(source, tmp_path / "up.fp16.onnx")
    model = onnx.load(str(output))
    types = _types(model)
    (resize,) = [n for n in model.graph.node if n.op_type == "Resize"]
    assert types[resize.input[0]] == TensorProto.FLOAT16  # Resize itself runs in fp16
    assert types[resize.input[2]] == TensorProto.FLOAT  # scales stay fp32, as the schema requires
    assert _compare(source, output, "fp16").passed


def test_fp16_refuses_fp16_model_and_writes_nothing(zoo_dir: Path, tmp_path: Path) -> None:
    source = _export(zoo_dir, "small_cnn", "legacy")
    first = to_fp16(source, tmp_path / "a.fp16.onnx")
    out = tmp_path / "again"
    out.mkdir()
    with pytest.raises(PrecisionError, match="already contains float16"):
        to_fp16(first, out / "b.onnx")
    assert _listing(out) == []


# --------------------------------------------------------------------------------------------------
# int8


def _check_qdq(model: onnx.ModelProto, base_dir: Path) -> int:
    """TensorRT's Q/DQ rules, checked independently of graphfix.precision. Returns the Q/DQ count."""
    inits = {t.name: numpy_helper.to_array(t, str(base_dir)) for t in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    count = 0
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        count += 1
        zero, scale = inits[node.input[2]], inits[node.input[1]]
        assert zero.dtype == np.int8 and not zero.any(), node.name  # int8, zero point 0
        assert np.all(scale > 0) and np.all(np.isfinite(scale))
        if node.op_type != "QuantizeLinear":
            continue
        source = node.input[0]
        if source not in inits:
            assert scale.size == 1, "activations are quantized per tensor"
            continue
        # A weight: per-channel, symmetric (scale = max|W| / 127 along the output-channel axis).
        weight = inits[source]
        axis = next(a.i for a in node.attribute if a.name == "axis") % weight.ndim
        (dq,) = consumers[node.output[0]]
        (user,) = consumers[dq.output[0]]
        assert list(user.input).index(dq.output[0]) == 1
        if user.op_type == "Conv":
            assert axis == 0
        elif user.op_type == "Gemm":
            trans_b = next((a.i for a in user.attribute if a.name == "transB"), 0)
            assert axis == (0 if trans_b else 1)
        else:
            assert user.op_type == "MatMul" and axis == weight.ndim - 1
        assert scale.shape == (weight.shape[axis],)
        amax = np.abs(np.moveaxis(weight, axis, 0).reshape(weight.shape[axis], -1)).max(axis=1)
        np.testing.assert_allclose(scale * 127, amax, rtol=1e-5)
    # Outputs are not re-quantized: no graph output comes out of a DequantizeLinear.
    for output in model.graph.output:
        assert producers[output.name].op_type != "DequantizeLinear"
    return count


@pytest.mark.parametrize(("name", "exporter", "form"), [
    ("small_cnn", "dynamo", "npz"), ("small_cnn", "legacy", "npy"),
    ("bert_tiny", "legacy", "npy"), ("bert_tiny", "dynamo", "npz"),
])
def test_int8_real_exports_with_calibration(zoo_dir: Path, tmp_path: Path, name: str, exporter: str,
                                            form: str) -> None:
    source = _export(zoo_dir, name, exporter)
    specs, _, _, _ = _interface(source)
    arrays = _calibration_arrays(name)
    if form == "npz":
        data = tmp_path / "calibration.npz"
        np.savez(data, **arrays)
    else:
        data = tmp_path / "calibration"
        data.mkdir()
        for key, array in arrays.items():
            np.save(data / (f"{key}.npy" if len(arrays) > 1 else "images.npy"), array)
    calibration = load_calibration(data, specs, batch=4)
    assert not calibration.random and len(calibration) == 4 and "16 samples" in calibration.source

    out = tmp_path / "out"
    out.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomCalibrationWarning)
        output = to_int8(source, out / "fixed.int8.onnx", calibration)

    onnx.checker.check_model(str(output), full_check=True)
    original = onnx.load(str(source), load_external_data=False)
    model = onnx.load(str(output), load_external_data=False)
    assert _io_types(model) == _io_types(original)
    assert _check_qdq(model, out) >= 8
    weighted = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    inputs_from_dq = [n for n in weighted
                      if any(i in {d.output[0] for d in model.graph.node if d.op_type == "DequantizeLinear"}
                             for i in n.input)]
    assert inputs_from_dq == weighted  # every weighted op runs on Q/DQ inputs
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["graphfix.precision"] == "int8" and meta["graphfix.calibration_random"] == "false"
    if (source.parent / f"{source.name}.data").exists():
        assert _listing(out) == ["fixed.int8.onnx", "fixed.int8.onnx.data"]
    else:
        assert _listing(out) == ["fixed.int8.onnx"]

    report = _compare(source, output, "int8")
    assert report.passed, report.message
    assert not report.random_calibration
    for result in report.outputs:
        assert result.cosine >= 0.99 and result.snr_db >= 20


def test_int8_random_calibration_warns_and_flags(zoo_dir: Path, tmp_path: Path) -> None:
    source = _export(zoo_dir, "bert_tiny", "legacy")
    model = load(source).model
    specs = input_specs(model)
    calibration = load_calibration(None, specs, batch=2, samples=6, ranges=integer_ranges(model))
    assert calibration.random and len(calibration) == 3 and "random" in calibration.source
    for feeds in calibration.batches:
        assert feeds["input_ids"].dtype == np.int64 and feeds["input_ids"].shape == (2, 16)
        assert 0 <= feeds["input_ids"].min() and feeds["input_ids"].max() <= 99  # inside the embedding
        assert set(np.unique(feeds["attention_mask"])) <= {0, 1}
    assert max(f["input_ids"].max() for f in calibration.batches) > 50  # the whole vocabulary is used

    with pytest.warns(RandomCalibrationWarning, match="accuracy on real inputs will be poor"):
        output = to_int8(source, tmp_path / "random.int8.onnx", calibration)
    meta = {p.key: p.value for p in onnx.load(str(output), load_external_data=False).metadata_props}
    assert meta["graphfix.calibration_random"] == "true"
    report = _compare(source, output, "int8")
    assert report.random_calibration
    assert "random calibration data" in report.message

    # transform() without calibration data does the same, and names the file beside the output.
    with pytest.warns(RandomCalibrationWarning):
        named = transform(source, tmp_path / "fixed.onnx", "int8")
    assert named == tmp_path / "fixed.int8.onnx" and named.exists()


def test_int8_failed_check_leaves_nothing(
    zoo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import graphfix.precision.qdq as qdq_module

    source = _export(zoo_dir, "small_cnn", "dynamo")
    specs, _, _, _ = _interface(source)
    calibration = load_calibration(None, specs)

    def refuse(*args: object) -> None:
        raise PrecisionError("refused by the test")

    monkeypatch.setattr(qdq_module, "check_qdq", refuse)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomCalibrationWarning)
        with pytest.raises(PrecisionError, match="refused by the test"):
            to_int8(source, tmp_path / "fixed.int8.onnx", calibration)
    assert _listing(tmp_path) == []  # no output, no external data, no staging folder

    incomplete = Calibration([{"y": np.zeros((1, 3, 16, 16), np.float32)}], False, "test")
    with pytest.raises(CalibrationError, match="no data for input 'x'"):
        to_int8(source, tmp_path / "fixed.int8.onnx", incomplete)
    assert _listing(tmp_path) == []


# --------------------------------------------------------------------------------------------------
# naming


def test_transform_names_and_precisions(zoo_dir: Path, tmp_path: Path) -> None:
    source = _export(zoo_dir, "small_cnn", "legacy")
    assert transform(source, tmp_path / "fixed.onnx", "fp32") == source
    fp16 = transform(source, tmp_path / "fixed.onnx", "fp16")
    assert fp16 == tmp_path / "fixed.fp16.onnx" and fp16.exists()
    assert output_path("out/model", "int8") == Path("out/model.int8.onnx")
    with pytest.raises(UsageError, match="expected one of fp32, fp16, int8"):
        transform(source, tmp_path / "fixed.onnx", "fp8")
    with pytest.raises(GraphfixError, match="no such file"):
        to_fp16(tmp_path / "absent.onnx", tmp_path / "x.onnx")
    assert sorted(os.listdir(tmp_path)) == ["fixed.fp16.onnx"]


def test_large_models_are_written_with_external_data(
    zoo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weights above the embedding limit (2 GB protobuf cap, lowered here) go to external data."""
    import graphfix.ir.saving as saving_module

    monkeypatch.setattr(saving_module, "EMBED_LIMIT_BYTES", 1000)
    source = _export(zoo_dir, "small_cnn", "legacy")  # weights embedded in the .onnx
    specs, _, _, _ = _interface(source)
    fp16 = to_fp16(source, tmp_path / "big.fp16.onnx")
    np.savez(tmp_path / "cal.npz", **_calibration_arrays("small_cnn", samples=8))
    int8 = to_int8(source, tmp_path / "big.int8.onnx", load_calibration(tmp_path / "cal.npz", specs, batch=4))
    for path in (fp16, int8):
        assert Path(f"{path}.data").exists()
        assert any(t.data_location == TensorProto.EXTERNAL
                   for t in onnx.load(str(path), load_external_data=False).graph.initializer)
    assert _compare(source, fp16, "fp16").passed
    assert _compare(source, int8, "int8").passed
