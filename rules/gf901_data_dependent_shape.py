"""GF901 data-dependent-shape

## What it finds
A node whose output shape depends on tensor values rather than on input shapes: ``NonZero``,
``NonMaxSuppression``, ``Unique``, a Reshape or Expand whose shape comes from data, a loop with a
computed trip count.

## Why it hurts TensorRT
TensorRT needs an upper bound for such shapes (data-dependent shapes are slower and some layers do not
support them), and graphfix cannot work out what follows: shape computations after this node are not
analysed, so other rules may miss problems there.

## Example
```python
idx = torch.nonzero(scores > 0.5)
```

## Fixed
Keep the data-dependent part at the end of the model (or outside it), or bound it with a fixed-size
top-k. graphfix reports this; it does not rewrite it.
"""

from __future__ import annotations

from collections.abc import Iterator

import onnx_ir as ir

from graphfix.ir import node_label, upstream
from graphfix.linting import Context, Finding, FixAvailability, Rule, Severity, TensorRTError


class DataDependentShape(Rule):
    code = "GF901"
    name = "data-dependent-shape"
    summary = "a node's output shape depends on tensor values"
    fix_availability = FixAvailability.NEVER
    severity = Severity.NOTE
    tensorrt_errors = (TensorRTError(r"data[- ]dependent", priority=30),)

    def check(self, ctx: Context) -> Iterator[Finding]:
        seen: set[ir.Node] = set()
        for issue in ctx.analysis.issues:
            if issue.kind != "data-dependent" or issue.node in seen:
                continue
            seen.add(issue.node)
            yield self.finding(f"{issue.node.op_type} {node_label(issue.node)!r}: {issue.message}; "
                               f"shapes after it are not analysed{_default_inputs_hint(ctx, issue.node)}",
                               issue.node, reason="data-dependent")


def _default_inputs_hint(ctx: Context, node: ir.Node) -> str:
    """Say so when the value comes from initializers also listed as graph inputs (torch's
    ``keep_initializers_as_inputs=True``): defaults a caller may replace, so not constants to graphfix."""
    graph = ctx.model.graph
    if (ctx.model.ir_version or 0) < 4:  # before IR 4 every initializer had to be an input: constants
        return ""
    defaults = {v for v in graph.inputs if v.name in graph.initializers}
    if not defaults:
        return ""
    found: list[str] = []
    for current in [node, *upstream(list(node.inputs))]:
        for value in current.inputs:
            if value in defaults and (value.name or "") not in found:
                found.append(value.name or "")
    if not found:
        return ""
    names = ", ".join(repr(n) for n in sorted(found)[:3]) + (", ..." if len(found) > 3 else "")
    return (f" (it comes from {names}: initializers also listed as graph inputs, defaults a caller may replace; "
            "export with keep_initializers_as_inputs=False to make them constants)")
