"""Compiling: precision transform (ONNX to ONNX), an engine from a backend, and the comparison with the
original model.

    fixed.onnx --precision--> fixed.fp16.onnx / fixed.int8.onnx --backend--> engine --compare--> report

The precision transforms run and are checked here for every backend (they are what TensorRT 11 needs).
The backend is TensorRT (through Polygraphy's loaders, imported lazily) when it imports, otherwise ONNX
Runtime, which runs everywhere; ``--backend`` chooses explicitly.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from graphfix.errors import GraphfixError, UsageError
from graphfix.loading import load
from graphfix.verify import InputSpec, input_shapes_for, input_specs, integer_ranges

BACKENDS = ("tensorrt", "onnxruntime")
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass
class CompileResult:
    precision: str
    backend: str
    model: Path  # the ONNX graph the backend compiled (fp32, fp16-mixed or int8 Q/DQ)
    engine: Path | None  # the TensorRT engine, or ONNX Runtime's optimised model when asked for
    comparison: object | None = None  # engine vs the original model: Verification or PrecisionReport
    precision_check: object | None = None  # graphfix.precision.PrecisionReport of the ONNX transform
    engine_report: object | None = None  # graphfix.backends.tensorrt.EngineReport
    notices: list[str] = field(default_factory=list)
    trt_version: str | None = None  # the TensorRT version checked (and built for, or written for)
    # GF5xx findings on the graph handed to TensorRT; errors stop the build before it starts.
    target_findings: list[object] = field(default_factory=list)
    commands: Path | None = None  # without TensorRT: the script that builds and compares on the target

    @property
    def target_errors(self) -> list[object]:
        return [f for f in self.target_findings if getattr(f, "is_error", True)]

    @property
    def passed(self) -> bool:
        checks = [c for c in (self.comparison, self.precision_check) if c is not None]
        return all(bool(getattr(c, "passed", False)) for c in checks) and not self.target_errors

    def to_dict(self) -> dict[str, object]:
        def as_dict(value: object) -> object:
            return value.to_dict() if hasattr(value, "to_dict") else value  # type: ignore[attr-defined]

        return {
            "precision": self.precision,
            "backend": self.backend,
            "model": str(self.model),
            "engine": None if self.engine is None else str(self.engine),
            "passed": self.passed,
            "comparison": as_dict(self.comparison),
            "precision_check": as_dict(self.precision_check),
            "engine_report": as_dict(self.engine_report),
            "notices": self.notices,
            "trt_version": self.trt_version,
            "target_findings": [as_dict(f) for f in self.target_findings],
            "commands": None if self.commands is None else str(self.commands),
        }


def choose_backend(requested: str | None) -> tuple[str, list[str]]:
    """The backend to use, and a notice when the default fell back to ONNX Runtime."""
    from graphfix.backends.tensorrt import tensorrt_status

    if requested is not None and requested not in BACKENDS:
        raise UsageError(f"--backend {requested!r}: expected one of {', '.join(BACKENDS)}")
    if requested == "tensorrt":
        status = tensorrt_status()
        if not status.available:
            if status.version is None:  # absent here (a laptop preparing a model for a Jetson)
                return "tensorrt-commands", []
            raise GraphfixError(status.message)
        return "tensorrt", []
    if requested == "onnxruntime":
        return "onnxruntime", []
    status = tensorrt_status()
    if status.available:
        return "tensorrt", []
    return "onnxruntime", [f"compiling with ONNX Runtime ({status.message}); --backend onnxruntime silences this"]


def comparison_batches(specs: Sequence[InputSpec], max_batch: int) -> list[int]:
    dims0 = [spec.dims[0] for spec in specs if spec.dims]
    static = {d for d in dims0 if d is not None}
    if dims0 and len(static) == len(dims0):
        return sorted(static)
    return sorted({1, max_batch})


def compile_model(
    model: str | Path,
    *,
    precision: str = "fp32",
    backend: str | None = None,
    reference: str | Path | None = None,
    output_base: str | Path | None = None,
    engine: str | Path | None = None,
    max_batch: int = 8,
    opt_batch: int | None = None,
    calib_data: str | Path | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
    workspace_bytes: int | None = None,
    optimization_level: int | None = None,
    trt_version: str | None = None,
) -> CompileResult:
    """Compile ``model`` (an already fixed ONNX file) at ``precision`` with ``backend`` and compare the
    result with ``reference`` (the original export; default: ``model`` itself).

    With the TensorRT backend the graph handed to TensorRT is first checked against the target's support
    table (GF5xx; ``trt_version``, default the installed TensorRT): errors stop before the build
    (``result.target_findings``). Where TensorRT is not installed, ``backend="tensorrt"`` writes the
    trtexec and Polygraphy commands that build and compare the engine on the target instead
    (``result.commands``, beside the model; ``trt_version`` or the newest table picks the flags).
    """
    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if max_batch < 1 or (opt_batch is not None and not 1 <= opt_batch <= max_batch):
        raise UsageError(f"--opt-batch {opt_batch} / --max-batch {max_batch}: need 1 <= opt <= max")
    from graphfix.targets.target import check_version_text

    check_version_text(trt_version)
    model = Path(model)
    reference = Path(reference) if reference is not None else model
    chosen, notices = choose_backend(backend)
    loaded = load(model)
    specs = input_specs(loaded.model)
    pinned = dict(input_shapes or {})
    ranges = {**integer_ranges(loaded.model), **(input_ranges or {})}
    dtypes = {spec.name: spec.dtype for spec in specs}
    batches = comparison_batches(specs, max_batch)
    feeds = {batch: input_shapes_for(specs, batch, pinned) for batch in batches}
    base = Path(output_base) if output_base is not None else model

    from graphfix import precision as transforms

    calibration = None
    if precision == "int8":
        calibration = transforms.load_calibration(Path(calib_data) if calib_data else None, specs,
                                                  ranges=ranges)
        if calibration.random:
            notices.append("int8 calibration used random data: accuracy will be poor; pass --calib-data")
    with warnings.catch_warnings():  # said once, as a notice, instead of a Python warning
        warnings.simplefilter("ignore", transforms.RandomCalibrationWarning)
        transformed = transforms.transform(model, base, precision, calibration=calibration)
    result = CompileResult(precision, chosen, transformed, None, notices=notices)
    if precision != "fp32":
        result.precision_check = transforms.compare_precision(
            reference, transformed, feeds, precision=precision, dtypes=dtypes, ranges=ranges)

    if chosen == "onnxruntime":
        result.engine = Path(engine) if engine is not None else None
        runtime_model = transformed
        if precision == "int8":
            # ONNX Runtime's CPU kernels fuse only its own int8 form (uint8 activations, Q after every op);
            # the TensorRT form above runs in fp32 there. Same calibration, engine-specific graph.
            runtime_model = transforms.output_path(base, "int8").with_suffix(".ort.onnx")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", transforms.RandomCalibrationWarning)
                transforms.to_int8(model, runtime_model, calibration, target="onnxruntime")  # type: ignore[arg-type]
            result.notices.append(f"ONNX Runtime runs its own int8 form: {runtime_model}")
        if result.engine is not None:
            _save_optimized(runtime_model, result.engine)
        if precision == "fp16" or (result.engine is None and runtime_model == transformed
                                   and result.precision_check is not None):
            # ONNX Runtime's CPU kernels compute fp16 ops in fp32, so the honest check of what the fp16
            # graph computes is the transform check (fp16 rounding emulated); no second run.
            result.comparison = result.precision_check  # type: ignore[assignment]
        else:
            result.comparison = transforms.compare_precision(  # type: ignore[assignment]
                reference, result.engine or runtime_model, feeds, precision=precision, dtypes=dtypes,
                ranges=ranges)
        return result

    from graphfix.backends import tensorrt as trt_backend
    from graphfix.targets.target import resolve_target

    if chosen == "tensorrt-commands":
        target = resolve_target(trt_version)
        version = target.version
    else:
        version = trt_backend.require_tensorrt()
        if trt_version is not None and resolve_target(trt_version).version != resolve_target(None).version:
            result.notices.append(f"--trt-version {trt_version}: building with the installed TensorRT {version}")
    result.backend = "tensorrt"
    result.trt_version = version
    plan = trt_backend.plan_build(version, precision)  # type: ignore[arg-type]
    graph = {"fp32": model, "fp16-mixed": transformed, "int8-qdq": transformed}[plan.onnx_graph]
    profile = trt_backend.profile_shapes(specs, opt_batch=opt_batch or max_batch, max_batch=max_batch,
                                         pinned=pinned)
    engine_path = Path(engine) if engine is not None else trt_backend.default_engine_path(base)
    result.target_findings = _check_target(graph, trt_version if chosen == "tensorrt" else version, pinned)
    if result.target_errors:
        return result  # TensorRT would refuse it: nothing is built or written
    if chosen == "tensorrt-commands":
        from graphfix.backends.tensorrt_commands import script_path, write_build_script

        result.commands = write_build_script(
            script_path(base, version), graph=graph, reference=reference, engine=engine_path, plan=plan,
            profile=profile, feeds_by_batch=trt_backend.feeds_for_batches(profile, batches), ranges=ranges,
            timing_cache=trt_backend.default_timing_cache_path(engine_path, version),
            workspace_bytes=workspace_bytes, optimization_level=optimization_level)
        return result
    result.engine = engine_path
    result.engine_report = trt_backend.build_engine(
        graph, engine_path, plan=plan, profile=profile, workspace_bytes=workspace_bytes,
        timing_cache=trt_backend.default_timing_cache_path(engine_path, version),
        optimization_level=optimization_level)
    result.comparison = trt_backend.compare_engine(
        engine_path, reference, trt_backend.feeds_for_batches(profile, batches), precision=precision,  # type: ignore[arg-type]
        dtypes=dtypes, ranges=ranges)
    return result


def _check_target(graph: Path, trt_version: str | None, pinned: Mapping[str, Sequence[int]]) -> list[object]:
    """The GF5xx findings on the graph TensorRT will parse (checked before any build)."""
    from graphfix.engine import Options, lint_loaded

    report, _ = lint_loaded(load(graph), Options(input_shapes=dict(pinned), trt_version=trt_version), ["GF5"], [])
    return list(report.findings)


def _save_optimized(model: Path, engine: Path) -> None:
    import os
    import tempfile

    import onnxruntime as ort

    parent = engine.parent if str(engine.parent) else Path(".")
    if not parent.is_dir():
        raise GraphfixError(f"{engine}: the folder {parent} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{engine.name}.", suffix=".onnx", dir=parent)
    os.close(handle)
    try:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = temporary
        options.log_severity_level = 3
        ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        os.replace(temporary, engine)
    except Exception as error:
        raise GraphfixError(f"{engine}: ONNX Runtime could not optimise {model}: "
                            f"{str(error).strip().splitlines()[0]}") from error
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
