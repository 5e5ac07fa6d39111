"""Comparing an engine with the original model: TensorRT against ONNX Runtime, through the one comparator.

ONNX Runtime (CPU) on the original is the reference; relative errors are relative to it. The tolerances
fit the precision (:data:`TOLERANCES`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from graphfix.compare import Inputs, Tolerance, compare, onnxruntime_side, tensorrt_side
from graphfix.compiling.backends.tensorrt.plan import PRECISIONS, Precision
from graphfix.compiling.backends.tensorrt.status import require_tensorrt
from graphfix.deps import require
from graphfix.errors import UsageError
from graphfix.verify import Verification

# TF32 is off (Polygraphy's default), so fp32 engines differ from ONNX Runtime only by kernel order.
TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(1e-4, 1e-3),
    "fp16": Tolerance(1e-2, 1e-2),
    "int8": Tolerance(1e-1, 1e-1, "quantile"),
}


def compare_engine(
    engine_path: str | os.PathLike[str],
    onnx_path: str | os.PathLike[str],
    feeds_by_batch: Mapping[int, Mapping[str, tuple[int, ...]]],
    *,
    precision: Precision = "fp32",
    dtypes: Mapping[str, np.dtype] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    seed: int = 0,
) -> Verification:
    """Run the engine (TensorRT) and the original model (ONNX Runtime, CPU) on the same seeded inputs at
    each batch, and compare every output with the precision's tolerances.

    Raises:
        GraphfixError: TensorRT is not installed (or too old).
        MissingDependencyError: Polygraphy or onnxruntime is not installed.
        UsageError: An unknown precision.
    """
    require_tensorrt()
    for dependency in ("polygraphy", "onnxruntime"):
        require(dependency, "comparing an engine")
    if precision not in TOLERANCES:
        raise UsageError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    base = TOLERANCES[precision]
    tolerance = Tolerance(base.atol if atol is None else atol, base.rtol if rtol is None else rtol,
                          base.check_error_stat)
    if dtypes is None:
        dtypes = onnx_input_dtypes(onnx_path)
    comparison = compare(onnxruntime_side("original model", onnx_path), tensorrt_side("engine", engine_path),
                         Inputs(feeds_by_batch, dtypes, ranges or {}, seed), tolerance, action="compare the engine")
    return Verification.view(comparison)


def onnx_input_dtypes(onnx_path: str | os.PathLike[str]) -> dict[str, np.dtype]:
    """The numpy dtype of each graph input (initializers excluded), read without weights."""
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    model = onnx.load(str(onnx_path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    return {value.name: np.dtype(tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type))
            for value in model.graph.input if value.name not in initializers}
