"""TensorRT backend: build an engine from an ONNX model through Polygraphy's loaders, then compare the
engine with the original model in ONNX Runtime.

TensorRT and ``polygraphy.backend.trt`` are imported only inside the functions that build or run
engines; importing this module, planning a build (``plan_build``), working out the optimisation
profile (``profile_shapes``) and mapping parser errors to rules (``rule_for_parser_error``) need
neither. Without TensorRT (or with one older than 8.6) ``build_engine`` and ``compare_engine`` raise a
one-line ``GraphfixError`` that says how to install it.

Precision by TensorRT version (``plan_build``):

- 8.6, 9.x, 10.0-10.11: a weakly typed network and builder precision flags. fp16 is the FP16 flag on
  the fp32 graph (TensorRT picks the precision per layer); int8 is the INT8 flag on graphfix's explicit
  Q/DQ graph (no calibrator: Polygraphy attaches none when the network has Q/DQ layers).
- 10.12 and later 10.x: ``BuilderFlag.FP16``/``INT8`` are deprecated ("superseded by strong typing"),
  so the network is created STRONGLY_TYPED and the precision comes from the ONNX graph graphfix made
  (mixed fp16 with fp32 I/O, or Q/DQ int8).
- 11.x (and, with a note, later majors): the precision flags are gone and strong typing is always on
  (the STRONGLY_TYPED creation flag is deprecated and ignored), so the precision comes from the graph.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from graphfix.errors import GraphfixError, UsageError
from graphfix.verify import InputSpec, OutputError, Verification

Precision = Literal["fp32", "fp16", "int8"]
GraphKind = Literal["fp32", "fp16-mixed", "int8-qdq"]
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")

MIN_VERSION = (8, 6)
# The first 10.x whose builder precision flags are deprecated in favour of strongly typed networks.
STRONG_TYPING_VERSION = (10, 12)
# The first major without builder precision flags (strong typing always on).
FLAGLESS_MAJOR = 11
MAX_OPTIMIZATION_LEVEL = 5

INSTALL_HINT = ("pip install tensorrt (NVIDIA's wheels); on Jetson use the TensorRT Python bindings that "
                "come with JetPack")
NOT_INSTALLED = f"TensorRT is not installed: {INSTALL_HINT}"


# -- availability -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorRTStatus:
    available: bool
    version: str | None
    message: str


def tensorrt_status() -> TensorRTStatus:
    """Whether a TensorRT graphfix can use (8.6 or newer) is importable; imports it lazily."""
    try:
        import tensorrt
    except ModuleNotFoundError as error:
        if error.name == "tensorrt":
            return TensorRTStatus(False, None, NOT_INSTALLED)
        return TensorRTStatus(False, None, f"TensorRT is installed but cannot be imported ({error}): "
                                           f"reinstall it ({INSTALL_HINT})")
    except Exception as error:  # noqa: BLE001 - a broken install: libnvinfer missing, CUDA mismatch, ...
        return TensorRTStatus(False, None, f"TensorRT is installed but cannot be loaded "
                                           f"({_first_line(str(error)) or type(error).__name__}): "
                                           f"reinstall it ({INSTALL_HINT})")
    version = getattr(tensorrt, "__version__", None)
    if not isinstance(version, str):
        return TensorRTStatus(False, None, f"cannot tell which TensorRT is installed (tensorrt has no "
                                           f"__version__): reinstall it ({INSTALL_HINT})")
    try:
        _check_supported(version)
    except GraphfixError as error:
        return TensorRTStatus(False, version, str(error))
    return TensorRTStatus(True, version, f"TensorRT {version}")


def require_tensorrt() -> str:
    """The installed TensorRT version, or a one-line GraphfixError saying how to get a usable one."""
    status = tensorrt_status()
    if not status.available:
        raise GraphfixError(status.message)
    assert status.version is not None
    return status.version


_VERSION = re.compile(r"^\s*(\d+)\.(\d+)(?:\.\d+)*(?:[.+-]?[A-Za-z]\w*(?:[.+-]\w+)*)?\s*$")


def parse_version(text: str) -> tuple[int, int]:
    """``"10.13.0.35"`` -> ``(10, 13)``; anything that is not a version is a GraphfixError."""
    match = _VERSION.match(text) if isinstance(text, str) else None
    if match is None:
        raise GraphfixError(f"cannot read the TensorRT version {text!r} (expected MAJOR.MINOR[.PATCH...], "
                            "e.g. 10.13.0.35)")
    return int(match.group(1)), int(match.group(2))


def _check_supported(version: str) -> tuple[int, int]:
    major_minor = parse_version(version)
    if major_minor < MIN_VERSION:
        raise GraphfixError(f"TensorRT {version} is too old: graphfix needs TensorRT "
                            f"{MIN_VERSION[0]}.{MIN_VERSION[1]} or newer (pip install -U tensorrt; on "
                            "Jetson, a JetPack with TensorRT 8.6+)")
    return major_minor


# -- build plan (plain data) ------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildPlan:
    """How to build for one TensorRT version and precision. Plain data; no TensorRT needed."""

    trt_version: str
    precision: Precision
    # Which ONNX graph to feed the parser: the fp32 graph, graphfix's mixed fp16 graph (fp32 I/O), or
    # its explicit Q/DQ int8 graph.
    onnx_graph: GraphKind
    # The network takes every tensor's type from the ONNX graph (TensorRT 10.12+ here, always in 11).
    strongly_typed: bool
    # Pass NetworkDefinitionCreationFlag.STRONGLY_TYPED when creating the network (10.x only; 11
    # deprecated the flag and ignores it because strong typing is always on).
    strongly_typed_flag: bool
    # Builder precision flags to set (names of trt.BuilderFlag members: "FP16", "INT8").
    builder_flags: frozenset[str]
    notes: tuple[str, ...] = ()

    @property
    def major(self) -> int:
        return parse_version(self.trt_version)[0]

    @property
    def minor(self) -> int:
        return parse_version(self.trt_version)[1]

    def to_dict(self) -> dict[str, object]:
        return {
            "trt_version": self.trt_version,
            "precision": self.precision,
            "onnx_graph": self.onnx_graph,
            "strongly_typed": self.strongly_typed,
            "strongly_typed_flag": self.strongly_typed_flag,
            "builder_flags": sorted(self.builder_flags),
            "notes": list(self.notes),
        }


_PRECISION_GRAPH: dict[str, GraphKind] = {"fp32": "fp32", "fp16": "fp16-mixed", "int8": "int8-qdq"}


def plan_build(trt_version: str, precision: Precision) -> BuildPlan:
    """Which graph, network typing and builder flags a TensorRT version needs for a precision."""
    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    major, minor = _check_supported(trt_version)
    notes: list[str] = []
    if precision == "fp32":
        notes.append("TF32 stays off (Polygraphy's default), so the fp32 engine tracks ONNX Runtime closely")

    if major < 10 or (major, minor) < STRONG_TYPING_VERSION:
        # 8.6, 9.x and 10.0-10.11: weakly typed network, builder precision flags.
        if major == 9:
            notes.append("TensorRT 9 was a limited release; building as for 8.6")
        graph: GraphKind = "int8-qdq" if precision == "int8" else "fp32"
        flags = {"fp32": frozenset(), "fp16": frozenset({"FP16"}), "int8": frozenset({"INT8"})}[precision]
        if precision == "fp16":
            notes.append("FP16 builder flag on the fp32 graph: TensorRT picks fp16 per layer; graphfix's "
                         "fp16 block list is not enforced on a weakly typed network")
        if precision == "int8":
            notes.append("INT8 builder flag with graphfix's explicit Q/DQ graph; no calibrator (explicit "
                         "quantization)")
        return BuildPlan(trt_version, precision, graph, False, False, flags, tuple(notes))

    graph = _PRECISION_GRAPH[precision]
    if major == 10:
        # 10.12+: BuilderFlag.FP16/INT8 are deprecated ("superseded by strong typing").
        if precision != "fp32":
            notes.append("BuilderFlag.FP16/INT8 are deprecated since TensorRT 10.12 (superseded by strong "
                         "typing): a strongly typed network takes its precision from the ONNX graph")
        return BuildPlan(trt_version, precision, graph, True, True, frozenset(), tuple(notes))

    # 11.x and later: no precision flags; strong typing is always on (its creation flag is deprecated).
    notes.append("TensorRT 11 removed the builder precision flags and always builds strongly typed: the "
                 "precision comes from the ONNX graph")
    if major > FLAGLESS_MAJOR:
        notes.append(f"TensorRT {major} is newer than graphfix knows; building as for TensorRT 11")
    return BuildPlan(trt_version, precision, graph, True, False, frozenset(), tuple(notes))


# -- optimisation profile (plain data) --------------------------------------------------------------

ShapeRange = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def profile_shapes(
    specs: Sequence[InputSpec],
    *,
    min_batch: int = 1,
    opt_batch: int,
    max_batch: int,
    pinned: Mapping[str, Sequence[int]] | None = None,
) -> dict[str, ShapeRange]:
    """One optimisation profile: (min, opt, max) shape per input.

    Dim 0 of every input whose dim 0 is dynamic gets the batch range; every other dim comes from the
    model, or from ``pinned`` (``--input-shape``, a full shape whose dim 0 is ignored where the batch
    is dynamic). A non-batch dim that is still dynamic and not pinned is an error: TensorRT needs a
    concrete range and graphfix never guesses one.
    """
    pinned = dict(pinned or {})
    for name, value in (("min batch", min_batch), ("--opt-batch", opt_batch), ("--max-batch", max_batch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise UsageError(f"{name} must be an integer, not {value!r}")
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise UsageError(f"the batch range must satisfy 1 <= min ({min_batch}) <= --opt-batch ({opt_batch}) "
                         f"<= --max-batch ({max_batch})")
    names = [spec.name for spec in specs]
    unknown = sorted(set(pinned) - set(names))
    if unknown:
        raise UsageError(f"--input-shape names no input {unknown[0]!r} (the model's inputs: "
                         f"{', '.join(names) or 'none'})")

    shapes: dict[str, ShapeRange] = {}
    for spec in specs:
        user = pinned.get(spec.name)
        if user is not None:
            user = tuple(int(d) for d in user)
            if any(d < 1 for d in user[1:]):
                raise UsageError(f"--input-shape {spec.name}:{'x'.join(map(str, user))}: dims must be "
                                 "positive")
        dims = spec.dims
        if dims is None:
            if user is None:
                raise GraphfixError(f"input {spec.name!r} has no declared shape; give it with --input-shape "
                                    f"{spec.name}:DIMS (dim 0 is the batch)")
            dims = (None, *user[1:])  # no declared shape: dim 0 is the batch, the rest as pinned
        if user is not None and len(user) != len(dims):
            raise UsageError(f"--input-shape {spec.name}:{'x'.join(map(str, user))} has rank {len(user)}, "
                             f"but the model's input has rank {len(dims)}")
        low: list[int] = []
        opt: list[int] = []
        high: list[int] = []
        for axis, dim in enumerate(dims):
            if axis == 0 and dim is None:
                low.append(min_batch)
                opt.append(opt_batch)
                high.append(max_batch)
                continue
            if user is not None and (axis > 0 or dim is not None):
                wanted = user[axis]
                if dim is not None and wanted != dim:
                    raise GraphfixError(
                        f"--input-shape {spec.name}: dim {axis} is {wanted}, but the model fixes it at "
                        f"{dim}; TensorRT cannot change a static dim (rewrite the model with graphfix fix "
                        f"--input-shape first)")
                value = wanted
            elif dim is not None:
                value = dim
            else:
                raise GraphfixError(
                    f"input {spec.name!r} dim {axis} is dynamic and TensorRT needs a value for it (GF301): "
                    f"pin it with --input-shape {spec.name}:{_example_shape(dims)}")
            low.append(value)
            opt.append(value)
            high.append(value)
        shapes[spec.name] = (tuple(low), tuple(opt), tuple(high))
    return shapes


def _example_shape(dims: Sequence[int | None]) -> str:
    """``(None, 3, None, None)`` -> ``1x3x<dim2>x<dim3>``: what to fill in for ``--input-shape``."""
    return "x".join(str(d) if d is not None else ("1" if axis == 0 else f"<dim{axis}>")
                    for axis, d in enumerate(dims))


def feeds_for_batches(
    profile: Mapping[str, ShapeRange], batches: Sequence[int]
) -> dict[int, dict[str, tuple[int, ...]]]:
    """Concrete input shapes per batch for ``compare_engine``: the batch goes where the profile has a
    batch range (dim 0 with min != max), everything else is the profile's opt shape."""
    feeds: dict[int, dict[str, tuple[int, ...]]] = {}
    for batch in batches:
        shapes: dict[str, tuple[int, ...]] = {}
        for name, (low, opt, high) in profile.items():
            if low and low[0] != high[0]:
                if not low[0] <= batch <= high[0]:
                    raise UsageError(f"batch {batch} is outside the engine's batch range {low[0]}..{high[0]} "
                                     f"for input {name!r}")
                shapes[name] = (batch, *opt[1:])
            else:
                shapes[name] = tuple(opt)
        feeds[batch] = shapes
    return feeds


