"""GF101 runtime-shape-computation

## What it finds
A shape input (a Reshape target, an Expand shape, Slice bounds, Squeeze/Unsqueeze axes, Pad pads,
TopK's k, ...; a Squeeze with no axes at all, on a dynamic input, decides its axes at run time too) or a value used in arithmetic (an attention scale ``1/sqrt(head_dim)``, a position
``Range``) that the graph computes at run time from ``Shape`` ops, although it is a constant once only the
batch is dynamic. It comes from passing tensor sizes to torch ops: ``x.view(x.size(0), -1)`` records
``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` with the legacy exporter. An ``If`` whose condition
is such a value (the legacy exporter's ``squeeze(1)`` when it does not know dim 1 is 1 records
``If(Equal(Shape(x)[1], 1))``) always takes the same branch once only the batch is dynamic; a condition that
compares the batch itself (``x.size(0) == 1``) is left alone.

## Why it hurts TensorRT
TensorRT must evaluate these chains as shape tensors while it builds and runs the engine: they are the
"Shape and Gather kinds of nodes" the export rules tell you to remove. They slow the build, block layer
fusion, and several importers (Squeeze axes, TopK's k, Reduce axes, Resize scales on TensorRT 8.x)
refuse inputs that are not build-time constants.

## Example
```python
x = x.view(x.size(0), -1)              # Shape(x)[0] -> Unsqueeze -> Concat([.], [-1]) -> Reshape
```

## Fixed
```python
x = x.view(-1, int(x.numel() // x.size(0)))   # a constant [-1, 256]: only the batch is -1
```
graphfix writes the constant that the chain computes at every batch size: batch entries become -1 (or 0
where the batch dim is copied) in Reshape targets, 1 in Expand shapes and "to the end" in Slice ends.
Values that need the batch at run time (an Expand of a class token to the batch, a mask of the batch's
shape) become the shortest chain that reads it, ``Concat(Shape(input)[0:1], constants)``; anything else
batch-dependent that a constant cannot express is reported, not guessed. Operands are read and written
where the operator's schema has them at the model's opset: the axes of a Squeeze without axes become an
``axes`` input from opset 13 and an ``axes`` attribute before; Slice-1, Pad-2, Split-11 and Reduce
ops before opset 13/18 keep these operands as attributes, which are constants already. An If is replaced by the branch it always takes (its
nodes move into the graph, its outputs keep the If's output names), so TensorRT builds no conditional.

## Fix safety
Safe: the constant is what the chain computes at every batch size, and verification checks it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx_ir as ir

from graphfix.analyse import Analysis, Kind, iter_shape_inputs, shape_input_indices
from graphfix.analyse.operands import has_operand
from graphfix.analyse.rewrites import (
    Rewrite,
    baked_reshape_target,
    batch_source,
    batch_vector,
    expand_shape,
    fails_downstream,
    reshape_target,
    slice_input,
    squeeze_axes,
)
from graphfix.ir import node_label
from graphfix.linting import (
    BatchShape,
    Context,
    Finding,
    FixAvailability,
    InlineBranch,
    Rule,
    SetInputs,
    TensorRTError,
    operand_plan,
)

# A run-time value needing the batch is as short as it can be with this many nodes (Shape, Gather, one op).
_SHORTEST_BATCH_CHAIN = 3

# Resize's sizes and scales are the resize rules' business.
_OWNED_ELSEWHERE = {"Resize", "Upsample"}

# Ops whose shape-carrying inputs TensorRT needs as build-time constants in some versions.
_SHAPE_INPUT_OPS = frozenset({
    "Reshape", "Expand", "Tile", "ConstantOfShape", "Slice", "Range", "Squeeze", "Unsqueeze", "Pad", "TopK",
    "OneHot", "CumSum", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
    "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "Split", "Upsample",
})


class RuntimeShapeComputation(Rule):
    code = "GF101"
    name = "runtime-shape-computation"
    summary = "a shape input is computed at run time from Shape ops but is constant with only the batch dynamic"
    fix_availability = FixAvailability.SOMETIMES
    tensorrt_errors = (
        # "The starts input must be an initializer", "only supports input K as an initializer", ...
        TensorRTError(r"initializer|must be (?:a )?constant|build[- ]time constant|shape tensor|is_weights"
                      r"|static values?", ops=_SHAPE_INPUT_OPS, priority=40),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        analysis = ctx.analysis
        reported: set[ir.Value] = set()
        for node, index, value in iter_shape_inputs(analysis):
            if node.op_type in _OWNED_ELSEWHERE:
                ctx.skip(node, f"input {index}: Resize and Upsample inputs are the resize rules' business")
                continue
            if not analysis.is_runtime(value):
                ctx.skip(node, f"input {index} ({value.name}) is not computed at run time")
                continue
            if all(analysis.value_kind(o) is Kind.CONSTANT for o in node.outputs):
                ctx.skip(node, "part of a foldable chain; the consumer of its result is reported")
                continue
            kind = analysis.value_kind(value)
            if kind not in (Kind.CONSTANT, Kind.BATCH):
                ctx.skip(node, f"input {index} ({value.name}) is {kind.value}: only constants and values that "
                               "follow the batch are rewritten")
                continue
            baked = self.baked(ctx, node, value)
            if baked is not None:
                reported.add(value)
                ctx.skip(node, f"input {index} ({value.name}) {baked}: never offered as a constant (the "
                               "baked-batch rule reports it)")
                continue
            rewrite = self.rewrite(ctx, node, index, value, kind)
            reported.add(value)
            current = analysis.describe_entries(value)
            where = analysis.describe_chain(value)
            nodes, _ = analysis.chain(value)
            chain = tuple(node_label(n) for n in nodes)
            what = f"{node.op_type} {node_label(node)!r} input {index} ({value.name}) is {current}, {where}"
            if rewrite.value is None:
                shortest = self.shortest_chain(ctx, node, index, value)
                if shortest is None:
                    ctx.skip(node, f"input {index} needs the batch at run time and its chain is already as short "
                                   "as a batch-dependent shape can be")
                    continue
                if isinstance(shortest, BatchShape):
                    yield self.finding(f"{what}; it needs the batch at run time, fixable as the shorter "
                                       f"{shortest.describe().split(':= ', 1)[1]}", node, fix=(shortest,),
                                       chain=chain)
                    continue
                if len(nodes) <= _SHORTEST_BATCH_CHAIN + (analysis.opset < 15):
                    # Shape -> Gather -> one op: nothing shorter reads the batch; information only.
                    yield self.finding(f"{what}; not fixable: {rewrite.reason} (information: it needs the batch "
                                       "at run time and is already as short as a batch-dependent value can be)",
                                       node, reason=rewrite.reason,
                                       chain=chain, severity="info")
                    continue
                yield self.finding(f"{what}; not fixable: {rewrite.reason}", node, reason=rewrite.reason, chain=chain)
                continue
            plan = SetInputs(node, {index: rewrite.value})
            yield self.finding(f"{what}; fixable as constant {plan.describe().split(':= ', 1)[1]}", node,
                               fix=(plan,), chain=chain)
        yield from self.check_if(ctx, reported)
        yield from self.check_arithmetic(ctx, reported)
        yield from self.check_squeeze_axes(ctx)

    def check_if(self, ctx: Context, reported: set[ir.Value]) -> Iterator[Finding]:
        """An If whose condition is the same at every batch size: the branch it takes replaces it."""
        analysis = ctx.analysis
        for node in analysis.nodes("If"):
            branch = analysis.taken_branch(node)
            condition = node.inputs[0] if node.inputs else None
            if branch is None or condition is None:
                ctx.skip(node, "its condition is not known, or not the same at every batch size: both branches stay")
                continue
            reported.add(condition)
            truth = "true" if branch == "then_branch" else "false"
            if not analysis.is_runtime(condition):
                # TensorRT's parser imports only the taken branch of an If whose condition is a constant.
                ctx.skip(node, f"its condition is the constant {truth}: TensorRT imports only that branch")
                continue
            nodes, _ = analysis.chain(condition)
            chain = tuple(node_label(n) for n in nodes)
            collapsed = _batch_collapsed(analysis, nodes)
            if collapsed is not None:
                ctx.skip(node, f"its condition is {truth} at the probes but {node_label(collapsed)!r} "
                               "compares values that follow the batch: it may differ at other batch sizes")
                continue
            where = (f"input 0 ({condition.name}) is always {truth} once only the batch is dynamic, "
                     f"{analysis.describe_chain(condition)}")
            ranks = tuple(len(shape) if (shape := analysis.shape(o)) is not None else None for o in node.outputs)
            plan = InlineBranch.of(node, branch, ranks)
            yield self.finding(f"If {node_label(node)!r} {where}; fixable by replacing the If with its {branch} "
                               f"({', '.join(plan.ops) or 'no nodes'}): TensorRT then needs no conditional",
                               node, fix=(plan,), chain=chain)

    def check_squeeze_axes(self, ctx: Context) -> Iterator[Finding]:
        """A Squeeze with no axes on a tensor with a dynamic dim decides its axes at run time from the shape."""
        analysis = ctx.analysis
        for node in analysis.nodes("Squeeze"):
            if has_operand(node, "axes", analysis.opset):  # an input from opset 13, an attribute before
                continue
            source = node.inputs[0] if node.inputs else None
            shapes = analysis.full_shapes(source)
            if source is None or shapes is None:
                ctx.skip(node, "the shape of the Squeeze input is not known")
                continue
            if all(analysis.dim_kind(source, axis) is Kind.CONSTANT for axis in range(len(shapes[0]))):
                ctx.skip(node, "a Squeeze without axes on a static shape always removes the same dims")
                continue
            what = (f"Squeeze {node_label(node)!r} has no axes: which dims it removes is decided at run time "
                    f"from its input's shape [{', '.join(self._dim(ctx, source, a) for a in range(len(shapes[0])))}]")
            rewrite = squeeze_axes(analysis, node)
            if rewrite.value is None:
                yield self.finding(f"{what}; not fixable: {rewrite.reason}", node, reason=rewrite.reason)
                continue
            plan = operand_plan(node, {"axes": rewrite.value}, analysis.opset)
            yield self.finding(f"{what}; once only the batch is dynamic they are the constant "
                               f"{plan.describe().split(':= ', 1)[1]} (verification at batch 1 checks that dropping "
                               "the batch there changed nothing)", node, fix=(plan,))

    @staticmethod
    def _dim(ctx: Context, value: ir.Value, axis: int) -> str:
        kind = ctx.analysis.dim_kind(value, axis)
        shape = ctx.analysis.shape(value)
        if kind is Kind.CONSTANT and shape is not None:
            return str(shape[axis])
        return "batch" if kind is Kind.BATCH else "?"

    def baked(self, ctx: Context, node: ir.Node, value: ir.Value) -> str | None:
        """Why ``value`` holds the export batch rather than a constant (None when it does not)."""
        analysis = ctx.analysis
        if node in analysis.repairs:
            return "bakes the batch (the analysis walks it as if repaired)"
        if node.op_type == "Reshape" and baked_reshape_target(analysis, node).value is not None:
            return "bakes the export batch in the Reshape's batch slot"
        data = node.inputs[0] if node.inputs else None
        if node.op_type == "Reshape" and data is not None and analysis.dim_kind(data, 0) is Kind.BATCH and (
                analysis.dim_kind(node.outputs[0], 0) is not Kind.BATCH) and fails_downstream(analysis, node):
            return "puts a constant in dim 0 of a tensor whose dim 0 follows the batch (the export batch)"
        if data is not None and data in analysis.batch.batch_lost:
            return f"shapes {data.name}, whose dim 0 is the batch baked upstream"
        lost = analysis.batch.reads_lost_batch(value)
        if lost is not None:
            return f"reads the shape of {lost.name}, whose dim 0 is the batch baked upstream"
        return None

    def rewrite(self, ctx: Context, node: ir.Node, index: int, value: ir.Value, kind: Kind) -> Rewrite:
        analysis = ctx.analysis
        if node.op_type == "Reshape":
            return reshape_target(analysis, node)
        if kind is Kind.CONSTANT:
            return Rewrite(np.asarray(analysis.value(value)))
        if node.op_type == "Expand":
            return expand_shape(analysis, node)
        if node.op_type == "Slice":
            return slice_input(analysis, node, index)
        return Rewrite(None, f"{node.op_type} needs the batch at run time")

    def shortest_chain(self, ctx: Context, node: ir.Node, index: int, value: ir.Value) -> BatchShape | str | None:
        """The ``Concat(Shape(input)[0:1] * k, ...)`` form when it is shorter than the chain it replaces."""
        analysis = ctx.analysis
        entries, reason = batch_vector(analysis, value)
        source = batch_source(analysis)
        if entries is None or source is None:
            return reason or "no graph input carries the batch"
        plan = BatchShape(node, index, source, entries)
        nodes, _ = analysis.chain(value)
        if len(nodes) <= plan.node_count(analysis.opset):
            return None
        return plan

    def check_arithmetic(self, ctx: Context, reported: set[ir.Value]) -> Iterator[Finding]:
        """Constants computed from shapes and consumed as data (scales, positions, masks)."""
        analysis = ctx.analysis
        for node in analysis.order:
            shape_indices = shape_input_indices(node, analysis.opset)
            if node.op_type in _OWNED_ELSEWHERE:
                continue  # recorded by the shape-input pass above
            if all(analysis.facts[o].known() for o in node.outputs if o in analysis.facts):
                ctx.skip(node, "its outputs are known at every batch size: part of a foldable chain, whose "
                               "consumer is reported")
                continue
            for index, value in enumerate(node.inputs):
                if value is None or index in shape_indices or value in reported:
                    continue
                facts = analysis.facts.get(value)
                if facts is None or not facts.runtime or not facts.shape_derived:
                    continue  # data, not computed from shapes: not a candidate
                kind = analysis.value_kind(value)
                if kind is not Kind.CONSTANT:
                    ctx.skip(node, f"input {index} ({value.name}) is computed from shapes but is {kind.value}")
                    continue
                reported.add(value)
                lost = analysis.batch.reads_lost_batch(value)
                if lost is not None:
                    ctx.skip(node, f"input {index} ({value.name}) reads the shape of {lost.name}, whose dim 0 is "
                                   "the batch baked upstream: never offered as a constant")
                    continue
                array = np.asarray(facts.values[0])
                nodes, _ = analysis.chain(value)
                plan = SetInputs(node, {index: array})
                shown = analysis.describe_entries(value) if array.ndim <= 1 else f"a {list(array.shape)} tensor"
                yield self.finding(
                    f"{node.op_type} {node_label(node)!r} input {index} ({value.name}) is {shown}, "
                    f"{analysis.describe_chain(value)}; fixable as a constant",
                    node, fix=(plan,), chain=tuple(node_label(n) for n in nodes))


# Ops that only pick entries of a shape: a batch entry they drop leaves a value that is constant at every batch.
_SELECTING = frozenset({"Shape", "Size", "Gather", "Slice", "Squeeze", "Unsqueeze", "Reshape", "Concat", "Cast",
                        "Identity", "Split", "Flatten"})


def _batch_collapsed(analysis: Analysis, nodes: list[ir.Node]) -> ir.Node | None:
    """The first node of a chain whose constant output is computed from values that follow the batch by
    something other than picking entries (``Equal(batch, 1)`` is false at every probe, true at batch 1)."""
    for node in nodes:
        if node.op_type in _SELECTING or not all(analysis.value_kind(o) is Kind.CONSTANT for o in node.outputs):
            continue
        if any(v is not None and analysis.value_kind(v) is not Kind.CONSTANT for v in node.inputs):
            return node
    return None
