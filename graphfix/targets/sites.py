"""The nodes TensorRT's ONNX parser imports, and the facts about their values the GF5xx checks read.

``sites`` lists every node the parser imports (the main graph, If/Loop/Scan bodies, and the bodies of local
functions on versions that import them) with the default-domain opset in effect; the helpers below read a
value's element type, rank, per-axis kind (static, batch, dynamic) and constant value from graphfix's
analysis, falling back to what the graph declares where the analysis has no facts (inside subgraphs).
Read-only.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir

from graphfix.analyse.analysis import Analysis
from graphfix.analyse.evaluator import NotEvaluable, attribute, constant_value
from graphfix.analyse.facts import Kind
from graphfix.ir.graphutil import node_label
from graphfix.targets import is_default_domain
from graphfix.targets._support import SupportTable

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



def _opset_of(imports: dict[str, int], fallback: int) -> int:
    return imports.get("", imports.get("ai.onnx", fallback))


def sites(analysis: Analysis, table: SupportTable) -> Iterator[Site]:
    """Every node the parser imports: main graph (topological order), subgraphs, and local function bodies
    when ``table`` imports local functions (from TensorRT 10.0; 8.6 sends a call to the plugin path).

    Listed once per analysis (every GF5xx rule walks them; the analysis is read-only)."""
    global _listed
    functions = bool(table.dispatch.get("local_functions", False))
    if _listed is not None and _listed[0]() is analysis and _listed[1] == functions:
        return iter(_listed[2])
    found = tuple(_sites(analysis, functions))
    _listed = (weakref.ref(analysis), functions, found)
    return iter(found)


# The sites of the last analysis asked about (a weak reference: a new analysis is a new list).
_listed: tuple[weakref.ref[Analysis], bool, tuple[Site, ...]] | None = None


def _sites(analysis: Analysis, functions: bool) -> Iterator[Site]:
    model = analysis.model
    opset = analysis.opset
    for node in analysis.order:
        yield Site(node, opset)
        if node.attributes:
            yield from _subgraph_sites(node, opset)
    if not functions or not model.functions:
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
    return _dtype_names().get(code)


@functools.cache
def _dtype_names() -> dict[int, str]:
    return {int(number): str(name) for name, number in onnx.TensorProto.DataType.items()}


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


def present_input(node: ir.Node, index: int) -> ir.Value | None:
    if index < len(node.inputs):
        value = node.inputs[index]
        if value is not None and value.name != "":
            return value
    return None


def attribute_value(node: ir.Node, name: str, default: Any = None) -> Any:
    try:
        value = attribute(node, name, default)
    except NotEvaluable:
        return UNKNOWN
    if isinstance(value, np.ndarray):
        return value
    return value


UNKNOWN = object()  # an attribute that refers to the calling function's attribute


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b) and all(
            same_value(x, y) for x, y in zip(a, b))
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


def show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