def default_engine_path(output: str | os.PathLike[str]) -> Path:
    """The engine beside the (fixed) ONNX output: ``model.onnx`` -> ``model.engine``."""
    return Path(output).with_suffix(".engine")


def default_timing_cache_path(engine_path: str | os.PathLike[str], trt_version: str) -> Path:
    """The timing cache kept next to the engine, named by TensorRT major.minor (caches do not carry over
    between TensorRT versions)."""
    major, minor = parse_version(trt_version)
    engine_path = Path(engine_path)
    return engine_path.with_name(f"{engine_path.stem}.trt{major}.{minor}.timing.cache")


# -- parser errors -> rules (plain data) ------------------------------------------------------------

# Ops whose shape-carrying inputs TensorRT needs as build-time constants in some versions; graphfix's
# GF101 folds run-time computed shape inputs into constants.
_SHAPE_INPUT_OPS = frozenset({
    "Reshape", "Expand", "Tile", "ConstantOfShape", "Slice", "Range", "Squeeze", "Unsqueeze", "Pad", "TopK",
    "OneHot", "CumSum", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
    "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "Split", "Upsample",
})
_PLUGIN_TEXT = re.compile(r"plugin not found|no importer registered|could not find plugin|getplugincreator"
                          r"|plugin creator", re.IGNORECASE)
