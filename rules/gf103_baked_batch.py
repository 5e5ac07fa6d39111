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

## Fix safety
Declaring an output's batch dynamic is safe. Rewriting a baked constant is unsafe (needs ``--unsafe-fixes``): the rewrite changes what the model does at batch sizes other than
the export one, which is its point. It is verified at the export batch size, which the baked constant
tells. Expand, Tile and ConstantOfShape by the batch need the batch at run time and are only reported.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx_ir as ir

from graphfix.analysis import Analysis, Kind
from graphfix.engine import Context, Finding, FixAvailability, Rule, Safety, SetDims, SetInputs, declared_dim
from graphfix.graphutil import node_label
from graphfix.rewrites import baked_reshape_target

_SHAPED_BY_INPUT = {"Expand": 1, "Tile": 1, "ConstantOfShape": 0, "Reshape": 1}


class BakedBatch(Rule):
    code = "GF103"
    name = "baked-batch"
    summary = "a constant bakes in the export-time batch while the batch is dynamic"
    fix_availability = FixAvailability.SOMETIMES

    def check(self, ctx: Context) -> Iterator[Finding]:
        analysis = ctx.analysis
        if not analysis.has_batch_probes:
            return
        seen: set[ir.Node] = set()
        for node in analysis.nodes("Reshape"):
            if len(node.inputs) < 2 or node.inputs[1] is None:
                continue
            if analysis.is_runtime(node.inputs[1]):
                continue
            rewrite = baked_reshape_target(analysis, node)
            if rewrite.value is None:
                continue
            seen.add(node)
            target = np.asarray(analysis.value(node.inputs[1])).reshape(-1)
            shown = "[" + ", ".join(str(int(v)) for v in target) + "]"
            plan = SetInputs(node, {1: rewrite.value}, check_batch=rewrite.export_batch)
            yield self.finding(
                f"Reshape {node_label(node)!r} target {shown} bakes in batch {rewrite.export_batch} while the "
                f"input's batch is dynamic; fixable as {plan.describe().split(':= ', 1)[1]} (--unsafe-fixes)",
                node, fix=(plan,), safety=Safety.UNSAFE)
        yield from self.check_outputs(ctx)
        for origin, failing in baked_origins(analysis).items():
            if origin in seen:
                continue
            seen.add(origin)
            shape = analysis.shape(origin.outputs[0])
            dim = shape[0] if shape else "?"
            reason = f"{origin.op_type} to a fixed batch needs the batch at run time; take it from x.shape[0]"
            yield self.finding(
                f"{origin.op_type} {node_label(origin)!r} produces a fixed dim 0 of {dim}, so "
                f"{failing.op_type} {node_label(failing)!r} fails at other batch sizes; not fixable: {reason}",
                origin, reason=reason)


    def check_outputs(self, ctx: Context) -> Iterator[Finding]:
        """Outputs declared with the export batch although they follow the batch."""
        analysis = ctx.analysis
        symbol = next((declared_dim(v.shape[0]) or "batch" for v in ctx.model.graph.inputs  # type: ignore[index]
                       if v.shape is not None and len(v.shape) and not isinstance(v.shape[0], int)), "batch")
        for value in ctx.model.graph.outputs:
            if value.shape is None or not len(value.shape) or not isinstance(value.shape[0], int):
                continue
            if analysis.dim_kind(value, 0) is not Kind.BATCH:
                continue
            dims = (symbol, *(declared_dim(d) for d in value.shape[1:]))
            yield self.finding(f"output {value.name!r} declares dim 0 as {value.shape[0]} but it follows the "
                               f"batch; fixable as {symbol!r}", None, fix=(SetDims(value, dims),))


def explained_failures(analysis: Analysis) -> set[ir.Node]:
    """Nodes whose failures at other batch sizes follow from a baked batch (GF103 reports the cause)."""
    causes = set(baked_origins(analysis)) | set(baked_origins(analysis).values())
    causes.update(node for node in analysis.order if node.op_type == "Reshape" and node.inputs[1] is not None
                  and not analysis.is_runtime(node.inputs[1]) and baked_reshape_target(analysis, node).value is not None)
    explained = set(causes)
    for node in analysis.order:  # topological: one pass reaches every descendant
        if node in explained:
            continue
        if any(v is not None and v.producer() in explained for v in node.inputs):
            explained.add(node)
    return explained


def baked_origins(analysis: Analysis) -> dict[ir.Node, ir.Node]:
    """Constant-shaped producers (origin) whose fixed dim 0 makes a later node fail at other batches."""
    cached = analysis.cache.get("baked_origins")
    if cached is not None:
        return cached  # type: ignore[return-value]
    result: dict[ir.Node, ir.Node] = {}
    failing_nodes = []
    for issue in analysis.issues:
        if issue.kind in ("inference-failed", "volume-mismatch") and issue.node not in failing_nodes:
            failing_nodes.append(issue.node)
    for node in failing_nodes:
        kinds = [analysis.dim_kind(v, 0) if v is not None else Kind.UNKNOWN for v in node.inputs]
        if Kind.BATCH not in kinds and node.op_type != "Reshape":
            continue
        for value, kind in zip(node.inputs, kinds):
            if value is None or kind is not Kind.CONSTANT:
                continue
            origin = _constant_batch_origin(analysis, value)
            if origin is not None:
                result.setdefault(origin, node)
        if node.op_type == "Reshape" and node.inputs[1] is not None and not analysis.is_runtime(node.inputs[1]):
            result.setdefault(node, node)
    analysis.cache["baked_origins"] = result
    return result


def _constant_batch_origin(analysis: Analysis, value: ir.Value) -> ir.Node | None:
    """Walk back through producers with a constant dim 0 to the op whose constant input fixed it."""
    current: ir.Value | None = value
    for _ in range(64):
        producer = current.producer() if current is not None else None
        if producer is None:
            return None
        index = _SHAPED_BY_INPUT.get(producer.op_type)
        if index is not None and index < len(producer.inputs):
            shape_input = producer.inputs[index]
            if shape_input is not None and not analysis.is_runtime(shape_input):
                return producer
        upstream = [v for v in producer.inputs if v is not None and analysis.dim_kind(v, 0) is Kind.CONSTANT
                    and analysis.is_runtime(v)]
        if not upstream:
            return None
        current = upstream[0]
    return None
