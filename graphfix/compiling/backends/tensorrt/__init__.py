"""The TensorRT backend: build an engine from an ONNX model through Polygraphy's loaders, then compare the
engine with the original model in ONNX Runtime.

TensorRT and ``polygraphy.backend.trt`` are imported only inside the functions that build or run
engines; importing this package, planning a build (:mod:`.plan`), working out the optimisation profile
(:mod:`.profile`) and mapping parser errors to rules (:mod:`.diagnose`) need neither. Without TensorRT (or
with one older than 8.6) ``build_engine`` and ``compare_engine`` raise a one-line ``GraphfixError`` that
says how to install it.
"""

from graphfix.compare import Tolerance
from graphfix.compiling.backends.tensorrt.build import EngineReport, build_engine, save_timing_cache
from graphfix.compiling.backends.tensorrt.compare import TOLERANCES, compare_engine, onnx_input_dtypes
from graphfix.compiling.backends.tensorrt.diagnose import (
    ParserIssue,
    build_failure,
    issues_from_text,
    onnx_nodes,
    parse_failure,
    parser_issues,
    plugin_rule,
    rule_for_parser_error,
)
from graphfix.compiling.backends.tensorrt.plan import (
    PRECISIONS,
    BuildPlan,
    GraphKind,
    Precision,
    check_graph_for_plan,
    plan_build,
)
from graphfix.compiling.backends.tensorrt.profile import (
    ShapeRange,
    default_engine_path,
    default_timing_cache_path,
    feeds_for_batches,
    profile_shapes,
)
from graphfix.compiling.backends.tensorrt.status import (
    INSTALL_HINT,
    MAX_OPTIMIZATION_LEVEL,
    NOT_INSTALLED,
    TensorRTStatus,
    parse_version,
    require_tensorrt,
    tensorrt_status,
)
from graphfix.errors import TensorRTBuildError

__all__ = ["INSTALL_HINT", "MAX_OPTIMIZATION_LEVEL", "NOT_INSTALLED", "PRECISIONS", "TOLERANCES", "BuildPlan",
           "EngineReport", "GraphKind", "ParserIssue", "Precision", "ShapeRange", "TensorRTBuildError",
           "TensorRTStatus", "Tolerance", "build_engine", "build_failure", "check_graph_for_plan", "compare_engine",
           "default_engine_path", "default_timing_cache_path", "feeds_for_batches", "issues_from_text",
           "onnx_input_dtypes", "onnx_nodes", "parse_failure", "parse_version", "parser_issues", "plan_build",
           "plugin_rule", "profile_shapes", "require_tensorrt", "rule_for_parser_error", "save_timing_cache",
           "tensorrt_status"]
