"""GF103 baked-batch

## What it finds
A constant that holds the batch size the model was exported with, while the model declares a dynamic
batch: a Reshape to ``[2, 256]`` or ``[1, -1]``, an Expand or Tile to the export batch, a
``torch.zeros(2, ...)``. It comes from Python ints taken from the example input (``x.view(2, -1)``,
``B = 2`` at module level) or from exporting with batch 1 and folding shapes afterwards.

## Why it hurts TensorRT
The engine builds for a batch range, but these layers only work at the export batch: TensorRT fails to
build ("reshape would change volume" for the profile's opt or max shape), or, worse, the engine runs
and quietly folds the batch into another dimension (``[1, -1]`` turns a batch of 4 into one sample).

## Example
```python
y = x.reshape(2, -1)          # exported with batch 2: target [2, 128]
```

## Fixed
```python
y = x.reshape(-1, 128)        # the batch is -1; the rest is what the export batch gave
```

An output declared with the export batch (``[2, 5]``) although it follows the batch gets a dynamic dim 0.

A batch-1 tensor viewed with the batch of the input (a buffer ``[1, 80, 128]`` and
``guide.view(bs, -1, 4, 32)``) is right only at batch 1: at other batches it splits the 80 rows between
the samples, or fails. Its repair keeps the tensor's own batch of 1 (target ``[1, -1, 4, 32]``) and expands
the result to the batch (``Concat(Shape(x)[0:1], [80, 4, 32])``), as ``guide.expand(bs, ...)`` before the
view would; no Expand is written where broadcasting downstream already gives it the batch.

Every message names the likely Python cause: ``int()``, ``float()``, ``.item()``, ``.tolist()`` or
``.data`` of a size, a batch size written in the code, a batch-1 tensor mixed with the batch,
``torch.zeros/full/arange`` or ``repeat``/``expand`` with a Python batch. The analysis walks each baked
Reshape as if repaired, so one lint finds them all (a failing Reshape no longer hides the ones after it).

The batch is also baked outside Reshape, where a Python int sized a tensor: a Tile's repeats
(``g.repeat(n, 1, 1, 1)``), an Expand or ConstantOfShape shape (``torch.zeros/ones/full((n, ...))``), a
Range limit (``torch.arange(n)``), a Slice end on the batch axis (``x[:n]``), or a constant the exporter
folded (``x + torch.full((int(b), c, 1, 1), 0.5)`` becomes a stored ``[2, c, 1, 1]`` tensor). Each is
found where the batch stops flowing (a node that then fails at other batch sizes, or an output declared
dynamic whose dim 0 is always the export batch), and named with the value and its likely Python cause:

```python
x = x * self.g.repeat(int(x.shape[0]), 1, 1, 1)       # Tile repeats [2, 1, 1, 1]
```

is fixable as ``Tile(g, Concat(Shape(x)[0:1], [1, 1, 1]))``; a stored constant whose rows are all equal
becomes one row where the node broadcasts, or that row expanded to the batch (Concat); ``x[:n]`` becomes
``x[:]``. A constant whose rows differ (a folded ``torch.arange(n)``) is reported, not rewritten.

A loop over the images (``torch.stack([f(s) for s in x.unbind(0)])``, ``for s in x``) is unrolled by the
export: a Split along the batch into export-batch pieces, one branch per image. It cannot be rewritten in
general and is reported with the Split and how to re-export (apply ``f`` to the whole batch).

## Fix safety
Declaring an output's batch dynamic is safe. Rewriting a baked constant is unsafe (needs ``--unsafe-fixes``):
the rewrite changes what the model does at batch sizes other than the export one, which is its point. It is
verified per sample: the fixed model at batch 1, 3 and the export batch against the original run at the
export batch on each sample repeated (after checking that the original treats its samples independently).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx_ir as ir

from graphfix.analyse import Kind, input_value
from graphfix.analyse.analysis import Analysis
from graphfix.analyse.baked import describe_runs
from graphfix.analyse.batch_slots import BakedSlot
from graphfix.analyse.facts import BakedReshape
from graphfix.analyse.rewrites import baked_reshape_target, batch_source
from graphfix.ir import node_label, upstream
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
    TensorRTError,
    declared_dim,
)


class BakedBatch(Rule):
    code = "GF103"
    name = "baked-batch"
    summary = "a constant bakes in the export-time batch while the batch is dynamic"
    fix_availability = FixAvailability.SOMETIMES
    tensorrt_errors = (
        # "Reshape would change volume 802816 to 100352", also from the builder (no op named)
        TensorRTError(r"(?s)reshap\w*.*?volume|volume.*?reshap", ops=frozenset({"Reshape"}), unknown_op="",
                      priority=20),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        analysis = ctx.analysis
        if not analysis.has_batch_probes:
            ctx.skip(None, "no input has a dynamic batch")
            return
        seen: set[ir.Node] = set()
        for repair in analysis.repairs.values():
            seen.add(repair.node)
            if repair.kind != "resize-sizes":  # GF201 reports a Resize's baked sizes
                yield self.repaired(ctx, repair)
        for node in analysis.nodes("Reshape"):
            target_input = input_value(node, "shape", analysis.opset)  # an attribute before Reshape-5
            if target_input is None or node in seen:
                continue
            runtime = analysis.is_runtime(target_input)
            if runtime and analysis.value_kind(target_input) is not Kind.CONSTANT:
                ctx.skip(node, "the target is computed at run time and follows the batch")
                continue
            rewrite = baked_reshape_target(analysis, node)
            if rewrite.value is None:
                ctx.skip(node, f"the target does not bake the batch: {rewrite.reason}")
                continue
            seen.add(node)
            target = np.asarray(analysis.value(target_input)).reshape(-1)
            shown = "[" + ", ".join(str(int(v)) for v in target) + "]"
            plan = SetInputs(node, {1: rewrite.value}, check_batch=rewrite.export_batch)
            where = f" ({analysis.describe_chain(target_input)}: int() or .item() of a size)" if runtime else ""
            yield self.finding(
                f"Reshape {node_label(node)!r} target {shown}{where} bakes in batch {rewrite.export_batch} while "
                f"the input's batch is dynamic; fixable as {plan.describe().split(':= ', 1)[1]} (--unsafe-fixes)",
                node, fix=(plan,), safety=Safety.UNSAFE)
        yield from self.check_outputs(ctx)
        for slot in analysis.batch.baked_slots:
            if slot.node in analysis.repairs:
                continue  # reported above, with the repair the analysis walked
            seen.add(slot.node)
            yield self.slot_finding(ctx, slot)
        for origin, failing in analysis.batch.baked_origins.items():
            if origin in seen:
                continue
            seen.add(origin)
            facts = analysis.facts.get(origin.outputs[0]) if origin.outputs else None
            dims = [s[0] for s in (facts.shapes if facts is not None else []) if s and s[0] is not None]
            fixed = f"a fixed dim 0 of {dims[0]}" if dims else "a fixed dim 0 (the export batch)"
            reason = f"{origin.op_type} to a fixed batch needs the batch at run time; take it from x.shape[0]"
            cause = _CAUSES.get(origin.op_type, _CAUSES["Reshape"])
            yield self.finding(
                f"{origin.op_type} {node_label(origin)!r} produces {fixed}, so {failing.op_type} "
                f"{node_label(failing)!r} fails at other batch sizes; likely cause: {cause}; not fixable: {reason}",
                origin, reason=reason)

    def repaired(self, ctx: Context, repair: BakedReshape) -> Finding:
        """A Reshape that bakes the batch (the analysis saw through it): what it does, where it likely comes
        from, and its repair."""
        analysis = ctx.analysis
        node = repair.node
        data, target = node.inputs[0], node.inputs[1]
        assert data is not None and target is not None
        runtime = analysis.is_runtime(target)
        shown = analysis.describe_entries(target)
        chain = f" ({analysis.describe_chain(target)})" if runtime else ""
        source = batch_source(analysis)
        if repair.kind == "batch-less-input":
            origin = _constant_origin(analysis, data, repair.axis)
            whence = f" (it comes from the constant {origin.name!r})" if origin is not None else ""
            shape = analysis.shape(data) or ()
            fixed = (f"a fixed dim {repair.axis} of 1" if repair.axis < len(shape) and shape[repair.axis] == 1
                     else f"no batch (a fixed shape [{', '.join(map(str, shape))}])")
            what = (f"Reshape {node_label(node)!r} reshapes {data.name!r}, which has {fixed}{whence}, to a target "
                    f"whose dim {repair.axis} is the run-time batch ({shown}{chain}): the model is "
                    f"{describe_runs(repair)}")
            cause = ("likely cause: a batch-1 tensor (a buffer or parameter) viewed with the batch of the input "
                     "(t.view(bs, ...)); give it to every sample first (t.expand(bs, ...))")
        else:
            what = (f"Reshape {node_label(node)!r} target {shown}{chain} bakes in batch {repair.export_batch} "
                    f"(the export batch) where its input {data.name!r} carries the batch in dim 0: it is "
                    f"{describe_runs(repair)}")
            cause = ("likely cause: the batch read as a Python number during export (int(), float(), .item(), "
                     ".tolist() or .data of a size, or a batch size written in the code); use x.shape[0] or -1")
        plans: list[FixPlan] = [SetInputs(node, {1: np.array(repair.target, dtype=np.int64)},
                                          check_batch=repair.export_batch)]
        if repair.expand is not None:
            if source is None:
                return self.finding(f"{what}; {cause}; not fixable: no graph input carries the batch", node,
                                    reason="no graph input carries the batch")
            plans.append(ExpandOutput(node, source, repair.expand))
        fixed = " then ".join(p.describe().split(": ", 1)[1] for p in plans)
        return self.finding(f"{what}; {cause}; fixable as {fixed} (--unsafe-fixes)", node, fix=tuple(plans),
                            safety=Safety.UNSAFE)

    def slot_finding(self, ctx: Context, slot: BakedSlot) -> Finding:
        """A Tile / Expand / ConstantOfShape / Range / Slice input or a stored constant holding the batch."""
        node = slot.node
        if slot.kind == "Split":
            what = (f"Split {node_label(node)!r} cuts the batch axis into {len(node.outputs)} pieces {slot.baked}, "
                    "one per image of")
        elif slot.kind == "constant":
            what = f"{node.op_type} {node_label(node)!r} input {slot.index} is {slot.baked} whose dim 0 is"
        else:
            role = {"Tile": "repeats", "Expand": "shape", "ConstantOfShape": "shape", "Range": "limit",
                    "Slice": "ends"}.get(slot.kind, f"input {slot.index}")
            what = f"{slot.kind} {node_label(node)!r} {role} {slot.baked} hold"
        where = ""
        if slot.failing is not None and slot.failing is not node:
            where = f", so {slot.failing.op_type} {node_label(slot.failing)!r} fails at other batch sizes"
        text = f"{what} the export batch {slot.export_batch}{where} (likely {slot.cause})"
        source = batch_source(ctx.analysis)
        plan: SetInputs | BatchShape | None = None
        if slot.drop:
            plan = SetInputs(node, {i: None for i in slot.drop}, check_batch=slot.export_batch)
        elif slot.constant is not None:
            plan = SetInputs(node, {slot.index: slot.constant}, check_batch=slot.export_batch)
        elif slot.entries is not None and source is not None:
            plan = BatchShape(node, slot.index, source, slot.entries, expand=slot.expand,
                              check_batch=slot.export_batch, scalar=slot.scalar)
        if plan is None:
            reason = slot.reason or "no graph input carries the batch"
            advice = "" if slot.kind == "Split" else "; re-export with the size taken from x.shape[0] as a tensor"
            return self.finding(f"{text}; not fixable: {reason}{advice}", node, reason=reason)
        shown = "no initial state (zeros, the default)" if slot.drop else plan.describe().split(":= ", 1)[1]
        if slot.kind == "constant" and slot.constant is not None:
            shown = f"its first row (a {list(slot.constant.shape)} constant that {node.op_type} broadcasts)"
        return self.finding(f"{text}; fixable as {shown}, following the batch (--unsafe-fixes)", node,
                            fix=(plan,), safety=Safety.UNSAFE)

    def check_outputs(self, ctx: Context) -> Iterator[Finding]:
        """Outputs declared with the export batch although they follow the batch."""
        analysis = ctx.analysis
        symbol: int | str = "batch"
        for value in ctx.model.graph.inputs:
            if value.shape is not None and len(value.shape) and not isinstance(value.shape[0], int):
                symbol = declared_dim(value.shape[0]) or "batch"
                break
        for value in ctx.model.graph.outputs:
            if value.shape is None or not len(value.shape) or not isinstance(value.shape[0], int):
                continue
            if analysis.dim_kind(value, 0) is not Kind.BATCH:
                ctx.skip(None, f"output {value.name!r} declares dim 0 as {value.shape[0]} and it does not follow "
                               "the batch")
                continue
            dims = (symbol, *(declared_dim(d) for d in value.shape[1:]))
            if _after_a_repair(analysis, value):  # it follows the batch once the baked nodes are repaired
                yield self.finding(f"output {value.name!r} declares dim 0 as {value.shape[0]} but it follows the "
                                   f"batch once the nodes that bake it are repaired; fixable as {symbol!r} with "
                                   "them", None, fix=(SetDims(value, dims),), safety=Safety.UNSAFE)
                continue
            yield self.finding(f"output {value.name!r} declares dim 0 as {value.shape[0]} but it follows the "
                               f"batch; fixable as {symbol!r}", None, fix=(SetDims(value, dims),))


def _after_a_repair(analysis: Analysis, value: ir.Value) -> bool:
    """Whether ``value`` is computed from a node the analysis walked as if repaired (hypothetical facts)."""
    hypothetical = set(analysis.repairs) | set(analysis.seen_through)
    return bool(hypothetical) and any(node in hypothetical for node in upstream([value]))


_CAUSES = {
    "Reshape": "the batch read as a Python number during export (int(), .item(), .tolist() or .data of a size)",
    "Expand": "x.expand(b, ...) with b a Python number (int() or .item() of a size, or a batch-1 tensor mixed "
              "with the batch)",
    "Tile": "x.repeat(b, ...) with b a Python number (int() or .item() of a size)",
    "ConstantOfShape": "torch.zeros/ones/full((b, ...)) with b a Python number (int() or .item() of a size)",
    "Range": "torch.arange(b) with b a Python number (int() or .item() of a size)",
    "Slice": "x[:n] with n the batch as a Python number (int() or .item() of a size)",
}


def _constant_origin(analysis: Analysis, value: ir.Value, axis: int) -> ir.Value | None:
    """The stored tensor (initializer or Constant) upstream of ``value`` with its rank and a 1 at ``axis``."""
    shape = analysis.shape(value)
    stack, seen = [value], set()
    while stack:
        current = stack.pop(0)
        if current in seen:
            continue
        seen.add(current)
        producer = current.producer()
        if producer is None or producer.op_type == "Constant":
            found = analysis.shape(current)
            if found is not None and shape is not None and len(found) == len(shape) and axis < len(found) \
                    and found[axis] == 1:
                return current
            continue
        stack.extend(v for v in producer.inputs if v is not None)
    return None
