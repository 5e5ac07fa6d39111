"""Checking a model against a TensorRT support table: what the GF5xx rules share.

``sites`` lists every node TensorRT's ONNX parser imports (the main graph, If/Loop/Scan bodies, and the
bodies of local functions on versions that import them), with the default-domain opset in effect.
``violations`` evaluates one node against the table's restrictions for its op type and yields a
``Violation`` per restriction it breaks. Each violation says what the node has, what the parser does
with it, and whether that was decided from the graph (``decided``) or could not be (a restriction the
table marks ``static: false``, or a fact the shape analysis does not know, such as the shape of a value
inside a subgraph): undecided violations become information findings.

Everything here reads the model and the analysis; nothing mutates them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnx.defs
import onnx_ir as ir

from graphfix.analyse.analysis import Analysis
from graphfix.analyse.evaluator import NotEvaluable, attribute, constant_value
from graphfix.analyse.facts import Kind
from graphfix.ir.graphutil import node_label
from graphfix.targets import is_default_domain
from graphfix.targets._support import (
    AttributeAbsent,
    AttributeDefaultDiffers,
    AttributeDtype,
    AttributeIgnored,
    AttributeInts,
    AttributeRequires,
    AttributeValue,
    BidirectionalActivationsEqual,
    Dtype,
    EinsumEquation,
    InputAbsent,
    InputConstant,
    InputNotConstant,
    InputRequired,
    InputStaticShape,
    InputValue,
    OperatorVersion,
    OutputAbsent,
    QdqBlockSingleAxis,
    QdqBlockUnsupported,
    QdqScalePositive,
    QdqZeroPointZero,
    Rank,
    ResizeScaledDims,
    Restriction,
    SplitEqualParts,
    SqueezeAxesRequiredForDynamic,
    SupportTable,
    Text,
    ValueMax,
)

# The largest initializer whose values a check reads (lint never pages in weights).
MAX_READ_ELEMENTS = 1 << 16
QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})


@dataclass(frozen=True)
class Site:
    """A node the parser imports, with the default-domain opset in effect and where it sits."""

    node: ir.Node
    opset: int
    scope: str = ""  # "" for the main graph; "in the then_branch of If 'x'", "in function 'f'"
    analysed: bool = True  # the shape analysis has facts for its values

    @property
    def label(self) -> str:
        return node_label(self.node) + (f" ({self.scope})" if self.scope else "")


@dataclass(frozen=True)
class Violation:
    """A node that breaks one restriction (or a table-level fact when ``restriction`` is None)."""

    site: Site
    restriction: Restriction | None
    problem: str  # what the node has: "mode is 'area'"
    decided: bool = True  # False: the graph alone could not decide it
    fix_value: np.ndarray | None = None  # a constant that replaces the input (input-constant fixes)
    fix_input: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _opset_of(imports: dict[str, int], fallback: int) -> int:
    return imports.get("", imports.get("ai.onnx", fallback))


def sites(analysis: Analysis, table: SupportTable) -> Iterator[Site]:
    """Every node the parser imports: main graph (topological order), subgraphs, and local function bodies
    when ``table`` imports local functions (from TensorRT 10.0; 8.6 sends a call to the plugin path)."""
    model = analysis.model
    opset = analysis.opset
    for node in analysis.order:
        yield Site(node, opset)
        yield from _subgraph_sites(node, opset)
    if not table.dispatch.get("local_functions", False):
        return
    called = {(n.domain, n.op_type, n.overload) for n in _all_nodes(model)}
    for function in model.functions.values():
        if (function.domain, function.name, function.overload) not in called:
            continue
        inner = _opset_of(dict(function.opset_imports), opset)
        for node in function:
            yield Site(node, inner, f"in function {function.name!r}")
            yield from _subgraph_sites(node, inner)


def _subgraph_sites(node: ir.Node, opset: int) -> Iterator[Site]:
    for name, attr in node.attributes.items():
        graphs: list[ir.Graph] = []
        if attr.type is ir.AttributeType.GRAPH:
            graphs = [attr.value]
        elif attr.type is ir.AttributeType.GRAPHS:
            graphs = list(attr.value)
        for graph in graphs:
            scope = f"in the {name} of {node.op_type} {node_label(node)!r}"
            for inner in graph:
                yield Site(inner, opset, scope, analysed=False)
                yield from _subgraph_sites(inner, opset)


def _all_nodes(model: ir.Model) -> Iterator[ir.Node]:
    stack: list[ir.Graph | ir.Function] = [model.graph, *model.functions.values()]
    while stack:
        graph = stack.pop()
        for node in graph:
            yield node
            for attr in node.attributes.values():
                if attr.type is ir.AttributeType.GRAPH:
                    stack.append(attr.value)
                elif attr.type is ir.AttributeType.GRAPHS:
                    stack.extend(attr.value)


def local_function_calls(model: ir.Model) -> Iterator[tuple[ir.Node, ir.Function]]:
    """Nodes of the main graph (and its subgraphs) that call a local function."""
    functions = {(f.domain, f.name, f.overload): f for f in model.functions.values()}
    stack: list[ir.Graph] = [model.graph]
    while stack:
        graph = stack.pop()
        for node in graph:
            function = functions.get((node.domain, node.op_type, node.overload))
            if function is not None:
                yield node, function
            for attr in node.attributes.values():
                if attr.type is ir.AttributeType.GRAPH:
                    stack.append(attr.value)
                elif attr.type is ir.AttributeType.GRAPHS:
                    stack.extend(attr.value)


# -- facts about values --------------------------------------------------------------------------------


def dtype_name(analysis: Analysis, value: ir.Value | None) -> str | None:
    """The element type's TensorProto name (``"INT64"``), or None when unknown."""
    if value is None:
        return None
    facts = analysis.facts.get(value)
    code = facts.dtype if facts is not None and facts.dtype else 0
    if not code and value.dtype is not None:
        code = int(value.dtype.value)
    if not code and value.const_value is not None:
        code = int(value.const_value.dtype.value)
    if not code:
        return None
    try:
        return str(onnx.TensorProto.DataType.Name(code))
    except ValueError:
        return None


