"""GF202 resize-runtime-scales

## What it finds
A Resize (any opset: ``scales`` is input 1 of Resize-10 and input 2 from Resize-11) or an Upsample-9 whose
``scales`` input is computed at run time, typically ``Cast(Shape(x)) / ...`` chains from
``F.interpolate(x, scale_factor=s)`` with ``recompute_scale_factor=True``, or scales built from sizes.

## Why it hurts TensorRT
TensorRT 8.x requires Resize scales to be build-time constants ("Resize scales must be an
initializer!"); newer versions accept a tensor but must evaluate the chain as shape arithmetic.

## Example
```python
y = F.interpolate(x, scale_factor=2.0, recompute_scale_factor=True)
```

## Fixed
```python
y = F.interpolate(x, scale_factor=2)     # Resize with constant scales [1, 1, 2, 2]
```

## Fix safety
Safe when the computed scales are the same at every batch size (they are then replaced by exactly
those values).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from graphfix.analyse import Kind, input_value
from graphfix.ir import node_label
from graphfix.linting import (
    Context,
    Finding,
    FixAvailability,
    Rule,
    TensorRTError,
    resize_scales_plan,
)

_RESIZE_OPS = frozenset({"Resize", "Upsample"})


class ResizeRuntimeScales(Rule):
    code = "GF202"
    name = "resize-runtime-scales"
    summary = "a Resize's scales are computed at run time"
    fix_availability = FixAvailability.SOMETIMES
    tensorrt_errors = (
        # "Resize scales must be an initializer!" (TensorRT 8.x)
        TensorRTError(r"\bscales?\b", ops=_RESIZE_OPS, unknown_op=r"\bresize\b", priority=11),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        analysis = ctx.analysis
        for node in analysis.nodes("Resize", "Upsample"):
            # The scales are input 1 of Resize-10 and Upsample-9, input 2 from Resize-11, an attribute of
            # Upsample-7 (a constant): read where the operator's schema at the model's opset has them.
            scales = input_value(node, "scales", analysis.opset)
            if scales is None:
                ctx.skip(node, "has no scales input")
                continue
            if input_value(node, "sizes", analysis.opset) is not None:
                ctx.skip(node, "driven by sizes (the resize-by-sizes rule's business)")
                continue
            if not analysis.is_runtime(scales):
                ctx.skip(node, "the scales are a constant")
                continue
            kind = analysis.value_kind(scales)
            value = analysis.value(scales)
            if kind is not Kind.CONSTANT or value is None or value.size == 0:
                if kind in (Kind.BATCH, Kind.DYNAMIC):
                    reason = f"the scales change with the {'batch' if kind is Kind.BATCH else 'input size'}"
                    yield self.finding(f"Resize {node_label(node)!r} computes its scales at run time; "
                                       f"not fixable: {reason}", node, reason=reason)
                else:
                    ctx.skip(node, "the scales are not known at every batch size")
                continue
            array = np.asarray(value, dtype=np.float32).reshape(-1)
            nodes, _ = analysis.chain(scales)
            shown = ", ".join(f"{float(s):g}" for s in array)
            plan = resize_scales_plan(node, array, analysis.opset)
            yield self.finding(
                f"{node.op_type} {node_label(node)!r} scales [{shown}] are {analysis.describe_chain(scales)}; "
                "fixable as constant scales", node, fix=(plan,), chain=tuple(node_label(n) for n in nodes))
