"""Running a model or an engine: the seed's ``load_infer`` / ``forward`` / ``output``.

``graphfix.load(path)`` returns a runner that takes and returns numpy arrays by input/output name:
an ONNX model runs in ONNX Runtime, a TensorRT engine (``.engine``/``.plan``) through Polygraphy's
TensorRT runner (TensorRT is imported only then).

    runner = graphfix.load("fixed.onnx")
    outputs = runner({"images": images})      # {"boxes": ..., "logits": ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graphfix.compare.log import onnxruntime_message
from graphfix.deps import require
from graphfix.errors import GraphfixError, UsageError

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: np.dtype
    shape: tuple[int | str | None, ...]


class Runner:
    """A loaded model: call it with ``{input name: array}``, get ``{output name: array}``."""

    kind: str = ""
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [i.name for i in self.inputs if i.name not in feeds]
        unknown = sorted(set(feeds) - {i.name for i in self.inputs})
        if missing or unknown:
            raise UsageError(f"inputs: missing {missing or 'none'}, unknown {unknown or 'none'} "
                             f"(the model takes {[i.name for i in self.inputs]})")
        return self._run({name: np.asarray(array) for name, array in feeds.items()})

    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError


class OnnxRuntimeRunner(Runner):
    kind = "onnxruntime"

    def __init__(self, path: Path) -> None:
        ort = require("onnxruntime", "running ONNX models")
        options = ort.SessionOptions()
        options.log_severity_level = 4  # failures are reported once, as graphfix errors (not also ORT's log)
        from graphfix.plugins import session_for

        try:
            # Custom ops run through their references (the active registry, e.g. --custom-ops).
            self.session = session_for(path, options=options, providers=["CPUExecutionProvider"])
        except GraphfixError:
            raise
        except Exception as error:  # ORT raises its own exception types for invalid models
            raise GraphfixError(f"{path}: ONNX Runtime cannot load it: {onnxruntime_message(error)}") from error
        self.inputs = [TensorInfo(i.name, _ort_dtype(i.type), tuple(i.shape)) for i in self.session.get_inputs()]
        self.outputs = [TensorInfo(o.name, _ort_dtype(o.type), tuple(o.shape)) for o in self.session.get_outputs()]

    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        typed = {i.name: feeds[i.name].astype(i.dtype, copy=False) for i in self.inputs}
        try:
            results = self.session.run(None, typed)
        except Exception as error:
            raise GraphfixError(f"ONNX Runtime failed: {onnxruntime_message(error)}") from error
        return {o.name: r for o, r in zip(self.outputs, results)}


class TensorRTRunner(Runner):
    kind = "tensorrt"

    def __init__(self, path: Path) -> None:
        from graphfix.compiling.backends.tensorrt.status import tensorrt_status

        status = tensorrt_status()
        if not status.available:
            raise GraphfixError(f"{path}: cannot run a TensorRT engine: {status.message}")
        common = require("polygraphy.backend.common", "running a TensorRT engine")
        loaders = require("polygraphy.backend.trt", "running a TensorRT engine")
        trt_util = require("polygraphy.backend.trt.util", "running a TensorRT engine")
        datatype = require("polygraphy.datatype", "running a TensorRT engine")
        trt = require("tensorrt", "running a TensorRT engine")
        self._runner = loaders.TrtRunner(loaders.EngineFromBytes(common.BytesFromPath(str(path))))
        self._runner.activate()
        metadata = self._runner.get_input_metadata()
        self.inputs = [TensorInfo(name, np.dtype(meta.dtype), _engine_shape(meta.shape))
                       for name, meta in metadata.items()]
        # The outputs, from the engine itself (Polygraphy's runner only lists inputs).
        outputs = trt_util.get_metadata_from_engine(self._runner.engine, self._runner.context,
                                                    mode=trt.TensorIOMode.OUTPUT)
        self.outputs = [TensorInfo(name, np.dtype(datatype.DataType.to_dtype(meta.dtype, "numpy")),
                                   _engine_shape(meta.shape)) for name, meta in outputs.items()]

    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        # The engine's bindings have their own types (TensorRT 8.6 binds INT64 inputs as INT32): cast to them.
        typed = {i.name: np.ascontiguousarray(feeds[i.name], dtype=i.dtype) for i in self.inputs}
        outputs = self._runner.infer(typed, copy_outputs_to_host=True)
        return {name: np.asarray(value) for name, value in outputs.items()}

    def __del__(self) -> None:
        runner = getattr(self, "_runner", None)
        if runner is not None and getattr(runner, "is_active", False):
            runner.deactivate()


def _engine_shape(shape: object) -> tuple[int | str | None, ...]:
    """An engine's shape with its dynamic dims (-1) as None, as ONNX Runtime's runner gives them."""
    return tuple(None if int(d) < 0 else int(d) for d in shape)  # type: ignore[attr-defined]


def load(path: str | Path) -> Runner:
    """A runner for an ONNX model (ONNX Runtime) or a TensorRT engine (by suffix)."""
    target = Path(path)
    if not target.is_file():
        raise GraphfixError(f"{target}: no such file")
    if target.suffix.lower() in ENGINE_SUFFIXES:
        return TensorRTRunner(target)
    from graphfix.ir.loading import load as load_model

    load_model(target)  # the same clear errors for bad models as lint and fix
    return OnnxRuntimeRunner(target)


def random_feeds(runner: Runner, batch: int, ranges: Mapping[str, tuple[float, float]], seed: int = 0,
                 dims: int = 64) -> dict[str, np.ndarray]:
    """Valid random inputs: dim 0 is the batch, other dynamic dims ``dims``."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in runner.inputs:
        shape = [batch if axis == 0 and not isinstance(d, int) else d if isinstance(d, int) else dims
                 for axis, d in enumerate(info.shape)]
        low, high = ranges.get(info.name, (0, 1) if info.dtype.kind in "iub" else (-1.0, 1.0))
        if info.dtype.kind in "iu":
            feeds[info.name] = rng.integers(int(low), int(high) + 1, size=shape).astype(info.dtype)
        elif info.dtype.kind == "b":
            feeds[info.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            feeds[info.name] = rng.uniform(low, high, size=shape).astype(info.dtype)
    return feeds


def _ort_dtype(type_string: str) -> np.dtype:
    names = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
             "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
             "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_, "tensor(int16)": np.int16}
    return np.dtype(names.get(type_string, np.float32))