def rank(analysis: Analysis, value: ir.Value | None) -> int | None:
    if value is None:
        return None
    facts = analysis.facts.get(value)
    if facts is not None and facts.shapes and facts.shapes[0] is not None:
        return len(facts.shapes[0])
    if value.shape is not None:
        return len(value.shape)
    if value.const_value is not None:
        return len(value.const_value.shape)
    return None


def dim_kinds(analysis: Analysis, value: ir.Value) -> list[Kind] | None:
    """Per axis: CONSTANT (static), BATCH or DYNAMIC (changes at run time), UNKNOWN; None: rank unknown."""
    facts = analysis.facts.get(value)
    if facts is not None and facts.shapes and all(s is not None for s in facts.shapes):
        ranks = {len(s) for s in facts.shapes}  # type: ignore[arg-type]
        if len(ranks) == 1:
            return [analysis.dim_kind(value, axis) for axis in range(ranks.pop())]
    if value.const_value is not None:
        return [Kind.CONSTANT] * len(value.const_value.shape)
    if value.shape is not None:
        return [Kind.CONSTANT if isinstance(d, int) else Kind.DYNAMIC for d in value.shape]
    return None


def static_shape(analysis: Analysis, value: ir.Value) -> tuple[int, ...] | None:
    """The shape when every dim is the same at every probe."""
    kinds = dim_kinds(analysis, value)
    if kinds is None or any(k is not Kind.CONSTANT for k in kinds):
        return None
    facts = analysis.facts.get(value)
    if facts is not None and facts.shapes and facts.shapes[0] is not None:
        return tuple(int(d) for d in facts.shapes[0])  # type: ignore[arg-type]
    if value.const_value is not None:
        return tuple(int(d) for d in value.const_value.shape)  # type: ignore[arg-type]
    if value.shape is not None:
        return tuple(int(d) for d in value.shape)  # type: ignore[arg-type]
    return None


def is_weights(value: ir.Value) -> bool:
    """An initializer or a Constant node's output: what the parser calls weights."""
    if value.const_value is not None:
        return True
    producer = value.producer()
    return producer is not None and producer.op_type == "Constant" and is_default_domain(producer.domain)


