"""GF201 resize-by-sizes

## What it finds
A Resize driven by its ``sizes`` input, computed at run time or constant. ``F.interpolate(x, size=...)``
records it, and with a size taken from the input (``size=(x.shape[2] * 2, x.shape[3] * 2)``) both
exporters add a ``Shape -> Slice -> Concat`` chain in front of it.

## Why it hurts TensorRT
A computed ``sizes`` is a shape-tensor chain TensorRT must evaluate, and TensorRT 8.x only accepts
constant ``scales``. A constant ``sizes`` is worse: it bakes the whole output shape, batch included,
into the layer (ONNX Runtime then silently returns the export batch for any other batch).

## Example
```python
y = F.interpolate(x, size=(x.shape[2] * 2, x.shape[3] * 2), mode="nearest")
```

## Fixed
```python
y = F.interpolate(x, scale_factor=2, mode="nearest")   # Resize with constant scales [1, 1, 2, 2]
```
graphfix writes constant ``scales`` when the output/input ratio along every axis is the same at every
batch size and has a float32 scale that keeps the output size and the sampling grid: the ratio itself when
float32 holds it, else the float32 quotient ``out / in`` that a runtime derives from ``sizes`` when
``floor(in * scale)`` gives ``out`` back (8/3 does; 5/3 does not and stays reported).

## Fix safety
Safe for computed sizes. A constant ``sizes`` that bakes the batch is fixed only with ``--unsafe-fixes``
and verified at the export batch.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphfix.analyse import input_value
from graphfix.analyse.rewrites import baked_resize_scales, resize_scales
from graphfix.ir import node_label
from graphfix.linting import (
    Context,
    Finding,
    FixAvailability,
    Rule,
    Safety,
    TensorRTError,
    resize_scales_plan,
)

_RESIZE_OPS = frozenset({"Resize", "Upsample"})


class ResizeBySizes(Rule):
    code = "GF201"
    name = "resize-by-sizes"
    summary = "a Resize is driven by sizes instead of constant scales"
    fix_availability = FixAvailability.SOMETIMES
    tensorrt_errors = (
        # "The sizes input must be 1D", "sizes input tensor should be of the same length as axes"
        TensorRTError(r"\bsizes\b", ops=_RESIZE_OPS, unknown_op=r"\bresize\b", priority=10),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        analysis = ctx.analysis
        for node in analysis.nodes("Resize"):
            sizes = input_value(node, "sizes", analysis.opset)  # Resize-10 has none
            if sizes is None:
                ctx.skip(node, "driven by scales, not sizes")
                continue
            runtime = analysis.is_runtime(sizes)
            shown = analysis.describe_entries(sizes) if analysis.facts[sizes].known() else "unknown"
            origin = analysis.describe_chain(sizes) if runtime else "a constant"
            what = f"Resize {node_label(node)!r} takes sizes {shown} ({origin})"
            # A Resize the analysis walks as if repaired has hypothetical output shapes: its sizes stay baked.
            repaired = node in analysis.repairs
            rewrite = resize_scales(analysis, node) if not repaired else baked_resize_scales(analysis, node)
            safety = Safety.SAFE
            if repaired and rewrite.value is not None:
                safety = Safety.UNSAFE
                what += f", which bakes in batch {rewrite.export_batch}"
            elif rewrite.value is None and not runtime:
                baked = baked_resize_scales(analysis, node)
                if baked.value is not None:
                    rewrite, safety = baked, Safety.UNSAFE
                    what += f", which bakes in batch {baked.export_batch}"
            if rewrite.value is None:
                yield self.finding(f"{what}; not fixable: {rewrite.reason}", node, reason=rewrite.reason)
                continue
            plan = resize_scales_plan(node, rewrite.value, analysis.opset, rewrite.export_batch)
            scales = ", ".join(f"{float(s):g}" for s in rewrite.value)
            suffix = " (--unsafe-fixes)" if safety is Safety.UNSAFE else ""
            nodes, _ = analysis.chain(sizes)
            yield self.finding(f"{what}; fixable as constant scales [{scales}]{suffix}", node, fix=(plan,),
                               safety=safety, chain=tuple(node_label(n) for n in nodes))
