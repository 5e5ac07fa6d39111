"""Which DOUBLE tensors a model computes, and whether graphfix may compute them in FLOAT (read-only; GF503 and
:mod:`graphfix.fixing.narrowing`).

TensorRT imports DOUBLE as FLOAT (values clamped to the float range). graphfix narrows a model's internal
DOUBLE tensors the same way, keeping its interface: a DOUBLE graph input or output is not narrowed
(:func:`double_blocker` says so), nor are function bodies and subgraphs.
"""

from __future__ import annotations

from collections.abc import Iterator

import onnx_ir as ir

DOUBLE = ir.DataType.DOUBLE


def double_values(model: ir.Model) -> Iterator[ir.Value]:
    """The main graph's DOUBLE tensors (inputs, initializers, node outputs), each once."""
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
    """How many DOUBLE tensors the main graph has."""
    return sum(1 for _ in double_values(model))