def constant_array(analysis: Analysis, value: ir.Value | None) -> np.ndarray | None:
    """The value when the graph fixes it: an initializer (small), a Constant, or a value the analysis finds
    equal at every probe. None when it is computed from data or too large to read for lint."""
    if value is None:
        return None
    tensor = value.const_value
    if tensor is not None:
        if tensor.size > MAX_READ_ELEMENTS:
            return None
        try:
            return np.asarray(tensor.numpy())
        except Exception:  # noqa: BLE001 - unreadable external data: unknown here
            return None
    producer = value.producer()
    if producer is not None and producer.op_type == "Constant" and is_default_domain(producer.domain):
        array = constant_value(producer)
        if array is not None:
            return array
    facts = analysis.facts.get(value)
    if facts is not None and analysis.value_kind(value) is Kind.CONSTANT:
        return facts.values[0]
    return None


def _present(node: ir.Node, index: int) -> ir.Value | None:
    if index < len(node.inputs):
        value = node.inputs[index]
        if value is not None and value.name != "":
            return value
    return None


def _attr(node: ir.Node, name: str, default: Any = None) -> Any:
    try:
        value = attribute(node, name, default)
    except NotEvaluable:
        return _UNKNOWN
    if isinstance(value, np.ndarray):
        return value
    return value


_UNKNOWN = object()  # an attribute that refers to the calling function's attribute


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b) and all(
            _same(x, y) for x, y in zip(a, b))
    if isinstance(a, bytes):
        a = a.decode()
    if isinstance(b, bytes):
        b = b.decode()
    if isinstance(a, float) or isinstance(b, float):
        try:
            return bool(np.isclose(float(a), float(b)))
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# -- evaluating restrictions -----------------------------------------------------------------------------


def violations(analysis: Analysis, table: SupportTable, site: Site) -> Iterator[Violation]:
    """The restrictions of ``table`` that ``site``'s node breaks (default-domain nodes only)."""
    node = site.node
    if not is_default_domain(node.domain):
        return
    for restriction in table.restrictions(node.op_type):
        if not restriction.applies_at(site.opset):
            continue
        found = _check(analysis, site, restriction)
        if found is not None:
            yield found


