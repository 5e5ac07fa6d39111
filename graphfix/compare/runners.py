"""The sides of a comparison: how to load and run a reference or a candidate.

A :class:`Side` says what runs (ONNX Runtime on a model, TensorRT on an engine, or a Python function
such as ``onnx.reference`` or the fp16 emulation) and how to load it; the comparator turns it into a
Polygraphy runner, loaded only when its turn comes, so one model is in memory at a time.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from graphfix.deps import require

RunFunction = Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class InputInfo:
    """An input a function side takes: name, dtype and shape (None for dynamic dims)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...]


@dataclass(frozen=True)
class Side:
    """One side of a comparison.

    ``load`` returns what ``kind`` runs: an ``onnxruntime.InferenceSession``, a deserialized TensorRT
    engine, or (``"function"``) a callable from feeds to outputs whose inputs are ``inputs``.
    """

    label: str  # "original model", "fixed model", "fp16 model", "engine": names it in messages
    runtime: str  # "ONNX Runtime", "TensorRT", "onnx.reference"
    kind: Literal["onnxruntime", "tensorrt", "function"]
    load: Callable[[], Any]
    description: str = ""
    inputs: tuple[InputInfo, ...] = ()


def onnxruntime_session(source: str | os.PathLike[str] | bytes, *, optimize: bool = True,
                        external_folder: Path | None = None, quiet: bool = False) -> Any:
    """An ONNX Runtime CPU session (basic graph optimisations, or none when ``optimize`` is false).

    ``source`` is a path, or serialized bytes whose external data lives in ``external_folder``. ``quiet``
    silences ONNX Runtime's own error log (for callers that report failures themselves).
    A model with custom ops runs through their references (``graphfix.plugins.session_for``, the
    active registry).

    Raises:
        MissingDependencyError: onnxruntime is not installed.
        GraphfixError: A custom op has no reference implementation (GF402's text).
    """
    ort = require("onnxruntime", "running models")
    options = ort.SessionOptions()
    options.log_severity_level = 4 if quiet else 3
    # Without optimisation the model runs exactly as written (the fp16 emulation depends on it).
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if optimize
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    providers = ["CPUExecutionProvider"]
    custom = _custom_model(source)
    if custom is not None:
        from graphfix.plugins import session_for

        if external_folder is not None:
            options.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                             str(Path(external_folder).resolve()))
        return session_for(custom, options=options, providers=providers)
    if not isinstance(source, bytes):
        return ort.InferenceSession(str(source), options, providers=providers)
    folder = Path(external_folder or ".")
    options.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                     str(folder.resolve()))
    try:
        return ort.InferenceSession(source, options, providers=providers)
    except Exception:
        if external_folder is None:
            raise
    # Older ORT cannot point a model loaded from memory at its data: read it beside the data, briefly.
    handle, temporary = tempfile.mkstemp(prefix=".graphfix-session-", suffix=".onnx", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(source)
        return ort.InferenceSession(temporary, options, providers=providers)
    finally:
        os.unlink(temporary)


def _custom_model(source: str | os.PathLike[str] | bytes) -> Any:
    """``source`` as ``graphfix.plugins.session_for`` takes it when the model has custom ops, else None."""
    from graphfix.plugins import has_custom_ops

    if isinstance(source, bytes):
        import onnx

        proto = onnx.load_from_string(source)
        return proto if has_custom_ops(proto) else None
    return source if has_custom_ops(source) else None


def onnxruntime_side(label: str, model: str | os.PathLike[str], *, description: str = "onnxruntime CPU",
                     quiet: bool = True) -> Side:
    """ONNX Runtime (CPU) on the model file ``model`` (``quiet``, the default: without ONNX Runtime's own error
    log; the comparison reports a failure itself)."""
    return Side(label, "ONNX Runtime", "onnxruntime", functools.partial(onnxruntime_session, model, quiet=quiet),
                description)


def tensorrt_side(label: str, engine: str | os.PathLike[str]) -> Side:
    """TensorRT (through Polygraphy's ``TrtRunner``) on a serialized engine file."""

    def load() -> Any:
        common = require("polygraphy.backend.common", "running a TensorRT engine")
        trt = require("polygraphy.backend.trt", "running a TensorRT engine")
        return trt.EngineFromBytes(common.BytesFromPath(str(engine)))()

    return Side(label, "TensorRT", "tensorrt", load, "TensorRT engine")


def function_side(label: str, runtime: str, load: Callable[[], RunFunction], inputs: Sequence[InputInfo],
                  description: str) -> Side:
    """A Python function from feeds to outputs (``load`` makes it when the side's turn comes)."""
    return Side(label, runtime, "function", load, description, tuple(inputs))


def polygraphy_runner(side: Side, on_load_error: Callable[[Side, BaseException], None],
                      on_run_error: Callable[[Side, Mapping[str, Any], BaseException], None] | None = None) -> Any:
    """The Polygraphy runner for ``side``; load errors are reported to ``on_load_error``, run errors (with
    the feeds) to ``on_run_error``, and re-raised: Polygraphy's exception does not say which side failed."""

    def guarded() -> Any:
        try:
            return side.load()
        except Exception as error:
            on_load_error(side, error)
            raise

    runner: Any
    if side.kind == "onnxruntime":
        runner = require("polygraphy.backend.onnxrt", "comparing outputs").OnnxrtRunner(guarded, name=side.label)
    elif side.kind == "tensorrt":
        runner = require("polygraphy.backend.trt", "running a TensorRT engine").TrtRunner(guarded, name=side.label)
    else:
        runner = _function_runner_class()(guarded, side.inputs, name=side.label)
    if on_run_error is not None:
        infer = runner.infer

        def recorded(feed_dict: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
            try:
                return infer(feed_dict, *args, **kwargs)
            except Exception as error:
                on_run_error(side, feed_dict, error)
                raise

        runner.infer = recorded  # this runner only: the comparator calls runner.infer(feed_dict)
    return runner


@functools.cache
def polygraphy_without_torch() -> None:
    """Make Polygraphy stop importing torch to learn that an array is not a torch tensor.

    Polygraphy's ``util.array.is_torch`` (asked of every feed, output and tolerance it handles) imports
    torch when it is installed: 2 s of every verification for a user whose exports come from torch, and
    Polygraphy's import probe catches everything, so a Ctrl-C during that import was swallowed and the run
    went on to write its output (then crashed at exit). Nothing is a torch tensor unless torch is already
    imported, so the answer is read from ``sys.modules``; with torch imported, it is the same answer.
    """
    array: Any = require("polygraphy.util.array", "comparing outputs")

    def is_torch(obj: object) -> bool:
        torch = sys.modules.get("torch")
        tensor = getattr(torch, "Tensor", None)
        return isinstance(tensor, type) and isinstance(obj, tensor)

    is_torch.__doc__ = array.is_torch.__doc__
    array.is_torch = is_torch  # util.array's own helpers and the runners look it up here at each call


@functools.cache
def _function_runner_class() -> type:
    """A Polygraphy runner around a Python function (defined on first use: Polygraphy loads lazily)."""
    base: Any = require("polygraphy.backend.base", "comparing outputs").BaseRunner
    common = require("polygraphy.common", "comparing outputs")

    class FunctionRunner(base):  # type: ignore[misc]  # Polygraphy's BaseRunner is untyped
        def __init__(self, load: Callable[[], RunFunction], inputs: Sequence[InputInfo], name: str) -> None:
            super().__init__(name=name, prefix="graphfix-function-runner")
            self._load = load
            self._inputs = inputs
            self._function: RunFunction | None = None

        def activate_impl(self) -> None:
            self._function = self._load()

        def get_input_metadata_impl(self) -> Any:
            metadata = common.TensorMetadata()
            for info in self._inputs:
                metadata.add(info.name, info.dtype, info.shape)
            return metadata

        def infer_impl(self, feed_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            assert self._function is not None
            import time

            start = time.perf_counter()
            outputs = dict(self._function(dict(feed_dict)))
            self.inference_time = time.perf_counter() - start
            return outputs

        def deactivate_impl(self) -> None:
            self._function = None

    return FunctionRunner
