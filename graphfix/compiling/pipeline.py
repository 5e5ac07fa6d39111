"""Compiling: precision transform (ONNX to ONNX), an engine from a backend, and the comparison with the
original model.

    fixed.onnx --precision--> fixed.fp16.onnx / fixed.int8.onnx --backend--> engine --compare--> report

The precision transforms run and are checked here for every backend (they are what TensorRT 11 needs).
The backend is TensorRT (through Polygraphy's loaders, imported lazily) when it imports, otherwise ONNX
Runtime, which runs everywhere; ``backend`` chooses explicitly.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from graphfix.compiling.backends.tensorrt.build import EngineReport
from graphfix.compiling.backends.tensorrt.plan import Precision
from graphfix.errors import GraphfixError, UsageError
from graphfix.ir.loading import load, require_weights
from graphfix.linting import Finding
from graphfix.plugins import Registry, has_custom_ops, registry_from, require_implementations, using
from graphfix.precision.check import PrecisionReport
from graphfix.verify import InputSpec, Verification, input_shapes_for, input_specs, integer_ranges

BACKENDS = ("tensorrt", "onnxruntime")
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass
class CompileResult:
    """What ``compile`` made and how it compares with the original."""

    precision: str
    backend: str
    model: Path  # the ONNX graph the backend compiled (fp32, fp16-mixed or int8 Q/DQ)
    engine: Path | None  # the TensorRT engine, or ONNX Runtime's optimised model when asked for
    comparison: Verification | PrecisionReport | None = None  # engine vs the original model
    precision_check: PrecisionReport | None = None  # the ONNX precision transform vs the original
    engine_report: EngineReport | None = None  # the TensorRT build
    notices: list[str] = field(default_factory=list)
    trt_version: str | None = None  # the TensorRT version checked (and built for, or written for)
    # GF5xx findings on the graph handed to TensorRT; errors stop the build before it starts.
    target_findings: list[Finding] = field(default_factory=list)
    commands: Path | None = None  # without TensorRT: the script that builds and compares on the target

    @property
    def target_errors(self) -> list[Finding]:
        """The target findings that stop the build (information does not)."""
        return [f for f in self.target_findings if f.is_error]

    @property
    def passed(self) -> bool:
        checks = [c for c in (self.comparison, self.precision_check) if c is not None]
        return all(c.passed for c in checks) and not self.target_errors

    def to_dict(self) -> dict[str, object]:
        """The result as ``graphfix compile --format json`` writes it."""
        return {
            "precision": self.precision,
            "backend": self.backend,
            "model": str(self.model),
            "engine": None if self.engine is None else str(self.engine),
            "passed": self.passed,
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "precision_check": None if self.precision_check is None else self.precision_check.to_dict(),
            "engine_report": None if self.engine_report is None else self.engine_report.to_dict(),
            "notices": self.notices,
            "trt_version": self.trt_version,
            "target_findings": [f.to_dict() for f in self.target_findings],
            "commands": None if self.commands is None else str(self.commands),
        }


def choose_backend(requested: str | None) -> tuple[str, list[str]]:
    """The backend to use, and a notice when the default fell back to ONNX Runtime."""
    from graphfix.compiling.backends.tensorrt.status import tensorrt_status

    if requested is not None and requested not in BACKENDS:
        raise UsageError(f"backend {requested!r}: expected one of {', '.join(BACKENDS)}", parameters=("backend",))
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
    model: str | os.PathLike[str],
    *,
    precision: str = "fp32",
    backend: str | None = None,
    reference: str | os.PathLike[str] | None = None,
    output_base: str | os.PathLike[str] | None = None,
    engine: str | os.PathLike[str] | None = None,
    max_batch: int = 8,
    opt_batch: int | None = None,
    calib_data: str | os.PathLike[str] | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
    workspace_bytes: int | None = None,
    optimization_level: int | None = None,
    trt_version: str | None = None,
    custom_ops: Registry | Sequence[str | os.PathLike[str]] | None = None,
    plugins: Sequence[str | os.PathLike[str]] = (),
) -> CompileResult:
    """Compile ``model`` (an already fixed ONNX file) at ``precision`` with ``backend`` and compare the
    result with ``reference`` (the original export; default: ``model`` itself).

    See :func:`graphfix.compile` for the parameters and the errors it raises. With the TensorRT backend the
    graph handed to TensorRT is first checked against the target's support table (GF5xx; ``trt_version``,
    default the installed TensorRT): errors stop before the build (``result.target_findings``). Where
    TensorRT is not installed, ``backend="tensorrt"`` writes the trtexec and Polygraphy commands that build
    and compare the engine on the target instead (``result.commands``, beside the model).
    """
    with using(registry_from(custom_ops)):
        return _compile(model, precision=precision, backend=backend, reference=reference,
                        output_base=output_base, engine=engine, max_batch=max_batch, opt_batch=opt_batch,
                        calib_data=calib_data, input_shapes=input_shapes, input_ranges=input_ranges,
                        workspace_bytes=workspace_bytes, optimization_level=optimization_level,
                        trt_version=trt_version, plugins=plugins)


def _compile(
    model: str | os.PathLike[str],
    *,
    precision: str,
    backend: str | None,
    reference: str | os.PathLike[str] | None,
    output_base: str | os.PathLike[str] | None,
    engine: str | os.PathLike[str] | None,
    max_batch: int,
    opt_batch: int | None,
    calib_data: str | os.PathLike[str] | None,
    input_shapes: Mapping[str, Sequence[int]] | None,
    input_ranges: Mapping[str, tuple[float, float]] | None,
    workspace_bytes: int | None,
    optimization_level: int | None,
    trt_version: str | None,
    plugins: Sequence[str | os.PathLike[str]],
) -> CompileResult:
    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if max_batch < 1 or (opt_batch is not None and not 1 <= opt_batch <= max_batch):
        raise UsageError(f"opt_batch {opt_batch} / max_batch {max_batch}: need 1 <= opt <= max",
                         parameters=("opt_batch", "max_batch"))
    from graphfix.targets.target import check_version_text

    check_version_text(trt_version)
    model = Path(model)
    reference = Path(reference) if reference is not None else model
    chosen, notices = choose_backend(backend)
    # Custom ops run through their references in every comparison: refuse (GF402) before any work.
    custom = has_custom_ops(model) or has_custom_ops(reference)
    if custom:
        require_implementations(reference)
        require_implementations(model)
    loaded = load(model)
    if precision != "fp32":
        require_weights(loaded)  # the fp16 and int8 transforms read every weight
    specs = input_specs(loaded.model)
    pinned = dict(input_shapes or {})
    ranges = {**integer_ranges(loaded.model), **(input_ranges or {})}
    dtypes = {spec.name: spec.dtype for spec in specs}
    batches = comparison_batches(specs, max_batch)
    feeds = {batch: input_shapes_for(specs, batch, pinned) for batch in batches}
    base = Path(output_base) if output_base is not None else model

    from graphfix import precision as transforms
    from graphfix.precision.calibration import load_calibration

    calibration = None
    if precision == "int8":
        calibration = load_calibration(Path(calib_data) if calib_data else None, specs,
                                                  ranges=ranges)
        if calibration.random:
            notices.append("int8 calibration used random data: accuracy will be poor; pass --calib-data")
    from graphfix.progress import current

    with warnings.catch_warnings(), current().task(f"{precision} transform of {Path(model).name}"):
        warnings.simplefilter("ignore", transforms.RandomCalibrationWarning)  # said once, as a notice
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
                assert calibration is not None  # made above for int8
                transforms.to_int8(model, runtime_model, calibration, target="onnxruntime")
            result.notices.append(f"ONNX Runtime runs its own int8 form: {runtime_model}")
        if result.engine is not None and custom:
            # ONNX Runtime cannot load a model with ops it has no kernel for; the comparison below runs
            # the custom ops through their references instead.
            result.notices.append("no ONNX Runtime optimised model for a model with custom ops (ONNX Runtime "
                                  "has no kernel for them)")
            result.engine = None
        if result.engine is not None:
            from graphfix.compiling.backends.onnxruntime import save_optimized

            save_optimized(runtime_model, result.engine)
        if precision == "fp16" or (result.engine is None and runtime_model == transformed
                                   and result.precision_check is not None):
            # ONNX Runtime's CPU kernels compute fp16 ops in fp32, so the honest check of what the fp16
            # graph computes is the transform check (fp16 rounding emulated); no second run.
            result.comparison = result.precision_check
        else:
            result.comparison = transforms.compare_precision(
                reference, result.engine or runtime_model, feeds, precision=precision, dtypes=dtypes,
                ranges=ranges)
        return result

    from graphfix.compiling.backends import tensorrt as trt_backend
    from graphfix.targets.target import resolve_target

    if chosen == "tensorrt-commands":
        version = resolve_target(trt_version).version
    else:
        version = trt_backend.require_tensorrt()
        if plugins:
            from graphfix.plugins.loader import load_plugins

            load_plugins(plugins)  # registered with TensorRT before its parser looks them up
        if trt_version is not None and resolve_target(trt_version).version != resolve_target(None).version:
            result.notices.append(f"trt_version={trt_version}: building with the installed TensorRT {version}")
    result.backend = "tensorrt"
    result.trt_version = version
    plan = trt_backend.plan_build(version, _precision(precision))
    graph = {"fp32": model, "fp16-mixed": transformed, "int8-qdq": transformed}[plan.onnx_graph]
    profile = trt_backend.profile_shapes(specs, opt_batch=opt_batch or max_batch, max_batch=max_batch,
                                         pinned=pinned)
    engine_path = Path(engine) if engine is not None else trt_backend.default_engine_path(base)
    result.target_findings = _check_target(graph, trt_version if chosen == "tensorrt" else version, pinned)
    if result.target_errors:
        return result  # TensorRT would refuse it: nothing is built or written
    if chosen == "tensorrt-commands":
        from graphfix.compiling.backends.tensorrt.commands import script_path, write_build_script

        result.commands = write_build_script(
            script_path(base, version), graph=graph, reference=reference, engine=engine_path, plan=plan,
            profile=profile, feeds_by_batch=trt_backend.feeds_for_batches(profile, batches), ranges=ranges,
            timing_cache=trt_backend.default_timing_cache_path(engine_path, version),
            workspace_bytes=workspace_bytes, optimization_level=optimization_level)
        return result
    result.engine = engine_path
    from graphfix.progress import current

    with current().task(f"building the TensorRT {precision} engine {engine_path.name}"):
        result.engine_report = trt_backend.build_engine(
            graph, engine_path, plan=plan, profile=profile, workspace_bytes=workspace_bytes,
            timing_cache=trt_backend.default_timing_cache_path(engine_path, version),
            optimization_level=optimization_level)
    result.comparison = trt_backend.compare_engine(
        engine_path, reference, trt_backend.feeds_for_batches(profile, batches), precision=plan.precision,
        dtypes=dtypes, ranges=ranges)
    return result


def _check_target(graph: Path, trt_version: str | None, pinned: Mapping[str, Sequence[int]]) -> list[Finding]:
    """The GF5xx findings on the graph TensorRT will parse (checked before any build)."""
    from graphfix.linting import Options, lint_loaded

    options = Options(input_shapes={name: [int(d) for d in dims] for name, dims in pinned.items()},
                      trt_version=trt_version)
    from graphfix.linting import all_rules

    selected = [rule.code for rule in all_rules() if rule.checks_trt_target]
    report, _ = lint_loaded(load(graph), options, selected, [])
    return list(report.findings)


def _precision(precision: str) -> Precision:
    if precision == "fp16":
        return "fp16"
    if precision == "int8":
        return "int8"
    return "fp32"