def _check(analysis: Analysis, site: Site, r: Restriction) -> Violation | None:  # noqa: C901, PLR0911, PLR0912
    node = site.node

    def violation(problem: str, decided: bool = True, **extra: Any) -> Violation:
        return Violation(site, r, problem, decided and r.static, **extra)

    if isinstance(r, Text):
        return _check_text(analysis, site, r)
    if isinstance(r, OperatorVersion):
        try:
            since = onnx.defs.get_schema(node.op_type, site.opset).since_version
        except onnx.defs.SchemaError:
            return None
        if since > r.max_since_version:
            return violation(f"opset {site.opset} selects {node.op_type}-{since}; the importer implements "
                             f"{node.op_type} up to version {r.max_since_version}")
        return None
    if isinstance(r, AttributeValue):
        value = _attr(node, r.attribute, r.default)
        if value is _UNKNOWN:
            return violation(f"{r.attribute} comes from the calling function", decided=False)
        if value is None or any(_same(value, allowed) for allowed in r.allowed):
            return None
        return violation(f"{r.attribute} is {_show(value)} (allowed: {', '.join(_show(a) for a in r.allowed)})")
    if isinstance(r, AttributeAbsent):
        if r.attribute in node.attributes:
            return violation(f"it sets {r.attribute}")
        return None
    if isinstance(r, AttributeIgnored):
        if r.attribute not in node.attributes:
            return None
        value = _attr(node, r.attribute)
        if value is _UNKNOWN:
            return violation(f"{r.attribute} comes from the calling function", decided=False)
        if r.default is not None and _same(value, r.default):
            return None
        if r.attribute == "axes" and node.op_type == "Resize":
            data_rank = rank(analysis, _present(node, 0))
            if data_rank is not None and list(value) == list(range(data_rank)):
                return None  # every axis in order: what the importer assumes
        return violation(f"{r.attribute} is {_show(value)}")
    if isinstance(r, AttributeInts):
        value = _attr(node, r.attribute)
        if value is None or value is _UNKNOWN:
            return None if value is None else violation(f"{r.attribute} comes from the calling function", False)
        values = [int(v) for v in value]
        if r.check == "all-ones" and any(v != 1 for v in values):
            return violation(f"{r.attribute} is {values}")
        if r.check == "symmetric-pads":
            half = len(values) // 2
            if values[:half] != values[half:]:
                return violation(f"{r.attribute} is {values} (begin {values[:half]} != end {values[half:]})")
        return None
    if isinstance(r, AttributeRequires):
        for name, wanted in r.condition.items():
            actual = _attr(node, name, r.defaults.get(name))
            if actual is _UNKNOWN or not _same(actual, wanted):
                return None
        value = _attr(node, r.attribute, r.defaults.get(r.attribute))
        if value is _UNKNOWN or any(_same(value, allowed) for allowed in r.allowed):
            return None
        condition = ", ".join(f"{k}={_show(v)}" for k, v in r.condition.items())
        return violation(f"with {condition}, {r.attribute} is {_show(value)} "
                         f"(allowed: {', '.join(_show(a) for a in r.allowed)})")
    if isinstance(r, AttributeDtype):
        type_name = _attribute_dtype(node, r.attribute)
        if type_name is None:
            return None
        name = type_name
        if (r.allowed is not None and name not in r.allowed) or (r.disallowed is not None and name in r.disallowed):
            return violation(f"{r.attribute} is {name}")
        return None
    if isinstance(r, AttributeDefaultDiffers):
        if r.attribute in node.attributes:
            return None
        scale = _present(node, 1)
        scale_rank = rank(analysis, scale) if scale is not None else None
        shape = static_shape(analysis, scale) if scale is not None else None
        per_axis = scale_rank == 1 and (shape is None or shape[0] != 1)
        if r.applies == "per-axis" and per_axis:
            return violation(f"its scale is per-axis and {r.attribute} is not set (ONNX's default is "
                             f"{r.onnx_default}, the parser's {r.parser_default})",
                             decided=shape is not None)
        return None
    if isinstance(r, BidirectionalActivationsEqual):
        if _attr(node, "direction", "forward") != "bidirectional":
            return None
        for name in ("activations", "activation_alpha", "activation_beta"):
            value = _attr(node, name)
            if value is None or value is _UNKNOWN:
                continue
            half = len(value) // 2
            if half and list(value[:half]) != list(value[half:]):
                return violation(f"bidirectional with forward {name} {_show(list(value[:half]))} and reverse "
                                 f"{_show(list(value[half:]))}")
        return None
    if isinstance(r, InputConstant):
        return _check_input_constant(analysis, site, r)
    if isinstance(r, InputNotConstant):
        value = _present(node, r.input)
        if value is not None and is_weights(value):
            return violation(f"input {r.input} ({r.name}) is an initializer")
        return None
    if isinstance(r, InputAbsent):
        if _present(node, r.input) is not None:
            return violation(f"it has input {r.input} ({r.name})")
        return None
    if isinstance(r, InputRequired):
        if _present(node, r.input) is None:
            return violation(f"input {r.input} ({r.name}) is not given")
        return None
    if isinstance(r, InputValue):
        value = _present(node, r.input)
        if value is None:
            return None
        array = constant_array(analysis, value)
        if array is None:
            return violation(f"input {r.input} ({r.name}) is computed at run time", decided=False)
        bad = [v for v in np.asarray(array).reshape(-1).tolist() if not any(_same(v, a) for a in r.allowed)]
        if bad:
            return violation(f"input {r.input} ({r.name}) is {_show(np.asarray(array).tolist())}")
        if not is_weights(value):
            return violation(f"input {r.input} ({r.name}) is computed (always {_show(np.asarray(array).tolist())})",
                             fix_value=np.asarray(array), fix_input=r.input)
        return None
    if isinstance(r, InputStaticShape):
        value = _present(node, r.input)
        if value is None:
            return None
        kinds = dim_kinds(analysis, value)
        if kinds is None:
            return violation(f"the shape of input {r.input} ({r.name}) is not known", decided=False)
        if r.axis_attribute is not None:
            axis = _attr(node, r.axis_attribute, -1)
            if axis is _UNKNOWN:
                return None
            axis = int(axis) + len(kinds) if int(axis) < 0 else int(axis)
            kinds = [kinds[axis]] if 0 <= axis < len(kinds) else []
        dynamic = [k for k in kinds if k in (Kind.BATCH, Kind.DYNAMIC)]
        if dynamic:
            return violation(f"input {r.input} ({r.name}) has a dynamic dim")
        if any(k is Kind.UNKNOWN for k in kinds):
            return violation(f"the shape of input {r.input} ({r.name}) is not known", decided=False)
        return None
    if isinstance(r, OutputAbsent):
        if r.output < len(node.outputs) and node.outputs[r.output].name:
            output = node.outputs[r.output]
            used = bool(output.uses()) or output.is_graph_output()
            return violation(f"it produces output {r.output} ({r.name}){'' if used else ', which nothing uses'}")
        return None
    if isinstance(r, Rank):
        value = _present(node, r.input)
        if value is None:
            return None
        value_rank = rank(analysis, value)
        if value_rank is None:
            return violation(f"the rank of input {r.input} ({r.name}) is not known", decided=False)
        if value_rank not in r.allowed:
            return violation(f"input {r.input} ({r.name}) has rank {value_rank}")
        return None
    if isinstance(r, Dtype):
        found = dtype_name(analysis, _present(node, r.input))
        if found is None:
            return None
        name = found
        if (r.allowed is not None and name not in r.allowed) or (r.disallowed is not None and name in r.disallowed):
            return violation(f"input {r.input} ({r.name}) is {name}")
        return None
    if isinstance(r, ValueMax):
        value = _present(node, r.input)
        if value is None:
            return None
        array = constant_array(analysis, value)
        if array is None:
            return violation(f"input {r.input} ({r.name}) is only known at run time", decided=False)
        if np.asarray(array).size and int(np.max(array)) > r.maximum:
            return violation(f"input {r.input} ({r.name}) is {int(np.max(array))}")
        return None
    if isinstance(r, SqueezeAxesRequiredForDynamic):
        return _check_squeeze(analysis, site, r)
    if isinstance(r, SplitEqualParts):
        return _check_split(analysis, site, r)
    if isinstance(r, ResizeScaledDims):
        return _check_resize_scaled_dims(analysis, site, r)
    if isinstance(r, EinsumEquation):
        equation = str(_attr(node, "equation", "") or "")
        operands = equation.replace(" ", "").split("->")[0].split(",")
        forms = []
        if "ellipsis" in r.forbid and "..." in equation:
            forms.append("an ellipsis")
        if "diagonal" in r.forbid and any(len(set(op.replace("...", ""))) != len(op.replace("...", ""))
                                          for op in operands):
            forms.append("a repeated subscript (a diagonal)")
        if forms:
            return violation(f"its equation {equation!r} uses {' and '.join(forms)}")
        return None
    if isinstance(r, QdqZeroPointZero):
        value = _present(node, r.input)
        if value is None:
            return None
        array = constant_array(analysis, value)
        if array is None:
            return violation(f"its zero point ({r.name}) is only known at run time", decided=False)
        if np.any(np.asarray(array) != 0):
            flat = np.asarray(array).reshape(-1)
            return violation(f"its zero point ({r.name}) is {_show(flat[:4].tolist())}"
                             f"{' ...' if flat.size > 4 else ''} (asymmetric quantization)")
        return None
    if isinstance(r, QdqScalePositive):
        value = _present(node, r.input)
        array = constant_array(analysis, value) if value is not None else None
        if array is not None and np.any(np.asarray(array) <= 0):
            return violation(f"its scale ({r.name}) has values <= 0 (smallest {float(np.min(array)):g})")
        return None
    if isinstance(r, (QdqBlockUnsupported, QdqBlockSingleAxis)):
        return _check_block(analysis, site, r)
    return None  # pragma: no cover - every kind is handled above


