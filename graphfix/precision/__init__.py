"""Stage 8, precision: fp16 and int8 as ONNX-to-ONNX transforms, checked against the fp32 model here.

TensorRT 10 and 11 build *strongly typed* networks: the precision of every layer is the type its ONNX
tensors carry, and int8 is expressed with explicit QuantizeLinear/DequantizeLinear (Q/DQ) nodes. So the
precision step rewrites the model, checks the rewrite (which runs everywhere) and hands the result to the
compile step. Nothing here needs TensorRT.

Takes a (fixed) fp32 model file; gives ``fixed.fp16.onnx`` (:mod:`.fp16`: mixed precision, fp32 I/O,
overflow-prone ops blocked) or ``fixed.int8.onnx`` (:mod:`.int8`: symmetric Q/DQ from
:mod:`.calibration` data), and a :class:`PrecisionReport` (:mod:`.check`, through the one comparator).

Must never: edit protos (third-party converters take and return them; graphfix's repairs go through the
editor on onnx-ir), write a model that fails ``onnx.checker`` or TensorRT's Q/DQ rules (:mod:`.qdq`), or
leave a partial file.
"""

from __future__ import annotations

import os
from pathlib import Path

from graphfix.compare import Thresholds
from graphfix.errors import CalibrationError, PrecisionError
from graphfix.precision.calibration import Calibration, RandomCalibrationWarning, load_calibration
from graphfix.precision.check import DEFAULT_THRESHOLDS, PrecisionReport, compare_precision
from graphfix.precision.common import PRECISIONS, check_precision, output_path
from graphfix.precision.fp16 import FP16_BLOCK_LIST, to_fp16
from graphfix.precision.int8 import to_int8
from graphfix.precision.qdq import INT8_OP_TYPES

__all__ = [
    "DEFAULT_THRESHOLDS",
    "FP16_BLOCK_LIST",
    "INT8_OP_TYPES",
    "PRECISIONS",
    "Calibration",
    "CalibrationError",
    "PrecisionError",
    "PrecisionReport",
    "RandomCalibrationWarning",
    "Thresholds",
    "compare_precision",
    "load_calibration",
    "output_path",
    "to_fp16",
    "to_int8",
    "transform",
]


def transform(
    source: str | os.PathLike[str],
    output_base: str | os.PathLike[str],
    precision: str,
    calibration: Calibration | None = None,
) -> Path:
    """Write ``source`` at ``precision`` beside ``output_base`` and return its path.

    fp32 returns ``source`` unchanged. int8 without ``calibration`` calibrates on random data (and warns
    with :class:`RandomCalibrationWarning`).
    """
    check_precision(precision)
    source = Path(source)
    if precision == "fp32":
        return source
    target = output_path(output_base, precision)
    if precision == "fp16":
        return to_fp16(source, target)
    if calibration is None:
        from graphfix.ir.loading import load
        from graphfix.verify import input_specs, integer_ranges

        model = load(source).model
        calibration = load_calibration(None, input_specs(model), ranges=integer_ranges(model))
    return to_int8(source, target, calibration)
