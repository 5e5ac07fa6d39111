"""GF502 unsupported-attribute-or-input

## What it finds
A node whose attributes or inputs take a form the target TensorRT version's importer refuses or
misreads: an input that must be a build-time constant or an initializer but is computed (Reduce and
Squeeze axes, CumSum's axis, InstanceNormalization's scale in 8.6, ...), an unsupported mode (Resize
``mode``/``coordinate_transformation_mode``, Pad ``mode``, GridSample ``mode``), an output it cannot
produce (MaxPool's ``Indices``, BatchNormalization's training outputs), a Squeeze without axes on an
input with dynamic dims, a rank it does not take, and attributes it ignores (Resize's opset-18
``antialias``/``axes``/``keep_aspect_ratio_policy`` and ScatterElements ``reduction`` in 8.6, RNN
``layout``): "silent" restrictions, where TensorRT imports the node and computes something else. Every
restriction comes from the target's support table (``graphfix/targets/tables``); one the graph alone
cannot decide (the table says ``static: false``, or a value inside a subgraph) is reported as
information that says so.

## Why it hurts TensorRT
The importer asserts these forms while it parses the node ("The axes input must be an initializer",
"Cannot infer squeeze dimensions from a dynamic shape"): the parse fails, or, for ignored attributes,
succeeds and builds an engine whose outputs differ from ONNX Runtime's.

## Example
```python
y = x.squeeze()                  # Squeeze with no axes on [batch, 1, 20, 16]
```

## Fixed
```python
y = x.squeeze(1)                 # Squeeze(x, axes=[1])
```
graphfix writes the constant where the analysis knows it: Squeeze axes from the dims that are 1 at every
batch size (the same helper GF101 uses), and an input that must be an initializer but is computed from
constants or from static shapes. Other forms are reported with what to change.

## Fix safety
Safe: the constant is what the node computes at every batch size. A Squeeze without axes also drops the
batch dim at batch 1; verification at batch 1 shows whether anything downstream sees it.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphfix.analyse.rewrites import squeeze_axes
from graphfix.linting import (
    Context,
    Finding,
    FixAvailability,
    Rule,
    SetAttributes,
    SetInputs,
    TensorRTError,
    operand_plan,
)
from graphfix.targets._support import (
    AttributeDtype,
    Dtype,
    OperatorVersion,
    QdqBlockSingleAxis,
    QdqBlockUnsupported,
    QdqScalePositive,
    QdqZeroPointZero,
    SqueezeAxesRequiredForDynamic,
)
from graphfix.targets.check import Violation, violations
from graphfix.targets.sites import QDQ_OPS, sites
from graphfix.targets.target import target_for
from graphfix.targets.wording import advice_for, error_finding_kwargs, explain

# The operators GF502's restrictions are about, in any table (tests/targets/test_gf5xx_parser_errors.py checks it).
RESTRICTED_OPS = frozenset({
    "Attention", "AveragePool", "BatchNormalization", "Constant", "ConvTranspose", "CumSum", "DeformConv", "Dropout",
    "Einsum", "EyeLike", "GRU", "GridSample", "Hardmax", "If", "InstanceNormalization", "LSTM", "LayerNormalization",
    "Loop", "LpNormalization", "LpPool", "MaxPool", "OneHot", "Pad", "RNN", "RandomNormal", "RandomNormalLike",
    "RandomUniform", "RandomUniformLike", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
    "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Resize", "STFT", "ScatterElements",
    "ScatterND", "Slice", "Split", "Squeeze", "TensorScatter", "TopK", "Unsqueeze", "Upsample"})
# Kinds other rules report: data types (GF503), operator versions (GF501), Q/DQ (GF505).
_ELSEWHERE = (AttributeDtype, Dtype, OperatorVersion, QdqZeroPointZero, QdqScalePositive, QdqBlockUnsupported,
              QdqBlockSingleAxis)


def gf502_violations(ctx: Context) -> Iterator[Violation]:
    target = target_for(ctx)
    for site in sites(ctx.analysis, target.table):
        if site.node.op_type in QDQ_OPS:
            continue
        for violation in violations(ctx.analysis, target.table, site):
            if not isinstance(violation.restriction, _ELSEWHERE):
                yield violation


class UnsupportedAttributeOrInput(Rule):
    code = "GF502"
    name = "unsupported-attribute-or-input"
    summary = "an attribute, input or output form the target TensorRT version's importer refuses or ignores"
    fix_availability = FixAvailability.SOMETIMES
    checks_trt_target = True
    tensorrt_errors = (
        TensorRTError(r"must be an initializer|is_weights|cannot infer squeeze dimensions|squeeze axes"
                      r"|unsupported (?:mode|value|attribute)|only .{0,40}(?:is|are) supported"
                      r"|not supported|attribute .{0,40}unsupported", ops=RESTRICTED_OPS, priority=45),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        version = target_for(ctx).version
        for violation in gf502_violations(ctx):
            node = violation.site.node
            plans: tuple[SetInputs | SetAttributes, ...] = ()
            reason = None
            advice = advice_for(violation)
            if violation.decided and violation.site.analysed:
                if violation.fix_value is not None and violation.fix_input is not None:
                    plans = (SetInputs(node, {violation.fix_input: violation.fix_value}),)
                elif isinstance(violation.restriction, SqueezeAxesRequiredForDynamic):
                    rewrite = squeeze_axes(ctx.analysis, node)
                    reason = rewrite.reason
                    if rewrite.value is not None:
                        plans = (operand_plan(node, {"axes": rewrite.value}, ctx.analysis.opset),)
                        advice = f"graphfix fix writes axes {[int(a) for a in rewrite.value]}"
            yield self.finding(explain(violation, version, advice), node, fix=plans, reason=reason,
                               **error_finding_kwargs(violation))
