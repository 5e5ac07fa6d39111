"""Restrictions the support tables state in words (kind ``text``): decided where the graph says enough (an If
whose branches declare different ranks, an Einsum whose operand sizes differ, Resize axes with computed
scales), otherwise reported as undecided. Read-only."""

from __future__ import annotations

import onnx_ir as ir

from graphfix.analyse.analysis import Analysis
from graphfix.targets._support import Text
from graphfix.targets.check import Violation
from graphfix.targets.sites import UNKNOWN, Site, attribute_value, is_weights, present_input, rank


def check_text(analysis: Analysis, site: Site, r: Text) -> Violation | None:
    """Restrictions stated in words: decided where the graph says enough, otherwise reported as undecided."""
    node = site.node
    if node.op_type == "Resize" and r.id.endswith("axes-iota"):
        axes = attribute_value(node, "axes")
        scales = present_input(node, 2)
        if axes is None or axes is UNKNOWN or scales is None or is_weights(scales):
            return None
        data_rank = rank(analysis, present_input(node, 0))
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
    equation = str(attribute_value(node, "equation", "") or "").replace(" ", "")
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