_RESHAPE_VOLUME = re.compile(r"reshap\w*.*?volume|volume.*?reshap", re.IGNORECASE | re.DOTALL)
_WILDCARD = re.compile(r"-1|wildcard|infer(?:red)? dim|cannot (?:be )?infer", re.IGNORECASE)
_CONSTANT_NEEDED = re.compile(r"initializer|must be (?:a )?constant|build[- ]time constant|shape tensor"
                              r"|is_weights|static values?", re.IGNORECASE)
_DATA_DEPENDENT = re.compile(r"data[- ]dependent", re.IGNORECASE)


def rule_for_parser_error(op_type: str | None, message: str) -> str | None:
    """The graphfix rule whose fix removes the cause of a TensorRT parser or builder error, if any.

    ``op_type`` is the failing node's op (None when TensorRT did not say, e.g. a builder error);
    ``message`` is TensorRT's text. Returns a rule code or None.
    """
    op = (op_type or "").strip()
    text = message or ""
    if op == "Plugin" or _PLUGIN_TEXT.search(text):
        return plugin_rule()
    if op in ("Resize", "Upsample") or (not op and re.search(r"\bresize\b", text, re.IGNORECASE)):
        if re.search(r"\bsizes\b", text, re.IGNORECASE):
            return "GF201"
        if re.search(r"\bscales?\b", text, re.IGNORECASE):
            return "GF202"
        return None
    if op == "Reshape" or not op:
        if _RESHAPE_VOLUME.search(text):
            return "GF103"
        if op == "Reshape" and _WILDCARD.search(text):
            return "GF102"
    if _DATA_DEPENDENT.search(text):
        return "GF901"
    if op in _SHAPE_INPUT_OPS and _CONSTANT_NEEDED.search(text):
        return "GF101"
    return None


