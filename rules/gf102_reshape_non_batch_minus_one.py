"""GF102 reshape-non-batch-minus-one

## What it finds
A Reshape whose constant target has -1 in a dimension that does not follow the batch, such as
``x.view(x.size(0), -1, 4)`` recorded as ``[0, -1, 4]`` or ``view(2, -1)`` folded to ``[-1, 128]`` where
the -1 stands for 128 features.

## Why it hurts TensorRT
The export rules allow -1 only in the batch dimension: every other dimension should be a concrete
number. A -1 elsewhere makes TensorRT infer the dimension from the volume at run time, which hides the
real size from the optimiser and fails at build time with "reshape would change volume" when the
profile's batch range does not divide evenly.

## Example
```python
y = x.view(x.size(0), -1, 4)            # target [0, -1, 4] (or [batch, -1, 4] at run time)
```

## Fixed
```python
y = x.view(-1, 64, 4)                   # the concrete value; -1 moves to the batch
```

## Fix safety
Safe: the new target reproduces the output shape at every batch size.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from graphfix.analyse import Kind, input_value
from graphfix.analyse.rewrites import baked_reshape_target, reshape_target
from graphfix.ir import node_label
from graphfix.linting import Context, Finding, FixAvailability, Rule, SetInputs, TensorRTError


class ReshapeNonBatchMinusOne(Rule):
    code = "GF102"
    name = "reshape-non-batch-minus-one"
    summary = "a Reshape target has -1 in a dimension other than the batch"
    fix_availability = FixAvailability.SOMETIMES
    tensorrt_errors = (
        # "cannot infer the -1 dimension of the new shape", "more than one -1 wildcard"
        TensorRTError(r"-1|wildcard|infer(?:red)? dim|cannot (?:be )?infer", ops=frozenset({"Reshape"}), priority=21),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        analysis = ctx.analysis
        for node in analysis.nodes("Reshape"):
            if node in analysis.repairs:  # its output facts are the repair's, not the original's
                ctx.skip(node, "the target bakes the export batch: the baked-batch rule rewrites the whole target")
                continue
            target = input_value(node, "shape", analysis.opset)  # an attribute before Reshape-5
            if target is None or analysis.is_runtime(target) or analysis.value_kind(target) is not Kind.CONSTANT:
                ctx.skip(node, "the target is not a constant (run-time targets are the run-time shape rule's)")
                continue
            entries = np.asarray(analysis.value(target)).reshape(-1)
            minus = [axis for axis, v in enumerate(entries) if v == -1]
            if not minus:
                ctx.skip(node, "the target has no -1")
                continue
            out = analysis.facts.get(node.outputs[0])
            if out is None or out.known():
                ctx.skip(node, "a reshape of shape values: part of a foldable chain")
                continue
            axis = minus[0]
            if axis == 0 and not analysis.has_batch_probes:
                ctx.skip(node, "a static-batch model: dim 0 is the batch slot")
                continue
            if analysis.dim_kind(node.outputs[0], axis) is not Kind.CONSTANT:
                ctx.skip(node, f"the -1 in dim {axis} carries the batch: that is the rule being followed")
                continue
            data = node.inputs[0]
            if data is None:
                continue
            if data in analysis.batch.batch_lost or (
                    analysis.dim_kind(data, 0) is Kind.BATCH and analysis.dim_kind(node.outputs[0], 0) is not Kind.BATCH):
                ctx.skip(node, "the batch was baked upstream: the -1 stands for the export batch, never a "
                               "safe constant (the baked-batch rule reports it)")
                continue
            if baked_reshape_target(analysis, node).value is not None:
                ctx.skip(node, "the target bakes the export batch: the baked-batch rule rewrites the whole target")
                continue
            rewrite = reshape_target(analysis, node)
            shown = "[" + ", ".join(str(int(v)) for v in entries) + "]"
            value = analysis.shape(node.outputs[0])
            concrete = value[axis] if value else "?"
            message = (f"Reshape {node_label(node)!r} target {shown} has -1 in dim {axis}, which is always "
                       f"{concrete}")
            if rewrite.value is None:
                yield self.finding(f"{message}; not fixable: {rewrite.reason}", node, reason=rewrite.reason)
                continue
            plan = SetInputs(node, {1: rewrite.value})
            yield self.finding(f"{message}; fixable as {plan.describe().split(':= ', 1)[1]}", node, fix=(plan,))