def _attribute_dtype(node: ir.Node, name: str) -> str | None:
    attr = node.attributes.get(name)
    if node.op_type == "ConstantOfShape" and name == "value" and attr is None:
        return "FLOAT"  # ONNX's default value is float 0
    if attr is None or attr.is_ref():
        return None
    if attr.type is ir.AttributeType.TENSOR:
        code = int(attr.value.dtype.value)
    elif attr.type is ir.AttributeType.INT:
        code = int(attr.value)
    else:
        return None
    try:
        return str(onnx.TensorProto.DataType.Name(code))
    except ValueError:
        return None


def _check_input_constant(analysis: Analysis, site: Site, r: InputConstant) -> Violation | None:
    node = site.node
    value = _present(node, r.input)
    if value is None:
        return None
    what = f"input {r.input} ({r.name})"
    if is_weights(value):
        return None
    facts = analysis.facts.get(value) if site.analysed else None
    kind = analysis.value_kind(value) if facts is not None else Kind.UNKNOWN
    array = facts.values[0] if facts is not None and kind is Kind.CONSTANT else None
    if r.constant == "build-time":
        if kind is Kind.CONSTANT:
            return None
        if kind in (Kind.BATCH, Kind.DYNAMIC):
            return Violation(site, r, f"{what} changes with the input's {'batch' if kind is Kind.BATCH else 'dims'}",
                             r.static)
        return Violation(site, r, f"{what} is computed from data graphfix does not know", False)
    # "initializer": the parser reads the values while importing the node.
    if array is not None:
        origin = "computed at run time" if facts is not None and facts.runtime else "computed from constants"
        return Violation(site, r, f"{what} is {origin} (always {_show(np.asarray(array).tolist())})", r.static,
                         fix_value=np.asarray(array), fix_input=r.input)
    if kind in (Kind.BATCH, Kind.DYNAMIC):
        return Violation(site, r, f"{what} changes with the input's {'batch' if kind is Kind.BATCH else 'dims'}",
                         r.static)
    return Violation(site, r, f"{what} is computed at run time", r.static and facts is not None)