def plugin_rule() -> str:
    """The rule for unknown ops and plugins: the first registered GF4xx rule, else GF902 (which reports
    custom ops it cannot analyse)."""
    try:
        from graphfix.engine import all_rules

        codes = sorted(rule.code for rule in all_rules() if rule.code.startswith("GF4"))
    except Exception:  # noqa: BLE001 - the mapping must not fail because the rule registry did
        codes = []
    return codes[0] if codes else "GF902"


def _rule_name(code: str) -> str | None:
    try:
        from graphfix.engine import rule_by_code

        return rule_by_code(code).name
    except Exception:  # noqa: BLE001
        return None


@dataclass(frozen=True)
class ParserIssue:
    """One error from TensorRT's ONNX parser, with the graphfix rule that addresses it (if any)."""

    node_index: int | None
    node_name: str | None
    op_type: str | None
    code: str | None
    message: str
    rule: str | None

    def describe(self) -> str:
        where = []
        if self.node_name:
            where.append(f"node {self.node_name!r}")
        elif self.node_index is not None and self.node_index >= 0:
            where.append(f"node #{self.node_index}")
        if self.op_type:
            where.append(f"({self.op_type})")
        head = " ".join(where) or "the model"
        return f"{head}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))


def _first_line(text: str) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def _compact(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _call(obj: Any, method: str) -> Any:
    function = getattr(obj, method, None)
    if function is None:
        return None
    try:
        return function()
    except Exception:  # noqa: BLE001 - an accessor this TensorRT does not implement
        return None


def parser_issues(parser: Any, nodes: Sequence[tuple[str, str]] = ()) -> list[ParserIssue]:
    """The errors of a ``trt.OnnxParser`` after a failed parse.

    TensorRT 10+ errors name the node and its op (``node_name()``, ``node_operator()``); 8.6 gives only
    the node's index, which ``nodes`` (the ONNX graph's ``(name, op_type)`` in order) resolves.
    """
    issues = []
    for index in range(int(parser.num_errors)):
        error = parser.get_error(index)
        node_index = _call(error, "node")
        node_index = int(node_index) if isinstance(node_index, (int, np.integer)) else None
        name = _call(error, "node_name") or None
        op_type = _call(error, "node_operator") or None
        if (name is None or op_type is None) and node_index is not None and 0 <= node_index < len(nodes):
            name = name or nodes[node_index][0] or None
            op_type = op_type or nodes[node_index][1] or None
        code = _call(error, "code")
        desc = _call(error, "desc") or str(error)
        message = _compact(desc)
        issues.append(ParserIssue(node_index, name, op_type, None if code is None else str(code), message,
                                  rule_for_parser_error(op_type, desc)))
    return issues


# TensorRT 10+: "In node 3 with name: /Resize and operator: Resize (importResize): UNSUPPORTED_NODE: ..."
# TensorRT 8.6: "In node 3 (importResize): UNSUPPORTED_NODE: ..."
_ERROR_TEXT = re.compile(
    r"In node (?P<index>-?\d+)(?: with name: (?P<name>.*?) and operator: (?P<op>\S*))?\s*"
    r"\((?P<func>[^)]*)\): (?P<code>[A-Z_]+): (?P<desc>.*)", re.DOTALL)


def issues_from_text(lines: Sequence[str], nodes: Sequence[tuple[str, str]] = ()) -> list[ParserIssue]:
    """Parser issues from the text of TensorRT's parser errors (a fallback when the parser object is gone)."""
    issues = []
    for line in lines:
        match = _ERROR_TEXT.search(line)
        if match is None:
            continue
        index = int(match.group("index"))
        name = (match.group("name") or "").strip() or None
        op_type = (match.group("op") or "").strip() or None
        if (name is None or op_type is None) and 0 <= index < len(nodes):
            name = name or nodes[index][0] or None
            op_type = op_type or nodes[index][1] or None
        desc = match.group("desc")
        issues.append(ParserIssue(index, name, op_type, match.group("code"), _compact(desc),
                                  rule_for_parser_error(op_type, desc)))
    return issues


class TensorRTBuildError(GraphfixError):
    """TensorRT could not parse the model or build the engine; one line, with the rule that helps."""

    def __init__(self, message: str, issues: Sequence[ParserIssue] = (), rule: str | None = None) -> None:
        super().__init__(message)
        self.issues = list(issues)
        self.rule = rule


def _rule_hint(rule: str | None) -> str:
    if rule is None:
        return "no graphfix rule covers this"
    name = _rule_name(rule)
    label = f"{rule} {name}" if name else rule
    return f"graphfix rule {label} covers this (graphfix lint / graphfix rule {rule})"


def parse_failure(source: str, version: str, issues: Sequence[ParserIssue]) -> TensorRTBuildError:
    """The one-line error for a failed parse: the first issue that has a rule (else the first issue)."""
    if not issues:
        return TensorRTBuildError(f"{source}: TensorRT {version} cannot parse the model (it gave no parser "
                                  "errors; run with --verbose for TensorRT's log)")
    main = next((issue for issue in issues if issue.rule), issues[0])
    more = f" (+{len(issues) - 1} more parser errors)" if len(issues) > 1 else ""
    return TensorRTBuildError(f"{source}: TensorRT {version} cannot parse {main.describe()}; "
                              f"{_rule_hint(main.rule)}{more}", issues, main.rule)


def build_failure(source: str, version: str, errors: Sequence[str], fallback: str,
                  timing_cache: Path | None = None) -> TensorRTBuildError:
    """The one-line error for a failed build, from TensorRT's logged errors."""
    rules = [rule_for_parser_error(None, error) for error in errors]
    index = next((i for i, rule in enumerate(rules) if rule), 0)
    text = _compact(errors[index]) if errors else _compact(fallback)
    rule = rules[index] if errors else rule_for_parser_error(None, fallback)
    cache = (f"; if the timing cache {timing_cache} comes from another TensorRT or GPU, delete it"
             if timing_cache is not None and timing_cache.exists() else "")
    return TensorRTBuildError(f"{source}: TensorRT {version} failed to build the engine: {text}; "
                              f"{_rule_hint(rule)}{cache}", rule=rule)


# -- Polygraphy log capture -------------------------------------------------------------------------

# Polygraphy's own notes that say nothing about the model: no colours, first use of a timing cache.
_BENIGN_WARNING = re.compile(r"'colored' module is not installed|Timing cache file .* not found")


@dataclass
class _Log:
    text: str = ""

    def entries(self, letters: str = "E!") -> list[str]:
        """Messages Polygraphy logged with one of the given severity letters ([E] error, [!] critical,
        [W] warning); a message's continuation lines are indented and stay with it."""
        found: list[str] = []
        current: list[str] | None = None
        for line in self.text.splitlines():
            match = re.match(r"^\[([A-Z!])\] ?(.*)$", line)
            if match:
                if current is not None:
                    found.append("\n".join(current))
                current = [match.group(2)] if match.group(1) in letters else None
            elif current is not None:
                current.append(line.strip())
        if current is not None:
            found.append("\n".join(current))
        return found


@contextlib.contextmanager
def _polygraphy_log(verbose: bool = False) -> Iterator[_Log]:
    """Capture what Polygraphy (and TensorRT through Polygraphy's logger) prints, warnings and above."""
    log = _Log()
    if verbose:
        yield log
        return
    from polygraphy.logger import G_LOGGER

    severity = G_LOGGER.module_severity
    G_LOGGER.module_severity = G_LOGGER.WARNING
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield log
    finally:
        G_LOGGER.module_severity = severity
        log.text = buffer.getvalue()


# -- engine build -----------------------------------------------------------------------------------


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


def onnx_nodes(onnx_path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(name, op_type)`` of the main graph's nodes, read without weights."""
    import onnx

    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception:  # noqa: BLE001 - only used to name nodes in error messages
        return []
    return [(node.name, node.op_type) for node in model.graph.node]


def check_graph_for_plan(onnx_path: str | os.PathLike[str], plan: BuildPlan) -> None:
    """The graph must be the kind the plan feeds: Q/DQ nodes for an int8 build, fp16 tensors for a
    strongly typed fp16 build (otherwise the engine silently has another precision)."""
    if plan.onnx_graph == "fp32":
        return
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    graphs = [model.graph] + [function for function in model.functions]
    nodes = []
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            nodes.append(node)
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    graphs.append(attribute.g)
                graphs.extend(attribute.graphs)
    ops = {node.op_type for node in nodes}
    if plan.onnx_graph == "int8-qdq":
        if not {"QuantizeLinear", "DequantizeLinear"} & ops:
            raise GraphfixError(f"{onnx_path}: an int8 build needs graphfix's Q/DQ int8 graph, but this "
                                "model has no QuantizeLinear/DequantizeLinear nodes (make it with graphfix's "
                                "int8 precision step)")
        return
    fp16 = onnx.TensorProto.FLOAT16
    has_fp16 = (
        any(init.data_type == fp16 for init in model.graph.initializer)
        or any(value.type.tensor_type.elem_type == fp16
               for value in [*model.graph.value_info, *model.graph.input, *model.graph.output])
        or any(attribute.name == "to" and attribute.i == fp16
               for node in nodes if node.op_type in ("Cast", "CastLike") for attribute in node.attribute)
        or any(attribute.t.data_type == fp16 for node in nodes if node.op_type == "Constant"
               for attribute in node.attribute if attribute.name == "value")
    )
    if not has_fp16:
        raise GraphfixError(f"{onnx_path}: TensorRT {plan.trt_version} builds fp16 from the graph (strongly "
                            "typed), but this model has no float16 tensors (make the mixed fp16 graph with "
                            "graphfix's fp16 precision step)")


def write_atomic(path: str | os.PathLike[str], data: Any) -> int:
    """Write a bytes-like object (bytes, ``trt.IHostMemory``) to ``path`` through a temporary file in the
    same folder, so a partial file never remains. Returns the number of bytes written."""
    path = Path(path)
    view = memoryview(data)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(view)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return view.nbytes


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
    version = require_tensorrt()
    if parse_version(version) != parse_version(plan.trt_version):
        raise GraphfixError(f"the build plan is for TensorRT {plan.trt_version}, but TensorRT {version} is "
                            "installed (make the plan from tensorrt_status().version)")
    if optimization_level is not None and not 0 <= optimization_level <= MAX_OPTIMIZATION_LEVEL:
        raise UsageError(f"--optimization-level {optimization_level}: expected 0 to {MAX_OPTIMIZATION_LEVEL}")
    if workspace_bytes is not None and workspace_bytes <= 0:
        raise UsageError(f"--workspace {workspace_bytes}: expected a positive size")
    if not onnx_path.is_file():
        raise GraphfixError(f"{onnx_path}: no such file")
    if not engine_path.parent.is_dir():
        raise GraphfixError(f"{engine_path}: the folder {engine_path.parent} does not exist")
    check_graph_for_plan(onnx_path, plan)
    try:
        import tensorrt as trt
        from polygraphy.backend.trt import CreateConfig, EngineBytesFromNetwork, NetworkFromOnnxPath, Profile
        from polygraphy.exception import PolygraphyException
    except ImportError as error:
        raise GraphfixError(f"the TensorRT backend needs polygraphy ({error.name} is missing): "
                            "pip install 'graphfix[verify]'") from error

    trt_profile = Profile()
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
    with _polygraphy_log(verbose) as parse_log:
        if plan.major < FLAGLESS_MAJOR:  # BuilderFlag.FP16/INT8 exist up to 10.x (gone in 11)
            config = CreateConfig(
                fp16="FP16" in plan.builder_flags,
                int8="INT8" in plan.builder_flags,
                profiles=[trt_profile],
                memory_pool_limits=pools,
                load_timing_cache=cache,
                builder_optimization_level=optimization_level,
            )
        else:  # 11.x: no precision flags; the strongly typed graph carries the precision
            config = CreateConfig(
                profiles=[trt_profile],
                memory_pool_limits=pools,
                load_timing_cache=cache,
                builder_optimization_level=optimization_level,
            )
        try:
            # (builder, network, parser); keep the tuple alive until the build is done.
            if plan.major >= 10:  # NetworkDefinitionCreationFlag.STRONGLY_TYPED exists from 10.0
                network = NetworkFromOnnxPath(str(onnx_path), strongly_typed=plan.strongly_typed_flag)()
            else:
                network = NetworkFromOnnxPath(str(onnx_path))()
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
    with _polygraphy_log(verbose) as build_log:
        try:
            engine = EngineBytesFromNetwork(network, config=config, save_timing_cache=cache)()
        except PolygraphyException as error:
            failure = _first_line(str(error))
        except Exception as error:  # noqa: BLE001 - a TensorRT binding error, not a graphfix bug
            failure = f"{type(error).__name__}: {_first_line(str(error))}"
    if engine is None or failure:
        errors = [entry for entry in build_log.entries("E") if entry.strip()]
        raise build_failure(str(onnx_path), version, errors, failure or "no engine",
                            cache_path if reused else None)
    seconds = time.perf_counter() - start
    size = write_atomic(engine_path, engine)
    del engine, network
    logged = [_first_line(w) for w in [*parse_log.entries("W"), *build_log.entries("W")]]
    warnings = list(dict.fromkeys(w for w in logged if w and not _BENIGN_WARNING.search(w)))
    shapes: dict[str, ShapeRange] = {name: (tuple(low), tuple(opt), tuple(high))
                                     for name, (low, opt, high) in profile.items()}
    return EngineReport(engine_path, size, version, plan, shapes, workspace_bytes, optimization_level,
                        cache_path, reused, seconds, warnings)


def _diagnose_parse(onnx_path: Path, plan: BuildPlan, nodes: Sequence[tuple[str, str]]) -> list[ParserIssue]:
    """Parse again, keeping the parser, to read its structured errors (Polygraphy only logs them)."""
    try:
        import tensorrt as trt
        from polygraphy.backend.trt import CreateNetwork
        from polygraphy.backend.trt import util as trt_util

        with _polygraphy_log():
            if plan.major >= 10:  # NetworkDefinitionCreationFlag.STRONGLY_TYPED exists from 10.0
                builder, network = CreateNetwork(strongly_typed=plan.strongly_typed_flag)()
            else:
                builder, network = CreateNetwork()()
            logger = trt_util.get_trt_logger()
            trt.init_libnvinfer_plugins(logger, "")
            parser = trt.OnnxParser(network, logger)
            parser.parse_from_file(str(onnx_path))
            issues = parser_issues(parser, nodes)
        del parser, network, builder
        return issues
    except Exception:  # noqa: BLE001 - diagnostics only; the caller falls back to the logged text
        return []


# -- engine vs ONNX Runtime -------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    # Polygraphy's check_error_stat: "elemwise" fails an output when any element misses both
    # tolerances; "quantile" checks the 99th percentile errors.
    check_error_stat: str = "elemwise"


# TF32 is off (Polygraphy's default), so fp32 engines differ from ONNX Runtime only by kernel order.
TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(1e-4, 1e-3),
    "fp16": Tolerance(1e-2, 1e-2),
    "int8": Tolerance(1e-1, 1e-1, "quantile"),
}


def compare_engine(
    engine_path: str | os.PathLike[str],
    onnx_path: str | os.PathLike[str],
    feeds_by_batch: Mapping[int, Mapping[str, tuple[int, ...]]],
    *,
    precision: Precision = "fp32",
    dtypes: Mapping[str, np.dtype] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    seed: int = 0,
) -> Verification:
    """Run the engine (TensorRT) and the original model (ONNX Runtime, CPU) through Polygraphy's
    Comparator on the same seeded inputs at each batch, and compare every output with the precision's
    tolerances (ONNX Runtime is the reference: relative errors are relative to it)."""
    require_tensorrt()
    try:
        from polygraphy.backend.common import BytesFromPath
        from polygraphy.backend.onnxrt import OnnxrtRunner, SessionFromOnnx
        from polygraphy.backend.trt import EngineFromBytes, TrtRunner
    except ImportError as error:
        raise GraphfixError(f"comparing an engine needs polygraphy and onnxruntime ({error.name} is "
                            "missing): pip install 'graphfix[verify]'") from error
    if precision not in TOLERANCES:
        raise UsageError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    base = TOLERANCES[precision]
    tolerance = Tolerance(base.atol if atol is None else atol, base.rtol if rtol is None else rtol,
                          base.check_error_stat)
    if dtypes is None:
        dtypes = onnx_input_dtypes(onnx_path)
    runners = [
        TrtRunner(EngineFromBytes(BytesFromPath(str(engine_path))), name="tensorrt"),
        OnnxrtRunner(SessionFromOnnx(str(onnx_path), providers=["cpu"]), name="onnxruntime"),
    ]
    return compare_runners(runners, feeds_by_batch, dtypes=dtypes, ranges=ranges or {}, tolerance=tolerance,
                           seed=seed)


def onnx_input_dtypes(onnx_path: str | os.PathLike[str]) -> dict[str, np.dtype]:
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    model = onnx.load(str(onnx_path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    return {value.name: np.dtype(tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type))
            for value in model.graph.input if value.name not in initializers}


def compare_runners(
    runners: Sequence[Any],
    feeds_by_batch: Mapping[int, Mapping[str, tuple[int, ...]]],
    *,
    dtypes: Mapping[str, np.dtype],
    ranges: Mapping[str, tuple[float, float]],
    tolerance: Tolerance,
    seed: int = 0,
) -> Verification:
    """Polygraphy's Comparator over two runners (candidate first, reference second) at each batch."""
    from polygraphy.common import TensorMetadata
    from polygraphy.comparator import Comparator, DataLoader
    from polygraphy.comparator.compare import SimpleCompareFunc

    outputs: list[OutputError] = []
    messages: list[str] = []
    with _polygraphy_log() as log:
        for batch, shapes in feeds_by_batch.items():
            metadata = TensorMetadata()
            for name, shape in shapes.items():
                metadata.add(name, dtypes[name], tuple(shape))
            loader = DataLoader(seed=seed + batch, iterations=1, input_metadata=metadata,
                                val_range={name: ranges[name] for name in shapes if name in ranges} or None)
            try:
                results = Comparator.run(runners, data_loader=loader)
            except Exception as error:  # noqa: BLE001 - a runner that fails is a failed comparison
                messages.append(f"batch {batch}: a runner failed: {_first_line(str(error))}")
                continue
            if not results or len(results) < 2:
                messages.append(f"batch {batch}: a runner failed to run")
                continue
            compare_func = SimpleCompareFunc(atol=tolerance.atol, rtol=tolerance.rtol, check_shapes=True,
                                             check_error_stat=tolerance.check_error_stat)
            try:
                accuracy = Comparator.compare_accuracy(results, compare_func=compare_func)
            except Exception as error:  # noqa: BLE001 - e.g. outputs of different shapes
                messages.append(f"batch {batch}: outputs cannot be compared: {_first_line(str(error))}")
                continue
            for pairs in accuracy:  # one AccuracyResult per comparison: {(runner, runner): [iteration]}
                for iterations in pairs.values():
                    for compared in iterations:
                        for name, result in compared.items():
                            outputs.append(OutputError(name, batch, float(result.max_absdiff),
                                                       float(result.max_reldiff), bool(result)))
    passed = not messages and bool(outputs) and all(o.passed for o in outputs)
    if not passed and not messages:
        bad = [o for o in outputs if not o.passed]
        messages.extend(f"output {o.output!r} differs at batch {o.batch}: max abs error {o.max_abs:.3g}, "
                        f"max rel error {o.max_rel:.3g}" for o in bad)
        if not outputs:
            errors = log.entries("E!")
            messages.append(f"nothing was compared{': ' + _first_line(errors[0]) if errors else ''}")
    return Verification(passed, list(feeds_by_batch), outputs, "; ".join(messages))
