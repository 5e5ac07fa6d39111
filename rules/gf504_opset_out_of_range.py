"""GF504 opset-out-of-range

## What it finds
A model whose default-domain opset is outside the range the target TensorRT version's ONNX parser is
documented to accept: above 17 for TensorRT 8.6 (the JetPack 5/6 TensorRT; torch 2.9+ exports at 18 or
20 by default), above 20 for 10.0-10.14, above 24 for 10.15+, and below 7 (8.6) or 9 (10.x, 11.x).

## Why it hurts TensorRT
The parser does not refuse a newer opset outright: it imports each node by op type, with importers
written for the operator versions up to its opset. Operators the newer opset added or redefined then fail
or change meaning: ``Gelu`` (opset 20) and ``Mish`` (18) have no importer in 8.6, Pad-18's ``axes`` input is
refused, an uneven Split-18 ``num_outputs`` computes other shapes, and Resize-18's new attributes are
ignored (GF501 and GF502 name each such node). Converting the model to the highest opset the parser knows
removes all of these at once.

## Example
```text
<opset_import: ["" : 20]>       # torch.onnx.export(..., dynamo=True), checked for TensorRT 8.6
```

## Fixed
```text
<opset_import: ["" : 17]>       # graphfix fix --trt-version 8.6
```
graphfix converts with onnx's version converter, then fills its gaps for the operators torch's exporters
write: ReduceX-18 (axes input to attribute, ``noop_with_empty_axes`` dropped), Split-18 (``num_outputs``
to split sizes), Pad-18 (``axes`` to full-rank pads), Resize-18/19 (default-valued new attributes dropped),
ConstantOfShape-20, and Gelu-20 and Mish-18 written with older operators. A node it cannot convert is
named and the model is left as it is.

## Fix safety
Safe: the converted model is validated (``onnx.checker``, shape inference) and verified against the
original in ONNX Runtime at batch 1 and 3, like every fix.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphfix.analyse.opset import conversion_blocker
from graphfix.linting import Context, ConvertOpset, Finding, FixAvailability, Rule, TensorRTError
from graphfix.targets.target import target_for


class OpsetOutOfRange(Rule):
    code = "GF504"
    name = "opset-out-of-range"
    summary = "the model's opset is outside the target TensorRT version's parser range"
    fix_availability = FixAvailability.SOMETIMES
    checks_trt_target = True
    tensorrt_errors = (
        TensorRTError(r"opset|ir version|newer than (?:the )?(?:supported|parser)", priority=30),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        target = target_for(ctx)
        table, version = target.table, target.version
        opset = ctx.analysis.opset
        if opset in table.opset:
            return
        wanted = table.opset.max if opset > table.opset.max else table.opset.min
        direction = "above" if opset > table.opset.max else "below"
        head = (f"the model imports ONNX opset {opset}, {direction} the opsets TensorRT {version}'s parser "
                f"supports ({table.opset.min} to {table.opset.max}{', derived' if table.opset.derived else ''})")
        cite = f"[table trt-{table.version}: opset]"
        blocker = conversion_blocker(ctx.model, wanted, ctx.analysis)
        if blocker is not None:
            yield self.finding(f"{head}; it cannot be converted to opset {wanted}: {blocker}; re-export with "
                               f"opset_version={wanted} {cite}", None, reason=blocker)
            return
        yield self.finding(f"{head}; graphfix fix converts it to opset {wanted} (verified) {cite}", None,
                           fix=(ConvertOpset(opset, wanted),))