def _check_squeeze(analysis: Analysis, site: Site, r: Restriction) -> Violation | None:
    node = site.node
    has_axes = _present(node, 1) is not None if site.opset >= 13 else "axes" in node.attributes
    if has_axes or _present(node, 0) is None:
        return None
    kinds = dim_kinds(analysis, node.inputs[0])  # type: ignore[arg-type]
    if kinds is None or any(k is Kind.UNKNOWN for k in kinds):
        return Violation(site, r, "it has no axes and the shape of its input is not known", False)
    dynamic = [axis for axis, k in enumerate(kinds) if k in (Kind.BATCH, Kind.DYNAMIC)]
    if not dynamic:
        return None
    return Violation(site, r, f"it has no axes and its input has dynamic dims {dynamic}", r.static,
                     extra={"dynamic_axes": dynamic})


def _check_split(analysis: Analysis, site: Site, r: Restriction) -> Violation | None:
    node = site.node
    if _present(node, 1) is not None or _present(node, 0) is None:
        return None
    count = _attr(node, "num_outputs", len(node.outputs))
    if count is _UNKNOWN or not count:
        return None
    axis = int(_attr(node, "axis", 0) or 0)
    kinds = dim_kinds(analysis, node.inputs[0])  # type: ignore[arg-type]
    shape = static_shape(analysis, node.inputs[0])  # type: ignore[arg-type]
    if kinds is None:
        return Violation(site, r, "it splits without sizes and its input's shape is not known", False)
    axis = axis + len(kinds) if axis < 0 else axis
    if not 0 <= axis < len(kinds):
        return None
    if kinds[axis] is not Kind.CONSTANT:
        return Violation(site, r, f"it splits dim {axis}, which is dynamic, into {count} parts without sizes", False)
    facts = analysis.facts.get(node.inputs[0])  # type: ignore[arg-type]
    size = shape[axis] if shape is not None else (facts.shapes[0][axis] if facts and facts.shapes[0] else None)
    if size is None:
        return None
    if int(size) % int(count):
        return Violation(site, r, f"it splits dim {axis} of size {size} into {count} parts (uneven)", r.static)
    return None


def _check_resize_scaled_dims(analysis: Analysis, site: Site, r: ResizeScaledDims) -> Violation | None:
    node = site.node
    mode = _attr(node, "mode", "nearest")
    if mode != r.mode:
        return None
    scales = constant_array(analysis, _present(node, 2) if node.op_type == "Resize" and site.opset >= 11
                            else _present(node, 1))
    if scales is None or _present(node, 3) is not None:
        return None
    flat = [float(s) for s in np.asarray(scales).reshape(-1)]
    outer = flat[: max(len(flat) - r.innermost, 0)]
    if any(not np.isclose(s, 1.0) for s in outer):
        return Violation(site, r, f"mode {mode!r} with scales {_show(flat)} scales more than the innermost "
                         f"{r.innermost} dims", r.static)
    return None


