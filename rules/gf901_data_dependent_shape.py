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

from graphfix.ir import node_label
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
                               "shapes after it are not analysed", issue.node, reason="data-dependent")
