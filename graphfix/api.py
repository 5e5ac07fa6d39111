"""The library: ``lint``, ``fix``, ``compile`` and ``load``, with explicit typed parameters.

Everything the CLI does goes through these functions. Errors are ``GraphfixError`` s (one line each,
speaking of these parameters); anything else escaping is a bug in graphfix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from graphfix.ir.loading import ModelSource
from graphfix.verify.policy import DEFAULT_ATOL, DEFAULT_RTOL

if TYPE_CHECKING:
    from graphfix.compiling import CompileResult, Runner
    from graphfix.fixing import FixResult, ReshapeHook
    from graphfix.linting import Report
    from graphfix.plugins import Registry


Precision = Literal["fp32", "fp16", "int8"]
Backend = Literal["tensorrt", "onnxruntime"]


def lint(
    model: ModelSource,
    *,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    select: str | Sequence[str] | None = None,
    ignore: str | Sequence[str] | None = None,
    trt_version: str | None = None,
    custom_ops: Registry | Sequence[str | os.PathLike[str]] | None = None,
) -> Report:
    """Find the export-rule violations in a model. Read-only: the model is never modified.

    Args:
        model: A path, an ``onnx.ModelProto`` or an ``onnx_ir.Model``.
        input_shapes: Pins non-batch input dims, ``{"x": [1, 3, 224, 224]}``; dim 0 stays the dynamic batch.
        select: Rule code prefixes to run (``"GF1,GF201"`` or ``["GF1", "GF201"]``); default all.
        ignore: Rule code prefixes to skip.
        trt_version: The TensorRT version the GF5xx rules check: ``"8.6"``, ``"10"`` (its newest table),
            ``"10.12"``, ``"11"``; default the installed TensorRT's, else the newest support table.
        custom_ops: Reference implementations of custom ops (a ``graphfix.plugins.Registry`` or
            ``--custom-ops`` files): the analysis runs them, so shapes after a custom op are known.

    Returns:
        The :class:`~graphfix.linting.Report`: findings in graph order (``report.findings``; ``info`` ones
        never fail a run: ``report.errors``), the near misses (``report.explain(node)``), the TensorRT
        version checked (``report.trt_version``).

    Raises:
        ModelError: The model cannot be read or is not a valid graph.
        UsageError: ``input_shapes`` names no input or has the wrong rank; a selector matches no rule;
            ``trt_version`` has no support table.
    """
    from graphfix.ir.loading import load as load_model
    from graphfix.linting import Options, lint_loaded, parse_selectors
    from graphfix.targets.target import check_version_text

    from graphfix.plugins import registry_from, using

    registry = registry_from(custom_ops)
    options = Options(input_shapes={name: [int(d) for d in dims] for name, dims in (input_shapes or {}).items()},
                      trt_version=check_version_text(trt_version), custom_ops=registry)
    loaded = load_model(model)
    with using(registry):
        report, _ = lint_loaded(loaded, options, parse_selectors(select), parse_selectors(ignore))
    return report


def fix(
    model: ModelSource,
    output: str | os.PathLike[str] | None = None,
    *,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    reshape: Mapping[str, Sequence[int]] | None = None,
    reshape_hook: ReshapeHook | None = None,
    dynamic_batch: bool = False,
    unsafe_fixes: bool = False,
    select: str | Sequence[str] | None = None,
    ignore: str | Sequence[str] | None = None,
    verify: bool = True,
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    force: bool = False,
    in_place: bool = False,
    dry_run: bool = False,
    trt_version: str | None = None,
    custom_ops: Registry | Sequence[str | os.PathLike[str]] | None = None,
    plugin_namespace: str = "",
) -> FixResult:
    """Rewrite a model so it follows the export rules, verify it, and (with ``output``) write it.

    Safe fixes always apply; baked-batch rewrites need ``unsafe_fixes``; pinning an input's dims needs
    its ``input_shapes``; making a static batch dynamic needs ``dynamic_batch``.

    Args:
        model: A path, an ``onnx.ModelProto`` or an ``onnx_ir.Model`` (never modified).
        output: Where to write the fixed model (external data beside it when needed); None writes nothing.
        input_shapes: Pins non-batch input dims, ``{"x": [1, 3, 224, 224]}``.
        reshape: Reshape targets by node name, ``{"/head/Reshape": [-1, 25]}`` (the seed's reshape hook).
        reshape_hook: ``hook(node name, current target) -> new target or None``, for every Reshape.
        dynamic_batch: Make dim 0 of a static-batch model dynamic (refused when something bakes it).
        unsafe_fixes: Also rewrite constants that bake the export batch (verified at that batch).
        select: Rule code prefixes whose fixes apply; default all.
        ignore: Rule code prefixes to skip.
        verify: Compare the fixed model with the original in ONNX Runtime before writing it.
        input_ranges: Value range of an input's random data during verification, ``{"ids": (0, 30521)}``.
        atol: Absolute tolerance of the verification.
        rtol: Relative tolerance of the verification.
        force: Write the model even if verification fails.
        in_place: Allow ``output`` to be the input file.
        dry_run: Plan and apply in memory only: no validation, verification or output.
        trt_version: The TensorRT version the GF5xx rules check (see :func:`lint`); a model above its
            parser's opset is converted down (verified).
        custom_ops: Reference implementations of custom ops (a ``graphfix.plugins.Registry`` or
            ``--custom-ops`` files), which the analysis and the verification run them through.
        plugin_namespace: ``plugin_namespace`` of the stock plugin form GF401's fix writes; "" (what C++
            creators register under) by default; a ``tensorrt.plugin`` Python plugin needs a non-empty one.

    Returns:
        The :class:`~graphfix.fixing.FixResult`: the new model, the findings applied and remaining, op
        counts before and after, the verification, the files written.

    Raises:
        ModelError: The model cannot be read.
        UsageError: A bad ``input_shapes``, ``reshape``, ``select`` or ``ignore``.
        GraphfixError: ``dynamic_batch`` refused, fixes that do not converge, an unusable ``output``.
        VerificationError: The fixed model fails ``onnx.checker`` or does not match the original
            (nothing is written unless ``force``).
        MissingDependencyError: Verification needs onnxruntime and Polygraphy (or ``verify=False``).
        MissingReference: A custom op has no reference implementation (GF402; ``verify=False`` skips).
    """
    from graphfix.fixing import fix as run_fix

    return run_fix(model, None if output is None else Path(output), input_shapes=input_shapes, reshape=reshape,
                   reshape_hook=reshape_hook, dynamic_batch=dynamic_batch, unsafe_fixes=unsafe_fixes,
                   select=select, ignore=ignore, verify=verify, input_ranges=input_ranges, atol=atol, rtol=rtol,
                   force=force, in_place=in_place, dry_run=dry_run, trt_version=trt_version,
                   custom_ops=custom_ops, plugin_namespace=plugin_namespace)


def compile(  # noqa: A001 - the verb users know from the CLI
    model: str | os.PathLike[str],
    *,
    precision: Precision = "fp32",
    backend: Backend | None = None,
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
    """Precision transform, engine and comparison for an (already fixed) ONNX file.

    Args:
        model: The fixed ONNX file.
        precision: ``"fp32"``, ``"fp16"`` (mixed, fp32 I/O) or ``"int8"`` (Q/DQ from calibration data).
        backend: ``"tensorrt"`` or ``"onnxruntime"``; default TensorRT when it imports, else ONNX Runtime.
        reference: The model to compare with (the original export); default ``model``.
        output_base: Where the transformed graphs go (``base.fp16.onnx``); default beside ``model``.
        engine: The engine file (TensorRT), or ONNX Runtime's optimised model; default beside the output
            for TensorRT, none for ONNX Runtime.
        max_batch: The largest batch of the engine's profile (compared at 1 and ``max_batch``).
        opt_batch: The batch TensorRT tunes for (default ``max_batch``).
        calib_data: int8 calibration data: a ``.npz`` keyed by input name, or a folder of ``.npy``/``.npz``.
        input_shapes: Pins non-batch input dims (needed for dynamic ones with TensorRT).
        input_ranges: Value ranges of random inputs, ``{"ids": (0, 30521)}``.
        workspace_bytes: TensorRT workspace limit in bytes.
        optimization_level: TensorRT builder optimisation level (0-5).
        trt_version: The target TensorRT (see :func:`lint`). With the TensorRT backend the graph TensorRT
            parses is checked against it first (``result.target_findings``; errors stop the build); where
            TensorRT is not installed, ``backend="tensorrt"`` writes the trtexec and Polygraphy commands for
            it beside the model (``result.commands``) instead of building.
        custom_ops: Reference implementations of custom ops, which every comparison runs them through.
        plugins: TensorRT plugins loaded before parsing: ``tensorrt.plugin`` Python files, C++ libraries.

    Returns:
        The :class:`~graphfix.compiling.CompileResult` (``passed``, the comparisons, the engine report).

    Raises:
        UsageError: A bad precision, backend, batch range, ``optimization_level`` or ``workspace_bytes``.
        ModelError: A model cannot be read.
        CalibrationError: ``calib_data`` does not fit the model.
        PrecisionError: The precision transform failed or made a model TensorRT would refuse.
        TensorRTBuildError: TensorRT could not parse the model or build the engine (with the rule that helps).
        GraphfixError: TensorRT was asked for and is too old.
        MissingDependencyError: ONNX Runtime, Polygraphy or onnxconverter-common is not installed.
    """
    from graphfix.compiling import compile_model

    return compile_model(Path(model), precision=precision, backend=backend, reference=reference, output_base=output_base,
                         engine=engine, max_batch=max_batch, opt_batch=opt_batch, calib_data=calib_data,
                         input_shapes=input_shapes, input_ranges=input_ranges, workspace_bytes=workspace_bytes,
                         optimization_level=optimization_level, trt_version=trt_version,
                         custom_ops=custom_ops, plugins=plugins)


def load(path: str | os.PathLike[str], *,
         custom_ops: Registry | Sequence[str | os.PathLike[str]] | None = None) -> Runner:
    """A runner for an ONNX model (ONNX Runtime) or a TensorRT engine (``.engine``, ``.plan``, ``.trt``):
    ``runner({input name: array}) -> {output name: array}``.

    Raises:
        GraphfixError: No such file, or the runtime cannot load it.
        ModelError: The ONNX model cannot be read.
        MissingDependencyError: onnxruntime (or TensorRT and Polygraphy for an engine) is not installed.
    """
    from graphfix.compiling.runner import load as load_runner
    from graphfix.plugins import registry_from, using

    with using(registry_from(custom_ops)):  # a model's custom ops run through these references
        return load_runner(Path(path))