def _check_block(analysis: Analysis, site: Site, r: Restriction) -> Violation | None:
    node = site.node
    data, scale = _present(node, 0), _present(node, 1)
    if data is None or scale is None:
        return None
    data_rank, scale_rank = rank(analysis, data), rank(analysis, scale)
    block_size = _attr(node, "block_size", 0)
    blocked = (isinstance(block_size, int) and block_size > 0) or (
        data_rank is not None and scale_rank is not None and data_rank == scale_rank and data_rank > 1)
    if not blocked:
        return None
    if isinstance(r, QdqBlockUnsupported):
        return Violation(site, r, "it uses blocked quantization (a scale of the input's rank)", r.static)
    data_shape, scale_shape = static_shape(analysis, data), static_shape(analysis, scale)
    if data_shape is None or scale_shape is None or len(data_shape) != len(scale_shape):
        return None
    blocked_dims = [axis for axis, (d, s) in enumerate(zip(data_shape, scale_shape)) if d != s]
    if len(blocked_dims) > 1:
        return Violation(site, r, f"it blocks dims {blocked_dims} (scale {list(scale_shape)} for input "
                         f"{list(data_shape)})", r.static)
    return None


def _check_text(analysis: Analysis, site: Site, r: Text) -> Violation | None:
    """Restrictions stated in words: decided where the graph says enough, otherwise reported as undecided."""
    node = site.node
    if node.op_type == "Resize" and r.id.endswith("axes-iota"):
        axes = _attr(node, "axes")
        scales = _present(node, 2)
        if axes is None or axes is _UNKNOWN or scales is None or is_weights(scales):
            return None
        data_rank = rank(analysis, _present(node, 0))
        if data_rank is not None and list(axes) == list(range(data_rank)):
            return None
        return Violation(site, r, f"its scales are computed at run time and axes is {list(axes)}",
                         data_rank is not None)
    if node.op_type == "If":
        return _check_if(site, r)
    if node.op_type == "Einsum":
        return _check_einsum_broadcast(analysis, site, r)
    return Violation(site, r, "the graph alone does not say", False)


def _check_if(site: Site, r: Text) -> Violation | None:
    node = site.node
    branches = [node.attributes.get(name) for name in ("then_branch", "else_branch")]
    if any(b is None or b.type is not ir.AttributeType.GRAPH for b in branches):
        return None
    then_graph, else_graph = branches[0].value, branches[1].value  # type: ignore[union-attr]
    problems = []
    for index, (a, b) in enumerate(zip(then_graph.outputs, else_graph.outputs)):
        if a.shape is not None and b.shape is not None and len(a.shape) != len(b.shape):
            problems.append(f"output {index} has rank {len(a.shape)} in then_branch and {len(b.shape)} in else_branch")
        elif a.shape is not None and b.shape is not None and list(a.shape) != list(b.shape):
            static = all(isinstance(d, int) for d in [*a.shape, *b.shape])
            if static:
                problems.append(f"output {index} has shape {list(a.shape)} in then_branch and {list(b.shape)} "
                                "in else_branch")
        if a.name and a.name == b.name:
            problems.append(f"both branches name output {index} {a.name!r}")
    if problems:
        return Violation(site, r, "; ".join(problems), True)
    known = all(v.shape is not None for v in [*then_graph.outputs, *else_graph.outputs])
    if known:
        return None
    return Violation(site, r, "the branch output shapes are not declared", False)


def _check_einsum_broadcast(analysis: Analysis, site: Site, r: Text) -> Violation | None:
    node = site.node
    equation = str(_attr(node, "equation", "") or "").replace(" ", "")
    operands = equation.split("->")[0].split(",")
    if "..." in equation:
        return None  # the ellipsis restriction reports it
    facts = [analysis.facts.get(v) if v is not None and site.analysed else None for v in node.inputs]
    if any(f is None or any(s is None or None in s for s in f.shapes) for f in facts):
        return Violation(site, r, "its operand shapes are not known", False)
    broadcast: set[str] = set()
    for probe in range(len(analysis.probes)):  # the batch may be dynamic: compare size by size, per probe
        sizes: dict[str, set[int]] = {}
        for term, fact in zip(operands, facts):
            shape = fact.shapes[probe]  # type: ignore[union-attr]
            if shape is None or len(shape) != len(term):
                return Violation(site, r, "its operand ranks do not match the equation", False)
            for label, size in zip(term, shape):
                sizes.setdefault(label, set()).add(int(size or 0))
        broadcast.update(label for label, values in sizes.items() if len(values) > 1)
    if broadcast:
        return Violation(site, r, f"subscripts {', '.join(sorted(broadcast))} have different sizes across operands "
                         "(broadcasting)", True)
    return None


