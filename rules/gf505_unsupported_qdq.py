"""GF505 unsupported-qdq

## What it finds
A QuantizeLinear or DequantizeLinear the target TensorRT version refuses or reads differently:
asymmetric quantization (a non-zero zero point: ONNX Runtime's uint8 form), scales that are not all
positive, UINT8 quantization, a missing zero point (8.6 needs the INT8 zero point input to tell the
type), blocked quantization (opset 21's ``block_size``: unsupported in 8.6, one blocked dim only in
10.x), a scale without a static shape, and a per-channel scale without an ``axis`` attribute, which
8.6 reads as axis 0 where ONNX means axis 1.

## Why it hurts TensorRT
TensorRT's explicit quantization is symmetric and signed: its IQuantizeLayer/IDequantizeLayer take a
scale and no offset, so the importer asserts a zero zero point ("Non-zero zero point is not
supported") and positive scales, and builds a per-channel scale along the axis it reads.

## Example
```text
q = QuantizeLinear(x, scale, uint8 zero_point = 128)      # ONNX Runtime's asymmetric uint8 form
```

## Fixed
```text
q = QuantizeLinear(x, scale, int8 zero_point = 0)         # symmetric int8: graphfix's --compile int8 graph
```
graphfix's own int8 transform (``--compile int8``) writes this form; models quantized for ONNX Runtime
need quantizing again (``quant_format=QDQ``, ``activation_type=QInt8``, ``weight_type=QInt8``,
symmetric), which graphfix does not do on its own.

## Fix safety
No fix.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphfix.linting import Context, Finding, FixAvailability, Rule, TensorRTError
from graphfix.targets._support import AttributeDefaultDiffers
from graphfix.targets.check import violations
from graphfix.targets.sites import QDQ_OPS, sites
from graphfix.targets.target import target_for
from graphfix.targets.wording import advice_for, error_finding_kwargs, explain

_ADVICE = "quantize symmetrically to INT8 with positive per-tensor or per-channel scales (graphfix --compile int8)"


class UnsupportedQdq(Rule):
    code = "GF505"
    name = "unsupported-qdq"
    summary = "a Q/DQ form the target TensorRT version refuses (zero point, scale, type, blocking, axis)"
    fix_availability = FixAvailability.NEVER
    checks_trt_target = True
    tensorrt_errors = (
        TensorRTError(r"zero[ _-]?point|scale|block|quantiz", ops=QDQ_OPS, unknown_op=r"quantiz", priority=15),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        target = target_for(ctx)
        for site in sites(ctx.analysis, target.table):
            if site.node.op_type not in QDQ_OPS:
                continue
            for violation in violations(ctx.analysis, target.table, site):
                advice = advice_for(violation) if isinstance(violation.restriction, AttributeDefaultDiffers) else _ADVICE
                yield self.finding(explain(violation, target.version, advice), site.node,
                                   **error_finding_kwargs(violation))
