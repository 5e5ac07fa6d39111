"""The trtexec and Polygraphy commands graphfix writes where TensorRT is absent, per TensorRT version."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from graphfix.compiling.backends.tensorrt import plan_build
from graphfix.compiling.backends.tensorrt.commands import polygraphy_commands, script_path, trtexec_command

PROFILE = {"images": ((1, 3, 64, 64), (4, 3, 64, 64), (8, 3, 64, 64))}


@pytest.mark.parametrize(("version", "precision", "flags"), [
    ("8.6", "fp32", []), ("8.6", "fp16", ["--fp16"]), ("8.6", "int8", ["--int8"]),
    ("10.11", "fp16", ["--fp16"]), ("10.12", "fp16", ["--stronglyTyped"]), ("10.16", "int8", ["--stronglyTyped"]),
    ("11.0", "fp16", []), ("11.5", "int8", [])])
def test_precision_flags_follow_the_build_plan(version: str, precision: str, flags: list[str]):
    command = trtexec_command(graph="m.onnx", engine="m.engine", plan=plan_build(version, precision),  # type: ignore[arg-type]
                              profile=PROFILE, timing_cache="m.cache")
    used = [a for a in command if a in ("--fp16", "--int8", "--stronglyTyped", "--bf16")]
    assert used == flags
    assert command[:3] == ["trtexec", "--onnx=m.onnx", "--saveEngine=m.engine"]
    assert "--optShapes=images:4x3x64x64" in command and "--timingCacheFile=m.cache" in command


def test_workspace_in_mib_and_optimization_level():
    command = trtexec_command(graph="m.onnx", engine="m.engine", plan=plan_build("10.16", "fp32"), profile=PROFILE,
                              timing_cache="c", workspace_bytes=3 * 2**30, optimization_level=5)
    assert "--memPoolSize=workspace:3072" in command and "--builderOptimizationLevel=5" in command


def test_input_names_with_separators_are_quoted_for_trtexec():
    command = trtexec_command(graph="m.onnx", engine="e", plan=plan_build("8.6", "fp32"), timing_cache="c",
                              profile={"x:0": ((1, 2), (2, 2), (2, 2)), "y": ((1,), (2,), (2,))})
    assert "--minShapes='x:0':1x2,y:1" in command
    assert shlex.split(shlex.join(command)) == command  # survives the shell


def test_polygraphy_compares_the_engine_with_the_reference_on_saved_inputs():
    commands = polygraphy_commands(reference="model.onnx", engine="m.engine", precision="int8", prefix="m.trt",
                                   feeds_by_batch={1: {"ids": (1, 16)}}, ranges={"ids": (0, 99)})
    reference, engine = commands
    assert reference[:4] == ["polygraphy", "run", "model.onnx", "--onnxrt"]
    assert "ids:[1,16]" in reference and "ids:[0,99]" in reference
    assert engine[engine.index("--load-inputs") + 1] == reference[reference.index("--save-inputs") + 1]
    assert engine[engine.index("--check-error-stat") + 1] == "quantile"  # int8 tolerances


def test_script_path_names_the_version():
    assert script_path(Path("out/fixed.onnx"), "10.12") == Path("out/fixed.trt10.12.sh")
