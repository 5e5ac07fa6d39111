"""The commands that build and check an engine on a target TensorRT, for machines without TensorRT.

A laptop preparing a model for a Jetson has no TensorRT; ``graphfix fix --compile fp16 --backend tensorrt``
then writes, beside the model, a shell script with:

- a ``trtexec`` command that builds the engine the way graphfix's own build would for that version
  (``plan_build``): the graph it needs (fp32, graphfix's mixed fp16, or its Q/DQ int8 graph), the
  precision flags of a weakly typed network (8.6, 10.0-10.11: ``--fp16``/``--int8``) or strong typing
  (``--stronglyTyped`` on 10.12+; always on in 11.x), one optimisation profile (``--minShapes``/
  ``--optShapes``/``--maxShapes`` from the batch range), a timing cache, and the workspace and builder
  optimisation level when given;
- ``polygraphy run`` commands that compare the engine with the original model in ONNX Runtime on the
  same seeded inputs at each batch, with the tolerances graphfix's own comparison uses.

Plain text, no TensorRT needed; the script runs on the target.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from graphfix.compiling.backends.tensorrt.compare import TOLERANCES
from graphfix.compiling.backends.tensorrt.plan import BuildPlan
from graphfix.compiling.backends.tensorrt.profile import ShapeRange


def script_path(base: str | os.PathLike[str], trt_version: str) -> Path:
    """``fixed.onnx`` -> ``fixed.trt8.6.sh`` (beside the model)."""
    base = Path(base)
    return base.with_name(f"{base.stem}.trt{trt_version}.sh")


def _relative(path: Path, folder: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), folder.resolve())
    except ValueError:  # another drive (Windows)
        return str(path.resolve())


def _trt_name(name: str) -> str:
    """trtexec separates inputs with ',' and dims with ':'; names holding them are quoted."""
    return f"'{name}'" if any(c in name for c in ",:'") else name


def _dims(shape: Sequence[int], sep: str = "x") -> str:
    return sep.join(str(int(d)) for d in shape)


def trtexec_command(
    *,
    graph: str,
    engine: str,
    plan: BuildPlan,
    profile: Mapping[str, ShapeRange],
    timing_cache: str,
    workspace_bytes: int | None = None,
    optimization_level: int | None = None,
    plugins: Sequence[str] = (),
) -> list[str]:
    """The ``trtexec`` argument list that builds ``engine`` from ``graph`` as ``plan`` says."""
    command = ["trtexec", f"--onnx={graph}", f"--saveEngine={engine}"]
    if profile:
        for flag, index in (("--minShapes", 0), ("--optShapes", 1), ("--maxShapes", 2)):
            command.append(f"{flag}=" + ",".join(f"{_trt_name(name)}:{_dims(ranges[index])}"
                                                 for name, ranges in profile.items()))
    command.extend(f"--{flag.lower()}" for flag in sorted(plan.builder_flags))  # --fp16, --int8
    if plan.strongly_typed_flag:
        command.append("--stronglyTyped")
    command.append(f"--timingCacheFile={timing_cache}")
    if workspace_bytes:
        command.append(f"--memPoolSize=workspace:{max(1, int(workspace_bytes) // 2**20)}")  # MiB
    if optimization_level is not None:
        command.append(f"--builderOptimizationLevel={int(optimization_level)}")
    command.extend(f"--staticPlugins={plugin}" for plugin in plugins)
    return command


def polygraphy_commands(
    *,
    reference: str,
    engine: str,
    feeds_by_batch: Mapping[int, Mapping[str, tuple[int, ...]]],
    precision: str,
    ranges: Mapping[str, tuple[float, float]],
    prefix: str,
    seed: int = 0,
) -> list[list[str]]:
    """Per batch: run the reference in ONNX Runtime saving inputs and outputs, then the engine on the same
    inputs, compared with graphfix's tolerances for ``precision``."""
    tolerance = TOLERANCES[precision]
    commands: list[list[str]] = []
    for batch, shapes in feeds_by_batch.items():
        inputs, outputs = f"{prefix}.inputs.b{batch}.json", f"{prefix}.reference.b{batch}.json"
        run = ["polygraphy", "run", reference, "--onnxrt", "--seed", str(seed + batch), "--input-shapes",
               *[f"{name}:[{_dims(shape, ',')}]" for name, shape in shapes.items()]]
        valued = [f"{name}:[{_number(lo)},{_number(hi)}]" for name, (lo, hi) in ranges.items() if name in shapes]
        if valued:
            run += ["--val-range", *valued]
        run += ["--save-inputs", inputs, "--save-outputs", outputs]
        commands.append(run)
        commands.append(["polygraphy", "run", engine, "--model-type", "engine", "--trt", "--load-inputs", inputs,
                         "--load-outputs", outputs, "--atol", f"{tolerance.atol:g}", "--rtol", f"{tolerance.rtol:g}",
                         "--check-error-stat", tolerance.check_error_stat])
    return commands


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{float(value):g}"


def write_build_script(
    path: Path,
    *,
    graph: Path,
    reference: Path,
    engine: Path,
    plan: BuildPlan,
    profile: Mapping[str, ShapeRange],
    feeds_by_batch: Mapping[int, Mapping[str, tuple[int, ...]]],
    ranges: Mapping[str, tuple[float, float]],
    timing_cache: Path,
    workspace_bytes: int | None = None,
    optimization_level: int | None = None,
) -> Path:
    """Write the build-and-compare script for ``plan.trt_version`` (atomically); returns its path."""
    from graphfix import __version__
    from graphfix.ir.saving import write_text_atomic

    folder = path.parent
    rel = {key: _relative(value, folder) for key, value in
           (("graph", graph), ("reference", reference), ("engine", engine), ("cache", timing_cache))}
    build = trtexec_command(graph=rel["graph"], engine=rel["engine"], plan=plan, profile=profile,
                            timing_cache=rel["cache"], workspace_bytes=workspace_bytes,
                            optimization_level=optimization_level)
    prefix = _relative(path.with_suffix(""), folder)
    compare = polygraphy_commands(reference=rel["reference"], engine=rel["engine"], feeds_by_batch=feeds_by_batch,
                                  precision=plan.precision, ranges=ranges, prefix=prefix)
    lines = [
        "#!/bin/sh",
        f"# Build and check {rel['graph']} on TensorRT {plan.trt_version} ({plan.precision}).",
        f"# Written by graphfix {__version__} on a machine without TensorRT; run it on the target, where",
        f"# trtexec comes with TensorRT {plan.trt_version} and polygraphy>=0.53 and onnxruntime are installed.",
        *[f"# {note}" for note in plan.notes],
        "set -eu",
        'cd "$(dirname "$0")"',
        "",
        "# 1. build the engine (one optimisation profile; the timing cache speeds up rebuilds)",
        shlex.join(build),
        "",
        f"# 2. compare the engine with {rel['reference']} in ONNX Runtime at batch "
        f"{', '.join(map(str, feeds_by_batch))} (exit status 1 when an output differs)",
        *[shlex.join(command) for command in compare],
        "",
    ]
    write_text_atomic(path, "\n".join(lines))
    with_exec = path.stat().st_mode | 0o111
    path.chmod(with_exec & 0o777)
    return path


__all__ = ["polygraphy_commands", "script_path", "trtexec_command", "write_build_script"]
