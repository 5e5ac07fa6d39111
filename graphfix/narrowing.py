"""Computing a model's internal DOUBLE tensors in FLOAT, as TensorRT does, kept only where ONNX Runtime shows
that nothing changes (GF503's fix).

TensorRT imports DOUBLE as FLOAT (values clamped to the float range). Where the model does the same in its
own graph, the engine and the ONNX model compute the same thing, and the model says so: Cast targets
become FLOAT, DOUBLE initializers and Constant values become float32, and every DOUBLE tensor is declared
FLOAT. The model's interface is kept: a DOUBLE graph input or output is not narrowed (``double_blocker``
says so). Whether the narrowing changes the outputs is not decided here: the fix pipeline runs the model
before and after in ONNX Runtime and keeps the narrowed model only when they agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import onnx_ir as ir

FLOAT, DOUBLE = ir.DataType.FLOAT, ir.DataType.DOUBLE
# Attributes that make a node produce DOUBLE from non-DOUBLE inputs.
_TYPE_ATTRIBUTES = {"Cast": "to", "RandomNormal": "dtype", "RandomUniform": "dtype", "RandomNormalLike": "dtype",
                    "RandomUniformLike": "dtype", "EyeLike": "dtype", "Bernoulli": "dtype", "Multinomial": "dtype"}


@dataclass(frozen=True)
class NarrowDouble:
    """Fix plan: compute the model's internal DOUBLE tensors in FLOAT (verified before it is kept)."""

    count: int  # how many DOUBLE tensors

    def describe(self) -> str:
        return f"model: {self.count} DOUBLE tensor{'s' if self.count != 1 else ''} computed in FLOAT, as TensorRT does"


def _double_values(model: ir.Model) -> Iterator[ir.Value]:
    seen: set[ir.Value] = set()
    for value in model.graph.inputs:
        if value.dtype == DOUBLE:
            seen.add(value)
            yield value
    for node in model.graph:
        for candidate in [*node.inputs, *node.outputs]:
            if candidate is not None and candidate not in seen and candidate.dtype == DOUBLE:
                seen.add(candidate)
                yield candidate


def double_blocker(model: ir.Model) -> str | None:
    """Why the DOUBLE tensors cannot be narrowed by graphfix, or None."""
    for value in model.graph.inputs:
        if value.dtype == DOUBLE:
            return f"graph input {value.name!r} is DOUBLE (graphfix keeps the model's interface)"
    for value in model.graph.outputs:
        if value.dtype == DOUBLE:
            return f"graph output {value.name!r} is DOUBLE (graphfix keeps the model's interface)"
    if model.functions:
        return "the model has local functions (graphfix narrows the main graph only)"
    for node in model.graph:
        for attr in node.attributes.values():
            if attr.type in (ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS):
                return f"node {node.name or node.op_type!r} has a subgraph (graphfix narrows the main graph only)"
    return None


def double_count(model: ir.Model) -> int:
    return sum(1 for _ in _double_values(model))


def narrow_double(model: ir.Model) -> ir.Model:
    """A copy of ``model`` whose internal DOUBLE tensors are FLOAT (``model`` is left as it is)."""
    from graphfix.editor import Editor

    copy = ir.serde.deserialize_model(ir.serde.serialize_model(model))
    _keep_base_dir(model, copy)
    editor = Editor(copy)
    for node in list(copy.graph):
        name = _TYPE_ATTRIBUTES.get(node.op_type)
        if name is not None and name in node.attributes and node.attributes[name].value == DOUBLE.value:
            node.attributes[name] = ir.AttrInt64(name, FLOAT.value)
        if node.op_type in ("Constant", "ConstantOfShape") and "value" in node.attributes:
            tensor = node.attributes["value"].value
            if tensor.dtype == DOUBLE:
                node.attributes["value"] = ir.AttrTensor("value", ir.tensor(tensor.numpy().astype(np.float32),
                                                                               name=tensor.name))
    for name, value in list(copy.graph.initializers.items()):
        if value.const_value is not None and value.const_value.dtype == DOUBLE:
            narrowed = editor.constant(np.asarray(value.const_value.numpy(), dtype=np.float32), name)
            value.replace_all_uses_with(narrowed)
    for value in list(_double_values(copy)):
        value.dtype = FLOAT
    editor.cleanup()
    return copy


def _keep_base_dir(source: ir.Model, copy: ir.Model) -> None:
    base = next((t.const_value.base_dir for t in source.graph.initializers.values()
                 if isinstance(t.const_value, ir.ExternalTensor) and t.const_value.base_dir), None)
    if base:
        from onnx_ir import external_data

        external_data.set_base_dir(copy.graph, str(base))
