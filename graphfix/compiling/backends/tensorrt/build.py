"""Building an engine through Polygraphy's loaders: parse, one optimisation profile, build, write.

TensorRT and ``polygraphy.backend.trt`` are imported only inside :func:`build_engine`. The engine and the
timing cache are written through the one atomic writer (:mod:`graphfix.ir.saving`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphfix.compare.log import polygraphy_log
from graphfix.compiling.backends.tensorrt.diagnose import (
    ParserIssue,
    build_failure,
    issues_from_text,
    onnx_nodes,
    parse_failure,
    parser_issues,
)
from graphfix.compiling.backends.tensorrt.plan import BuildPlan, check_graph_for_plan
from graphfix.compiling.backends.tensorrt.profile import ShapeRange
from graphfix.compiling.backends.tensorrt.status import (
    FLAGLESS_MAJOR,
    MAX_OPTIMIZATION_LEVEL,
    _first_line,
    parse_version,
    require_tensorrt,
)
from graphfix.deps import require
from graphfix.errors import GraphfixError, TensorRTBuildError, UsageError
from graphfix.ir.saving import write_bytes_atomic

# Polygraphy's own notes that say nothing about the model: no colours, first use of a timing cache.
_BENIGN_WARNING = re.compile(r"'colored' module is not installed|Timing cache file .* not found")


@dataclass
class EngineReport:
    engine_path: Path
    engine_bytes: int
    trt_version: str
    plan: BuildPlan
    profile: dict[str, ShapeRange]
    workspace_bytes: int | None
    optimization_level: int | None
    timing_cache: Path | None
    timing_cache_reused: bool
    build_seconds: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "engine_path": str(self.engine_path),
            "engine_bytes": self.engine_bytes,
            "trt_version": self.trt_version,
            "plan": self.plan.to_dict(),
            "profile": {name: {"min": list(low), "opt": list(opt), "max": list(high)}
                        for name, (low, opt, high) in self.profile.items()},
            "workspace_bytes": self.workspace_bytes,
            "optimization_level": self.optimization_level,
            "timing_cache": None if self.timing_cache is None else str(self.timing_cache),
            "timing_cache_reused": self.timing_cache_reused,
            "build_seconds": round(self.build_seconds, 3),
            "warnings": self.warnings,
        }


def build_engine(
    onnx_path: str | os.PathLike[str],
    engine_path: str | os.PathLike[str],
    *,
    plan: BuildPlan,
    profile: Mapping[str, ShapeRange],
    workspace_bytes: int | None = None,
    timing_cache: str | os.PathLike[str] | None = None,
    optimization_level: int | None = None,
    verbose: bool = False,
) -> EngineReport:
    """Parse ``onnx_path`` with TensorRT, build an engine with one optimisation profile and write it
    atomically to ``engine_path``. The timing cache (if given) is loaded when it exists and saved
    (merged) after the build. Failures are one-line ``GraphfixError``s naming the node, its op and the
    graphfix rule that addresses the cause."""
    onnx_path = Path(onnx_path)
    engine_path = Path(engine_path)
    cache_path = None if timing_cache is None else Path(timing_cache)
    # Parameters first: a wrong one is reported whether or not TensorRT is installed.
    if optimization_level is not None and not 0 <= optimization_level <= MAX_OPTIMIZATION_LEVEL:
        raise UsageError(f"optimization_level {optimization_level}: expected 0 to {MAX_OPTIMIZATION_LEVEL}",
                         parameters=("optimization_level",))
    if workspace_bytes is not None and workspace_bytes <= 0:
        raise UsageError(f"workspace_bytes {workspace_bytes}: expected a positive size",
                         parameters=("workspace_bytes",))
    version = require_tensorrt()
    if parse_version(version) != parse_version(plan.trt_version):
        raise GraphfixError(f"the build plan is for TensorRT {plan.trt_version}, but TensorRT {version} is "
                            "installed (make the plan from tensorrt_status().version)")
    if not onnx_path.is_file():
        raise GraphfixError(f"{onnx_path}: no such file")
    if not engine_path.parent.is_dir():
        raise GraphfixError(f"{engine_path}: the folder {engine_path.parent} does not exist")
    check_graph_for_plan(onnx_path, plan)
    trt = require("tensorrt", "the TensorRT backend")
    loaders = require("polygraphy.backend.trt", "the TensorRT backend")
    PolygraphyException = require("polygraphy.exception", "the TensorRT backend").PolygraphyException

    trt_profile = loaders.Profile()
    for name, (low, opt, high) in profile.items():
        trt_profile.add(name, tuple(low), tuple(opt), tuple(high))
    cache = None if cache_path is None else str(cache_path)
    reused = cache_path is not None and cache_path.is_file() and cache_path.stat().st_size > 0
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
    pools = None if workspace_bytes is None else {trt.MemoryPoolType.WORKSPACE: int(workspace_bytes)}

    start = time.perf_counter()
    network = None
    unexpected = ""
    with polygraphy_log(verbose, purpose="the TensorRT backend") as parse_log:
        if plan.major < FLAGLESS_MAJOR:  # BuilderFlag.FP16/INT8 exist up to 10.x (gone in 11)
            create_config = loaders.CreateConfig(
                fp16="FP16" in plan.builder_flags,
                int8="INT8" in plan.builder_flags,
                profiles=[trt_profile],
                memory_pool_limits=pools,
                load_timing_cache=cache,
                builder_optimization_level=optimization_level,
            )
        else:  # 11.x: no precision flags; the strongly typed graph carries the precision
            create_config = loaders.CreateConfig(
                profiles=[trt_profile],
                memory_pool_limits=pools,
                load_timing_cache=cache,
                builder_optimization_level=optimization_level,
            )
        try:
            # (builder, network, parser); keep the tuple alive until the build is done.
            if plan.major >= 10:  # NetworkDefinitionCreationFlag.STRONGLY_TYPED exists from 10.0
                network = loaders.NetworkFromOnnxPath(str(onnx_path), strongly_typed=plan.strongly_typed_flag)()
            else:
                network = loaders.NetworkFromOnnxPath(str(onnx_path))()
        except PolygraphyException:
            network = None
        except Exception as error:  # noqa: BLE001 - a TensorRT binding error, not a graphfix bug
            unexpected = f"{type(error).__name__}: {_first_line(str(error))}"
    if unexpected:
        raise TensorRTBuildError(f"{onnx_path}: TensorRT {version} cannot create the network: {unexpected}")
    if network is None:
        nodes = onnx_nodes(onnx_path)
        issues = _diagnose_parse(onnx_path, plan, nodes)
        if not issues:
            issues = issues_from_text(parse_log.entries("E"), nodes)
        raise parse_failure(str(onnx_path), version, issues)

    engine = None
    failure = ""
    config: Any = None
    with polygraphy_log(verbose, purpose="the TensorRT backend") as build_log:
        try:
            config = create_config(network[0], network[1])  # (builder, network, parser)
            engine = loaders.EngineBytesFromNetwork(network, config=config)()
        except PolygraphyException as error:
            failure = _first_line(str(error))
        except Exception as error:  # noqa: BLE001 - a TensorRT binding error, not a graphfix bug
            failure = f"{type(error).__name__}: {_first_line(str(error))}"
    if engine is None or failure:
        errors = [entry for entry in build_log.entries("E") if entry.strip()]
        raise build_failure(str(onnx_path), version, errors, failure or "no engine",
                            cache_path if reused else None)
    seconds = time.perf_counter() - start
    size = write_bytes_atomic(engine_path, engine)
    if cache_path is not None:
        save_timing_cache(config, cache_path)
    del engine, network, config
    logged = [_first_line(w) for w in [*parse_log.entries("W"), *build_log.entries("W")]]
    warnings = list(dict.fromkeys(w for w in logged if w and not _BENIGN_WARNING.search(w)))
    shapes: dict[str, ShapeRange] = {name: (tuple(low), tuple(opt), tuple(high))
                                     for name, (low, opt, high) in profile.items()}
    return EngineReport(engine_path, size, version, plan, shapes, workspace_bytes, optimization_level,
                        cache_path, reused, seconds, warnings)


def _diagnose_parse(onnx_path: Path, plan: BuildPlan, nodes: Sequence[tuple[str, str]]) -> list[ParserIssue]:
    """Parse again, keeping the parser, to read its structured errors (Polygraphy only logs them)."""
    try:
        trt = require("tensorrt", "the TensorRT backend")
        loaders = require("polygraphy.backend.trt", "the TensorRT backend")
        trt_util = require("polygraphy.backend.trt.util", "the TensorRT backend")

        with polygraphy_log(purpose="the TensorRT backend"):
            if plan.major >= 10:  # NetworkDefinitionCreationFlag.STRONGLY_TYPED exists from 10.0
                builder, network = loaders.CreateNetwork(strongly_typed=plan.strongly_typed_flag)()
            else:
                builder, network = loaders.CreateNetwork()()
            logger = trt_util.get_trt_logger()
            trt.init_libnvinfer_plugins(logger, "")
            parser = trt.OnnxParser(network, logger)
            parser.parse_from_file(str(onnx_path))
            issues = parser_issues(parser, nodes)
        del parser, network, builder
        return issues
    except Exception:  # noqa: BLE001 - diagnostics only; the caller falls back to the logged text
        return []


def save_timing_cache(config: Any, path: Path) -> None:
    """Merge the build's timing cache into the one at ``path`` (when there is one) and write it atomically.

    A cache TensorRT cannot read (another version, another GPU) is replaced rather than merged.
    """
    cache = config.get_timing_cache() if config is not None else None
    if cache is None:
        return
    if path.is_file() and path.stat().st_size > 0:
        try:
            previous = config.create_timing_cache(path.read_bytes())
            cache.combine(previous, ignore_mismatch=True)
        except Exception:  # noqa: BLE001 - an unreadable old cache is replaced, not merged
            pass
    write_bytes_atomic(path, cache.serialize())
