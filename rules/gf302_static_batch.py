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
when nothing in the graph bakes the batch; otherwise it says which nodes do (see GF103). When only
Reshapes bake it (``x.view(2, ...)``, ``int(x.shape[0])`` traced into a static batch), they are all named,
and ``--dynamic-batch --unsafe-fixes`` also gives each its batch slot back (-1), verified per sample.

## Fix safety
Needs ``--dynamic-batch``: it changes the model's interface; with Reshapes that bake the batch, also
``--unsafe-fixes`` (their results at other batch sizes change, which is the point).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from graphfix.linting import (
    BatchShape,
    Context,
    ExpandOutput,
    Finding,
    FixAvailability,
    FixPlan,
    Rule,
    Safety,
    SetDims,
    SetInputs,
    declared_dim,
    resize_scales_plan,
    strided_gather_plans,
)


class StaticBatch(Rule):
    code = "GF302"
    name = "static-batch"
    summary = "no input has a dynamic batch dimension"
    fix_availability = FixAvailability.SOMETIMES

    def check(self, ctx: Context) -> Iterator[Finding]:
        static = ctx.analysis.batch.static_batch
        if static is None:
            ctx.skip(None, "an input has a dynamic batch, or an input has no static dim 0")
            return
        names = ", ".join(v.name or "" for v in static.inputs)
        what = f"the batch is static (dim 0 = {'/'.join(map(str, static.batches))} on {names})"
        if static.reason is not None and static.repairable:
            # Reshapes that bake the batch: GF103's repair (--unsafe-fixes) with the interface made dynamic.
            plans: list[FixPlan] = [SetDims(v, ("batch", *(declared_dim(d) for d in v.shape[1:])))
                                    for v in [*static.inputs, *static.outputs] if v.shape is not None]
            for repair in static.repairs:
                if repair.kind == "resize-sizes":
                    plans.append(resize_scales_plan(repair.node, np.array(repair.scales, dtype=np.float32),
                                                    ctx.analysis.opset, repair.export_batch))
                    continue
                plans.append(SetInputs(repair.node, {1: np.array(repair.target, dtype=np.int64)},
                                       check_batch=repair.export_batch))
                source = static.inputs[0]
                if repair.expand is not None:
                    plans.append(ExpandOutput(repair.node, source, repair.expand))
            for slot in static.slots:
                if slot.kind == "Gather" and slot.flatten is not None and slot.constant is not None:
                    plans.extend(strided_gather_plans(slot.node, slot.flatten, slot.per_sample, slot.constant,
                                                      slot.export_batch))
                elif slot.drop:
                    plans.append(SetInputs(slot.node, {i: None for i in slot.drop}, check_batch=slot.export_batch))
                elif slot.constant is not None:
                    plans.append(SetInputs(slot.node, {slot.index: slot.constant}, check_batch=slot.export_batch))
                elif slot.entries is not None:
                    plans.append(BatchShape(slot.node, slot.index, static.inputs[0], slot.entries, expand=slot.expand,
                                            check_batch=slot.export_batch, scalar=slot.scalar))
            repairs = "; ".join(p.describe() for p in plans if not isinstance(p, SetDims))
            yield self.finding(f"{what}; {static.reason}; fixable with --dynamic-batch --unsafe-fixes (the "
                               f"batch slot of each becomes the batch again: {repairs})", None, fix=tuple(plans),
                               safety=Safety.NEEDS_DYNAMIC_BATCH)
            return
        if static.reason is not None:
            # Refused, and marked with what a fix would need: fix(dynamic_batch=True) reports this reason.
            yield self.finding(f"{what}; not fixable: {static.reason}", None, reason=static.reason,
                               safety=Safety.NEEDS_DYNAMIC_BATCH)
            return
        plans = [SetDims(v, ("batch", *(declared_dim(d) for d in v.shape[1:])))
                 for v in [*static.inputs, *static.outputs] if v.shape is not None]
        yield self.finding(f"{what}; fixable with --dynamic-batch (nothing bakes the batch)", None,
                           fix=tuple(plans), safety=Safety.NEEDS_DYNAMIC_BATCH)
