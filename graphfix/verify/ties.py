"""Which outputs may differ only in the order of tied values: those downstream of a sort-like operator.

TopK, ArgMax/ArgMin, NonMaxSuppression, Unique and their kin break ties by an order that depends on the
runtime's kernels and graph optimisations: two equal models (the original and the fixed one, or one model
at two optimisation levels) may list tied detections in another order. Those outputs are compared up to
order when they fail elementwise (:class:`graphfix.compare.Tolerance` ``unordered``).
"""

from __future__ import annotations

import onnx_ir as ir

SORT_LIKE = frozenset({"TopK", "ArgMax", "ArgMin", "NonMaxSuppression", "Unique", "NonZero"})


def tie_outputs(model: ir.Model) -> frozenset[str]:
    """Names of the graph outputs computed from the result of a sort-like operator (:data:`SORT_LIKE`)."""
    graph = model.graph
    seen: set[int] = set()
    frontier = [out for node in graph if node.op_type in SORT_LIKE for out in node.outputs]
    while frontier:
        value = frontier.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        for use in value.uses():
            frontier.extend(use.node.outputs)
    return frozenset(value.name or "" for value in graph.outputs if id(value) in seen)
