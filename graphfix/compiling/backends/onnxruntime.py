"""The ONNX Runtime backend: nothing to build; on request, ONNX Runtime's optimised model as the "engine"."""

from __future__ import annotations

from pathlib import Path

from graphfix.deps import require
from graphfix.errors import CompileError
from graphfix.ir.saving import staged


def save_optimized(model: Path, engine: Path) -> None:
    """Write ONNX Runtime's fully optimised version of ``model`` to ``engine`` (atomically).

    Raises:
        GraphfixError: The folder of ``engine`` does not exist.
        CompileError: ONNX Runtime cannot load or optimise the model.
        MissingDependencyError: onnxruntime is not installed.
    """
    ort = require("onnxruntime", "the ONNX Runtime backend")
    with staged(engine) as stage:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(stage.path)
        options.log_severity_level = 3
        try:
            ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        except Exception as error:
            raise CompileError(f"{engine}: ONNX Runtime could not optimise {model}: "
                               f"{str(error).strip().splitlines()[0]}") from error
