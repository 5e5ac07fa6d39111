"""Evaluating a node against a TensorRT support table's restrictions: what GF502, GF503 and GF505 share.

``violations`` evaluates one node (a :class:`~graphfix.targets.sites.Site`) against the table's restrictions
for its op type and yields a ``Violation`` per restriction it breaks. Each violation says what the node has,
and whether that was decided from the graph (``decided``) or could not be (a restriction the table marks
``static: false``, or a fact the shape analysis does not know, such as the shape of a value inside a
subgraph): undecided violations become information findings. Read-only.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnx.defs
import onnx_ir as ir

from graphfix.analyse.analysis import Analysis
from graphfix.analyse.facts import Kind
from graphfix.analyse.operands import has_operand, input_value, operand, schema
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
from graphfix.targets.sites import (
    UNKNOWN,
    Site,
    attribute_value,
    constant_array,
    dim_kinds,
    dtype_name,
    is_weights,
    present_input,
    rank,
    same_value,
    show,
    static_shape,
)


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


# -- evaluating restrictions -----------------------------------------------------------------------------


def _at_opset(node: ir.Node, restriction: Restriction, opset: int) -> Restriction | None:
    """The restriction with its input where the operator's schema at ``opset`` has it: the tables number
    inputs as the newest version does (ReduceMean's ``axes`` is input 1 from opset 18, an attribute, so
    a constant, before). None when the operand is not an input at this opset."""
    index, name = getattr(restriction, "input", None), getattr(restriction, "name", "")
    if not isinstance(index, int) or not name or schema(node.op_type, opset, node.domain) is None:
        return restriction
    where = operand(node, name, opset)
    if where.attribute:
        return None
    if where.index is None:  # absent at this opset (Pad-11's axes), unless the table's name is a label
        return None if operand(node, name, onnx.defs.onnx_opset_version()).present_in_schema else restriction
    return restriction if where.index == index else dataclasses.replace(restriction, input=where.index)  # type: ignore[call-arg]



def violations(analysis: Analysis, table: SupportTable, site: Site) -> Iterator[Violation]:
    """The restrictions of ``table`` that ``site``'s node breaks (default-domain nodes only).

    Evaluated once per site of an analysis and table (GF501, GF502, GF503 and GF505 each ask about every
    node and keep their own kinds; the analysis is read-only)."""
    global _evaluated
    if _evaluated is None or _evaluated[0]() is not analysis or _evaluated[1] is not table:
        _evaluated = (weakref.ref(analysis), table, {})
    known = _evaluated[2]
    entry = known.get(id(site))
    if entry is None or entry[0] is not site:
        entry = (site, tuple(_violations(analysis, table, site)))
        known[id(site)] = entry  # the entry holds the site, so its id is not reused while cached
    return iter(entry[1])


# The violations found for the last analysis and table, by site.
_evaluated: tuple[weakref.ref[Analysis], SupportTable, dict[int, tuple[Site, tuple[Violation, ...]]]] | None = None


def _violations(analysis: Analysis, table: SupportTable, site: Site) -> Iterator[Violation]:
    node = site.node
    if not is_default_domain(node.domain):
        return
    for placed in _placed(table, node, site.opset):
        found = _check(analysis, site, placed)
        if found is not None:
            yield found


def _placed(table: SupportTable, node: ir.Node, opset: int) -> tuple[Restriction, ...]:
    """The restrictions of ``node``'s operator that apply at ``opset``, their inputs placed as its schema has
    them (:func:`_at_opset`): the same for every node of that operator, so worked out once per table."""
    key = (node.op_type, node.domain, opset)
    entry = _placements.get(id(table))
    if entry is None or entry[0] is not table:
        entry = _placements[id(table)] = (table, {})  # holds the table, so its id is not reused meanwhile
    known = entry[1]
    found = known.get(key)
    if found is None:
        found = known[key] = tuple(
            placed for restriction in table.restrictions(node.op_type) if restriction.applies_at(opset)
            for placed in [_at_opset(node, restriction, opset)] if placed is not None)
    return found


# Per table (tables are cached and never change): (op_type, domain, opset) -> placed restrictions.
_placements: dict[int, tuple[SupportTable, dict[tuple[str, str, int], tuple[Restriction, ...]]]] = {}


def _check(analysis: Analysis, site: Site, r: Restriction) -> Violation | None:  # noqa: C901, PLR0911, PLR0912
    node = site.node

    def violation(problem: str, decided: bool = True, **extra: Any) -> Violation:
        return Violation(site, r, problem, decided and r.static, **extra)

    if isinstance(r, Text):
        from graphfix.targets.text_checks import check_text

        return check_text(analysis, site, r)
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
        value = attribute_value(node, r.attribute, r.default)
        if value is UNKNOWN:
            return violation(f"{r.attribute} comes from the calling function", decided=False)
        if value is None or any(same_value(value, allowed) for allowed in r.allowed):
            return None
        return violation(f"{r.attribute} is {show(value)} (allowed: {', '.join(show(a) for a in r.allowed)})")
    if isinstance(r, AttributeAbsent):
        if r.attribute in node.attributes:
            return violation(f"it sets {r.attribute}")
        return None
    if isinstance(r, AttributeIgnored):
        if r.attribute not in node.attributes:
            return None
        value = attribute_value(node, r.attribute)
        if value is UNKNOWN:
            return violation(f"{r.attribute} comes from the calling function", decided=False)
        if r.default is not None and same_value(value, r.default):
            return None
        if r.attribute == "axes" and node.op_type == "Resize":
            data_rank = rank(analysis, present_input(node, 0))
            if data_rank is not None and list(value) == list(range(data_rank)):
                return None  # every axis in order: what the importer assumes
        return violation(f"{r.attribute} is {show(value)}")
    if isinstance(r, AttributeInts):
        value = attribute_value(node, r.attribute)
        if value is None or value is UNKNOWN:
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
            actual = attribute_value(node, name, r.defaults.get(name))
            if actual is UNKNOWN or not same_value(actual, wanted):
                return None
        value = attribute_value(node, r.attribute, r.defaults.get(r.attribute))
        if value is UNKNOWN or any(same_value(value, allowed) for allowed in r.allowed):
            return None
        condition = ", ".join(f"{k}={show(v)}" for k, v in r.condition.items())
        return violation(f"with {condition}, {r.attribute} is {show(value)} "
                         f"(allowed: {', '.join(show(a) for a in r.allowed)})")
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
        scale = present_input(node, 1)
        scale_rank = rank(analysis, scale) if scale is not None else None
        shape = static_shape(analysis, scale) if scale is not None else None
        per_axis = scale_rank == 1 and (shape is None or shape[0] != 1)
        if r.applies == "per-axis" and per_axis:
            return violation(f"its scale is per-axis and {r.attribute} is not set (ONNX's default is "
                             f"{r.onnx_default}, the parser's {r.parser_default})",
                             decided=shape is not None)
        return None
    if isinstance(r, BidirectionalActivationsEqual):
        if attribute_value(node, "direction", "forward") != "bidirectional":
            return None
        for name in ("activations", "activation_alpha", "activation_beta"):
            value = attribute_value(node, name)
            if value is None or value is UNKNOWN:
                continue
            half = len(value) // 2
            if half and list(value[:half]) != list(value[half:]):
                return violation(f"bidirectional with forward {name} {show(list(value[:half]))} and reverse "
                                 f"{show(list(value[half:]))}")
        return None
    if isinstance(r, InputConstant):
        return _check_input_constant(analysis, site, r)
    if isinstance(r, InputNotConstant):
        value = present_input(node, r.input)
        if value is not None and is_weights(value):
            return violation(f"input {r.input} ({r.name}) is an initializer")
        return None
    if isinstance(r, InputAbsent):
        if present_input(node, r.input) is not None:
            return violation(f"it has input {r.input} ({r.name})")
        return None
    if isinstance(r, InputRequired):
        if present_input(node, r.input) is None:
            return violation(f"input {r.input} ({r.name}) is not given")
        return None
    if isinstance(r, InputValue):
        value = present_input(node, r.input)
        if value is None:
            return None
        array = constant_array(analysis, value)
        if array is None:
            return violation(f"input {r.input} ({r.name}) is computed at run time", decided=False)
        bad = [v for v in np.asarray(array).reshape(-1).tolist() if not any(same_value(v, a) for a in r.allowed)]
        if bad:
            return violation(f"input {r.input} ({r.name}) is {show(np.asarray(array).tolist())}")
        if not is_weights(value):
            return violation(f"input {r.input} ({r.name}) is computed (always {show(np.asarray(array).tolist())})",
                             fix_value=np.asarray(array), fix_input=r.input)
        return None
    if isinstance(r, InputStaticShape):
        value = present_input(node, r.input)
        if value is None:
            return None
        kinds = dim_kinds(analysis, value)
        if kinds is None:
            return violation(f"the shape of input {r.input} ({r.name}) is not known", decided=False)
        if r.axis_attribute is not None:
            axis = attribute_value(node, r.axis_attribute, -1)
            if axis is UNKNOWN:
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
        value = present_input(node, r.input)
        if value is None:
            return None
        value_rank = rank(analysis, value)
        if value_rank is None:
            return violation(f"the rank of input {r.input} ({r.name}) is not known", decided=False)
        if value_rank not in r.allowed:
            return violation(f"input {r.input} ({r.name}) has rank {value_rank}")
        return None
    if isinstance(r, Dtype):
        found = dtype_name(analysis, present_input(node, r.input))
        if found is None:
            return None
        name = found
        if (r.allowed is not None and name not in r.allowed) or (r.disallowed is not None and name in r.disallowed):
            return violation(f"input {r.input} ({r.name}) is {name}")
        return None
    if isinstance(r, ValueMax):
        value = present_input(node, r.input)
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
        equation = str(attribute_value(node, "equation", "") or "")
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
        value = present_input(node, r.input)
        if value is None:
            return None
        array = constant_array(analysis, value)
        if array is None:
            return violation(f"its zero point ({r.name}) is only known at run time", decided=False)
        if np.any(np.asarray(array) != 0):
            flat = np.asarray(array).reshape(-1)
            return violation(f"its zero point ({r.name}) is {show(flat[:4].tolist())}"
                             f"{' ...' if flat.size > 4 else ''} (asymmetric quantization)")
        return None
    if isinstance(r, QdqScalePositive):
        value = present_input(node, r.input)
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
    value = present_input(node, r.input)
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
        return Violation(site, r, f"{what} is {origin} (always {show(np.asarray(array).tolist())})", r.static,
                         fix_value=np.asarray(array), fix_input=r.input)
    if kind in (Kind.BATCH, Kind.DYNAMIC):
        return Violation(site, r, f"{what} changes with the input's {'batch' if kind is Kind.BATCH else 'dims'}",
                         r.static)
    return Violation(site, r, f"{what} is computed at run time", r.static and facts is not None)


def _check_squeeze(analysis: Analysis, site: Site, r: Restriction) -> Violation | None:
    node = site.node
    has_axes = has_operand(node, "axes", site.opset)  # an input from opset 13, an attribute before
    if has_axes or present_input(node, 0) is None:
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
    # Sizes given: the split input from opset 13, the split attribute before.
    if has_operand(node, "split", site.opset) or present_input(node, 0) is None:
        return None
    count = attribute_value(node, "num_outputs", len(node.outputs))
    if count is UNKNOWN or not count:
        return None
    axis = int(attribute_value(node, "axis", 0) or 0)
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
    mode = attribute_value(node, "mode", "nearest")
    if mode != r.mode:
        return None
    scales_input = input_value(node, "scales", site.opset)  # input 1 of Resize-10 and Upsample-9, else 2
    scales = constant_array(analysis, scales_input) if scales_input is not None else None
    if scales is None or input_value(node, "sizes", site.opset) is not None:
        return None
    flat = [float(s) for s in np.asarray(scales).reshape(-1)]
    outer = flat[: max(len(flat) - r.innermost, 0)]
    if any(not np.isclose(s, 1.0) for s in outer):
        return Violation(site, r, f"mode {mode!r} with scales {show(flat)} scales more than the innermost "
                         f"{r.innermost} dims", r.static)
    return None


def _check_block(analysis: Analysis, site: Site, r: Restriction) -> Violation | None:
    node = site.node
    data, scale = present_input(node, 0), present_input(node, 1)
    if data is None or scale is None:
        return None
    data_rank, scale_rank = rank(analysis, data), rank(analysis, scale)
    block_size = attribute_value(node, "block_size", 0)
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
