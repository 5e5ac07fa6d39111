"""A node's operands by the names of its operator's schema, for the model's opset.

ONNX moved many operands between attributes and inputs, and between input positions, across opsets:
Resize-10 takes ``(X, scales)`` and Resize-11 on ``(X, roi, scales, sizes)``; Upsample-7 has a ``scales``
attribute and Upsample-9 an input; Pad-2 a ``pads`` attribute, Pad-11 inputs and Pad-18 an ``axes``
input; Slice-1 ``starts``/``ends``/``axes`` attributes, Slice-10 inputs; Squeeze/Unsqueeze ``axes`` an
attribute up to 11 and an input from 13; Split ``split`` an attribute up to 11, an input from 13 (and
``num_outputs`` from 18); the Reduce ops' ``axes`` an input from 13 (ReduceSum) or 18 (the others); Clip's
``min``/``max`` attributes in 6 and inputs from 11. Everything in graphfix that reads a node's operands
(the walker, the evaluator, the rules, the rewrites, the plans) asks this module where an operand is,
from ``onnx.defs.get_schema(op, max_inclusive_version=opset, domain)``, instead of indexing by position.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnx.defs
import onnx_ir as ir

if TYPE_CHECKING:
    from graphfix.analyse.analysis import Analysis

STANDARD_DOMAINS = ("", "ai.onnx")

# The operands of each op that carry shapes (or sizes, indices along axes) rather than data, by schema
# name. A name is an input or an attribute depending on the opset (or absent in it: Pad-11 has no
# ``axes``, Resize-10 no ``roi`` or ``sizes``); aliases of other versions are listed too (TopK-1's ``k``).
SHAPE_OPERANDS: dict[str, tuple[str, ...]] = {
    "Reshape": ("shape",),
    "Expand": ("shape",),
    "Tile": ("repeats", "tiles", "axis"),
    "ConstantOfShape": ("input",),
    "Slice": ("starts", "ends", "axes", "steps"),
    "Range": ("start", "limit", "delta"),
    "Squeeze": ("axes",),
    "Unsqueeze": ("axes",),
    "Pad": ("pads", "axes"),
    "TopK": ("K", "k"),
    "Resize": ("roi", "scales", "sizes"),
    "Upsample": ("scales",),
    "Split": ("split",),
    "ReduceSum": ("axes",),
    "ReduceMean": ("axes",),
    "ReduceMax": ("axes",),
    "ReduceMin": ("axes",),
    "ReduceProd": ("axes",),
    "ReduceL1": ("axes",),
    "ReduceL2": ("axes",),
    "ReduceLogSum": ("axes",),
    "ReduceLogSumExp": ("axes",),
    "ReduceSumSquare": ("axes",),
    "OneHot": ("depth",),
    "CumSum": ("axis",),
    "Trilu": ("k",),
    "CenterCropPad": ("shape",),
}

# The operand whose constant value sets an op's output leading dim: where a batch baked into a constant
# enters the graph.
SHAPED_BY_OPERAND: dict[str, str] = {"Expand": "shape", "Tile": "repeats", "ConstantOfShape": "input",
                                     "Reshape": "shape"}


@dataclass(frozen=True)
class Operand:
    """Where a named operand of an operator lives in one opset: input ``index``, or an attribute."""

    name: str
    index: int | None = None  # the input position (None: not an input in this opset)
    attribute: bool = False  # an attribute in this opset

    @property
    def present_in_schema(self) -> bool:
        return self.index is not None or self.attribute


def is_standard(node: ir.Node) -> bool:
    """Whether ``node`` is in the default ONNX domain."""
    return node.domain in STANDARD_DOMAINS


@lru_cache(maxsize=4096)
def schema(op_type: str, opset: int, domain: str = "") -> onnx.defs.OpSchema | None:
    """The schema of ``op_type`` in force at ``opset`` (None: unknown op or no version that old)."""
    domain = "" if domain == "ai.onnx" else domain
    try:
        return onnx.defs.get_schema(op_type, max_inclusive_version=max(int(opset), 1), domain=domain)
    except onnx.defs.SchemaError:
        return None


@lru_cache(maxsize=4096)
def _layout(op_type: str, opset: int, domain: str) -> tuple[tuple[str, ...], frozenset[str], frozenset[str]]:
    """(formal input names, attribute names, names of the required inputs)."""
    found = schema(op_type, opset, domain)
    if found is None:
        return (), frozenset(), frozenset()
    single = onnx.defs.OpSchema.FormalParameterOption.Single
    return (tuple(formal.name for formal in found.inputs), frozenset(found.attributes),
            frozenset(formal.name for formal in found.inputs if formal.option == single))


def operand(node: ir.Node, name: str, opset: int) -> Operand:
    """Where operand ``name`` of ``node`` lives at ``opset``."""
    return operand_of(node.op_type, name, opset, node.domain)


def operand_of(op_type: str, name: str, opset: int, domain: str = "") -> Operand:
    """Where operand ``name`` of operator ``op_type`` lives at ``opset`` (for nodes not built yet)."""
    inputs, attributes, _ = _layout(op_type, opset, domain)
    if name in inputs:
        return Operand(name, index=inputs.index(name))
    return Operand(name, attribute=name in attributes)


def input_index(node: ir.Node, name: str, opset: int) -> int | None:
    """The input position of operand ``name`` at ``opset`` (None: it is not an input in that opset)."""
    return operand(node, name, opset).index


def input_name(node: ir.Node, index: int, opset: int) -> str | None:
    """The schema name of input ``index`` (the last formal's for variadic inputs; None: no schema)."""
    inputs, _, _ = _layout(node.op_type, opset, node.domain)
    if not inputs:
        return None
    return inputs[min(index, len(inputs) - 1)]


def is_required(node: ir.Node, name: str, opset: int) -> bool:
    """Whether input ``name`` must be given at ``opset`` (Resize-11's ``roi`` and ``scales``, even empty)."""
    return name in _layout(node.op_type, opset, node.domain)[2]


def input_value(node: ir.Node, name: str, opset: int) -> ir.Value | None:
    """The value fed to operand ``name`` (None: not an input at this opset, or omitted)."""
    index = input_index(node, name, opset)
    if index is None or index >= len(node.inputs):
        return None
    value = node.inputs[index]
    return value if value is not None and value.name != "" else None


def has_operand(node: ir.Node, name: str, opset: int) -> bool:
    """Whether ``node`` gives operand ``name`` (as an input or an attribute, as its opset has it)."""
    where = operand(node, name, opset)
    if where.index is not None:
        return input_value(node, name, opset) is not None
    return where.attribute and name in node.attributes


def attribute_array(node: ir.Node, name: str) -> np.ndarray | None:
    """An attribute as an array (ints, floats, a tensor or a scalar); None when absent or a reference."""
    attr = node.attributes.get(name)
    if attr is None or attr.is_ref():
        return None
    value: Any = attr.value
    if attr.type is ir.AttributeType.TENSOR:
        return np.asarray(value.numpy())
    if attr.type is ir.AttributeType.INTS:
        return np.asarray(list(value), dtype=np.int64)
    if attr.type is ir.AttributeType.FLOATS:
        return np.asarray(list(value), dtype=np.float32)
    if attr.type is ir.AttributeType.INT:
        return np.asarray(int(value), dtype=np.int64)
    if attr.type is ir.AttributeType.FLOAT:
        return np.asarray(float(value), dtype=np.float32)
    return None


def shape_operands(node: ir.Node, opset: int) -> tuple[Operand, ...]:
    """The shape-carrying operands of a standard ``node`` that exist at ``opset``, in input order (inputs
    first, then attributes)."""
    if not is_standard(node) or node.op_type not in SHAPE_OPERANDS:
        return ()
    return _shape_operands(node.op_type, opset, node.domain)


@lru_cache(maxsize=1024)
def _shape_operands(op_type: str, opset: int, domain: str) -> tuple[Operand, ...]:
    found = [operand_of(op_type, name, opset, domain) for name in SHAPE_OPERANDS[op_type]]
    inputs = sorted((o for o in found if o.index is not None), key=lambda o: o.index or 0)
    return (*inputs, *(o for o in found if o.attribute))


def shape_input_indices(node: ir.Node, opset: int) -> tuple[int, ...]:
    """The input positions of ``node``'s shape-carrying operands at ``opset``."""
    if not is_standard(node) or node.op_type not in SHAPE_OPERANDS:
        return ()
    return _shape_input_indices(node.op_type, opset, node.domain)


@lru_cache(maxsize=1024)
def _shape_input_indices(op_type: str, opset: int, domain: str) -> tuple[int, ...]:
    return tuple(o.index for o in _shape_operands(op_type, opset, domain) if o.index is not None)


def iter_shape_inputs(analysis: Analysis) -> Iterator[tuple[ir.Node, int, ir.Value]]:
    """Every (node, input index, value) where a standard op takes a shape-carrying input at the model's
    opset, in topological order."""
    for node in analysis.order:
        for index in shape_input_indices(node, analysis.opset):
            if index < len(node.inputs):
                value = node.inputs[index]
                if value is not None:
                    yield node, index, value


def operand_array(analysis: Analysis, node: ir.Node, name: str) -> np.ndarray | None:
    """The value of operand ``name`` of ``node`` when it is the same at every probe: its attribute, or its
    input's constant value (None: absent, or not constant)."""
    from graphfix.analyse.facts import Kind

    where = operand(node, name, analysis.opset)
    if where.attribute:
        return attribute_array(node, name)
    value = input_value(node, name, analysis.opset)
    if value is None or value not in analysis.facts or analysis.value_kind(value) is not Kind.CONSTANT:
        return None
    found = analysis.value(value)
    return None if found is None else np.asarray(found)
