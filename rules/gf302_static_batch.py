"""GF302 static-batch

## What it finds
A model whose inputs all have a fixed dim 0: it was exported without ``dynamic_axes`` (or
``dynamic_shapes``) for the batch, so the engine built from it runs one batch size only.

## Why it hurts TensorRT
TensorRT 10 and later have no implicit batch: the batch range comes from the ONNX input shapes and an
optimisation profile. A static batch means one engine per batch size. The export rules make the batch
(and only the batch) dynamic.

## Example
```python
torch.onnx.export(model, torch.randn(1, 3, 224, 224), "m.onnx")            # batch fixed at 1
```

## Fixed
```python
torch.onnx.export(model, x, "m.onnx", dynamic_axes={"x": {0: "batch"}})   # or: graphfix fix --dynamic-batch
```
``graphfix fix --dynamic-batch`` makes dim 0 of the inputs (and of the outputs that follow it) dynamic
when nothing in the graph bakes the batch; otherwise it says which nodes do (see GF103).

## Fix safety
Needs ``--dynamic-batch``: it changes the model's interface.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphfix.analysis import Kind, analyse
from graphfix.engine import Context, Finding, FixAvailability, Rule, Safety, SetDims, declared_dim
from graphfix.graphutil import node_label
from graphfix.rules.gf103_baked_batch import baked_origins


class StaticBatch(Rule):
    code = "GF302"
    name = "static-batch"
    summary = "no input has a dynamic batch dimension"
    fix_availability = FixAvailability.SOMETIMES

    def check(self, ctx: Context) -> Iterator[Finding]:
        analysis = ctx.analysis
        if analysis.batch_declared:
            return
        graph = ctx.model.graph
        initializers = set(graph.initializers.values())
        inputs = [v for v in graph.inputs if v not in initializers and v.shape is not None and len(v.shape) > 0]
        if not inputs or not all(isinstance(v.shape[0], int) for v in inputs):  # type: ignore[index]
            return
        batches = sorted({int(v.shape[0]) for v in inputs})  # type: ignore[index, arg-type]
        names = ", ".join(v.name for v in inputs)
        what = f"the batch is static (dim 0 = {'/'.join(map(str, batches))} on {names})"
        assumed = analyse(ctx.loaded, ctx.options.input_shapes, assume_batch=True)
        blockers = sorted({node_label(n) for n in baked_origins(assumed)})
        failed = sorted({node_label(i.node) for i in assumed.issues if i.kind != "data-dependent"})
        outputs = [v for v in graph.outputs if v.shape is not None and len(v.shape) > 0]
        bad_outputs = [v.name for v in outputs if assumed.dim_kind(v, 0) is not Kind.BATCH]
        if blockers or failed or bad_outputs:
            problems = blockers or failed
            reason = (f"{len(problems)} node(s) bake the batch: {', '.join(problems[:3])}" if problems else
                      f"outputs {', '.join(bad_outputs)} do not follow dim 0 of the inputs")
            yield self.finding(f"{what}; not fixable: {reason}", None, reason=reason)
            return
        plans = [SetDims(v, ("batch", *(declared_dim(d) for d in v.shape[1:])))  # type: ignore[index, union-attr]
                 for v in [*inputs, *outputs]]
        yield self.finding(f"{what}; fixable with --dynamic-batch (nothing bakes the batch)", None,
                           fix=tuple(plans), safety=Safety.NEEDS_DYNAMIC_BATCH)
