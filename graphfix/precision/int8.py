"""int8: an explicitly quantized (Q/DQ) graph from calibration data, as TensorRT requires.

ONNX Runtime's ``quantize_static`` in ``QuantFormat.QDQ`` with the options TensorRT requires: QInt8
activations and weights, symmetric ranges (``ActivationSymmetric``/``WeightSymmetric``, so every zero
point is 0), per-tensor activations, per-channel weights on the output-channel axis, biases left in float
(``QuantizeBias=False``: TensorRT cannot consume an int32 DequantizeLinear), Q/DQ only on the inputs of
the weighted ops (:data:`INT8_OP_TYPES`; outputs are not re-quantized, TensorRT's placement advice) and
weights kept in fp32 behind a Q->DQ pair (``AddQDQPairToWeight``: what NVIDIA's quantization toolkits
export and every TensorRT since 8.0 builds, folding the Q at build time; int8 weights behind a lone DQ are
also parsed by 8.6's ONNX parser, but the fp32 form is the safe one). The per-channel axes ORT emits are
the ones TensorRT accepts: Conv weights ``[K, C, R, S]`` on axis 0, ConvTranspose ``[C, K, R, S]`` on
axis 1, Gemm ``B`` on axis 0 with ``transB=1`` and 1 without, MatMul ``B`` ``[..., K, N]`` on the last
axis (configured: ORT's default of 1 is the reduction axis for a batched 3-D weight). Each of these rules
is re-checked on the written model (:func:`graphfix.precision.qdq.check_qdq`), so a change in ORT shows
up as an error rather than as an engine TensorRT refuses.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir

from graphfix.deps import require
from graphfix.errors import CalibrationError, GraphfixError, ModelError, PrecisionError, UsageError
from graphfix.fixing.editor import Editor
from graphfix.ir import saving
from graphfix.ir.saving import check_destination, save_model
from graphfix.precision.calibration import Calibration, RandomCalibrationWarning
from graphfix.precision.common import (
    META_CALIBRATION,
    META_PRECISION,
    META_RANDOM,
    external_locations,
    first_line,
    graph_inputs,
    io_signature,
    read_structure,
    weight_bytes,
)
from graphfix.precision.qdq import INT8_OP_TYPES, check_written


def to_int8(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    calibration: Calibration,
    *,
    per_channel: bool = True,
    op_types: Sequence[str] = INT8_OP_TYPES,
    target: str = "tensorrt",
) -> Path:
    """Write an explicitly quantized (Q/DQ, symmetric int8, zero point 0) copy of ``source`` to ``output``,
    calibrated on ``calibration``. Returns ``output``.

    ``target="onnxruntime"`` writes ONNX Runtime's own CPU form instead (uint8 asymmetric activations,
    int8 weights, Q/DQ around every op ORT quantizes): ORT's x86 kernels fuse only that form into int8
    kernels, while the TensorRT form (no Q after Conv, signed activations) runs in fp32 there and is
    slower than fp32 (bench/latency_bench.py). TensorRT needs the default form.

    ``per_channel=False`` quantizes weights per tensor. ``op_types`` are the ops whose inputs get Q/DQ.
    ORT's quantizer holds the whole model in memory; the source is copied into a private folder beside
    ``output`` first (ORT writes temporary files beside the model it reads) and ORT writes its calibration
    copy of the model to the system temporary folder (``TMPDIR``), so large models need that much room.
    """
    quantization = require("onnxruntime.quantization", "int8")
    reader_base: Any = quantization.CalibrationDataReader
    CalibrationMethod, QuantFormat = quantization.CalibrationMethod, quantization.QuantFormat
    QuantType, quantize_static = quantization.QuantType, quantization.quantize_static

    source, output = Path(source), Path(output)
    proto = read_structure(source)
    check_destination(output, inputs=[source], in_place=False)
    if not calibration.batches:
        raise CalibrationError(f"calibration ({calibration.source}) holds no batches")
    inputs = graph_inputs(proto)
    for number, feeds in enumerate(calibration.batches):
        missing = [name for name in inputs if name not in feeds]
        if missing:
            raise CalibrationError(f"calibration ({calibration.source}) batch {number} has no data for input "
                                   f"{', '.join(repr(m) for m in missing)}")
    if calibration.random:
        warnings.warn(RandomCalibrationWarning(
            f"{source}: int8 scales come from random data ({calibration.source}); the model runs but its "
            "accuracy on real inputs will be poor. Give calibration data (a .npz keyed by input name, or a "
            "folder of .npy/.npz files)"), stacklevel=2)
    if target not in ("tensorrt", "onnxruntime"):
        raise UsageError(f"int8 target {target!r}: expected 'tensorrt' or 'onnxruntime'")
    signature = io_signature(proto)
    external = bool(external_locations(proto)) or weight_bytes(proto) > saving.EMBED_LIMIT_BYTES

    class Reader(reader_base):  # type: ignore[misc]  # ORT's abstract reader, untyped
        def __init__(self) -> None:
            self._batches = iter(calibration.batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            feeds = next(self._batches, None)
            if feeds is not None:
                step.advance()
            return None if feeds is None else {name: feeds[name] for name in inputs}

    parent = output.parent if str(output.parent) else Path(".")
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.graphfix-int8-", dir=parent))
    try:
        staged_source = _stage_source(source, proto, staging / "source")
        staged_output = staging / "quantized" / output.name
        staged_output.parent.mkdir()
        options = {
            "ActivationSymmetric": True,
            "WeightSymmetric": True,
            "QuantizeBias": False,
            "AddQDQPairToWeight": True,
            "OpTypesToExcludeOutputQuantization": list(op_types),
            "QDQOpTypePerChannelSupportToAxis": {"MatMul": -1},
            # Not "CalibMaxIntermediateOutputs": in ORT 1.32 it discards what it collected without
            # computing ranges first. MinMax keeps only per-tensor min/max scalars per batch anyway.
        }
        activations = QuantType.QInt8
        quantized_ops: list[str] | None = list(op_types)
        if target == "onnxruntime":
            activations, quantized_ops = QuantType.QUInt8, None
            options = {"QDQOpTypePerChannelSupportToAxis": {"MatMul": -1}}
        try:
            from graphfix.progress import current

            with _quiet_quantization(), current().task(f"int8 calibration on {calibration.source}",
                                                       total=len(calibration.batches)) as step:
                quantize_static(
                    str(staged_source), str(staged_output), Reader(), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=quantized_ops, per_channel=per_channel, reduce_range=False,
                    activation_type=activations, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, use_external_data_format=external,
                    extra_options=options)
        except GraphfixError:
            raise
        except Exception as error:
            raise PrecisionError(f"{source}: int8 quantization failed: {first_line(error)}") from error
        model = ir.load(staged_output)
        Editor(model).set_metadata({META_PRECISION: "int8", META_CALIBRATION: calibration.source,
                                    META_RANDOM: "true" if calibration.random else "false"})

        def check(staged: Path) -> None:
            # The TensorRT rules (zero point 0, symmetric scales) apply to the TensorRT form only.
            check_written(staged, signature, "int8" if target == "tensorrt" else "int8 (onnxruntime)")

        save_model(model, output, external=external, check=check)
        return output
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stage_source(source: Path, proto: onnx.ModelProto, folder: Path) -> Path:
    """A copy of the source (and its external data) in our own folder: ORT writes
    ``<model>-inferred.onnx`` beside the model it quantizes, which must not land beside the user's.
    Copies, not links: onnx refuses external data with several hard links (or symlinks)."""
    folder.mkdir()
    targets = [(source, folder / source.name)]
    for location in external_locations(proto):
        origin = (source.parent / location).resolve()
        if not origin.is_relative_to(source.parent.resolve()):
            raise ModelError(str(source), f"external data {location!r} is outside the model's folder")
        targets.append((origin, folder / location))
    for origin, target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(origin, target)
        except OSError as error:
            raise GraphfixError(f"{target.parent}: cannot stage {origin.name} for quantization: "
                                f"{error.strerror or error} (nothing was written)") from error
    return folder / source.name


@contextlib.contextmanager
def _quiet_quantization() -> Iterator[None]:
    """ORT's quantizer logs through the root logger ("consider pre-processing") and prints; mute both."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(previous)