# -- wording --------------------------------------------------------------------------------------------

_EFFECT = {
    "error": "TensorRT {v}'s parser rejects it",
    "silent": "TensorRT {v} imports it but computes something else",
    "documented": "TensorRT {v}'s operator matrix (operators.md) says it is not supported",
}


def explain(violation: Violation, version: str, advice: str = "") -> str:
    """One line: the node, what it has, what TensorRT ``version`` does with it, and what to do."""
    node = violation.site.node
    r = violation.restriction
    head = f"{node.op_type} {violation.site.label!r}: {violation.problem}"
    if r is None:
        return f"{head}; {advice}" if advice else head
    rule = r.text
    if not violation.decided:
        body = (f"could not be decided statically whether TensorRT {version} accepts it ({rule}); "
                "check it with trtexec or polygraphy on the target")
    else:
        body = _EFFECT.get(r.effect, "TensorRT {v} rejects it").format(v=version) + f" ({rule})"
        if r.effect == "documented":
            body += "; the parser source read does not enforce it, so TensorRT may still build it"
    tail = f"; {advice}" if advice and violation.decided else ""
    return f"{head}; {body}{tail} [{r.id}]"


def advice_for(violation: Violation) -> str:
    """What to do about a violation, by restriction kind."""
    r = violation.restriction
    if r is None:
        return ""
    if violation.fix_value is not None:
        return f"graphfix fix writes the constant {_show(np.asarray(violation.fix_value).tolist())}"
    if isinstance(r, InputConstant):
        return "compute it from constants, or pin the dims it depends on (--input-shape)" \
            if r.constant == "build-time" else "make it a constant (an initializer)"
    if isinstance(r, (AttributeValue, AttributeRequires)):
        return f"use a supported {r.attribute} in the model code, or a TensorRT version that supports it"
    if isinstance(r, (AttributeIgnored, AttributeAbsent)):
        return f"leave {r.attribute} unset (or at its default), or convert to an opset before it existed"
    if isinstance(r, OutputAbsent):
        return f"do not produce {r.name} (remove the output; it is only needed for training)"
    if isinstance(r, InputAbsent):
        return f"drop the {r.name} input (graphfix fix converts opset-18 forms down for TensorRT 8.6)"
    if isinstance(r, SqueezeAxesRequiredForDynamic):
        return "give the dim: x.squeeze(1), not x.squeeze()"
    if isinstance(r, SplitEqualParts):
        return "pass the split sizes explicitly (torch.split with a list)"
    if isinstance(r, (Rank, InputStaticShape)):
        return "reshape around the node, or pin the dim with --input-shape"
    if isinstance(r, OperatorVersion):
        return "export with an older opset, or use a newer TensorRT"
    if isinstance(r, AttributeDefaultDiffers):
        return f"set {r.attribute}={r.onnx_default} explicitly"
    op = violation.site.node.op_type
    if op == "If":
        return ("make both branches give the same ranks (in torch, squeeze/reshape with explicit dims the exporter "
                "knows, so no If is recorded)")
    if op == "Einsum":
        return "expand the operand to the full size first, or write the product with matmul"
    return "rewrite this part of the model, or use a TensorRT version that supports it"




def versions_importing(op_type: str) -> list[str]:
    """The table versions whose parser imports ``op_type`` (oldest first)."""
    from graphfix.targets import iter_tables

    return [table.version for table in iter_tables() if table.imports(op_type)]


def error_finding_kwargs(violation: Violation) -> dict[str, Any]:
    """``severity`` for a finding made from ``violation``: undecided ones are information."""
    return {"severity": "error" if violation.decided else "info"}
