"""GF503 unsupported-data-type

## What it finds
A tensor whose element type the target TensorRT version does not take where it is used: a type it has
no support for (BFLOAT16 and the FP8 types in 8.6, INT16, UINT16/32/64, STRING, COMPLEX), a quantized
type (INT8, FP8, INT4, FP4) outside Q/DQ and Cast, UINT8 inside the network (it is an input/output and
Cast type only), DOUBLE (imported as FLOAT, values clamped to the float range), an operator input type
the importer refuses (an INT32 MatMul, a BOOL Resize, a Cast to a type it cannot cast to), and, on
versions that narrow INT64 to INT32 (8.6), INT64 constants whose values do not fit in 32 bits. INT64
that the version narrows itself with values in range is information, never a failure: every torch
export carries INT64 shape tensors.

## Why it hurts TensorRT
The parser has no layer for those types ("Unsupported data type"), or converts them: DOUBLE weights
become FLOAT, and in 8.6 INT64 weights become INT32 clamped to [-2^31, 2^31-1], so a constant such as
an INT64 mask value -2^40 silently changes.

## Example
```python
mask = torch.full((n,), -(2 ** 40))           # INT64 constant out of the int32 range, TensorRT 8.6
```

## Fixed
```python
mask = torch.full((n,), -(2 ** 31) + 1)       # a value that survives the narrowing
```
Slice bounds such as INT64_MAX (``x[:, 1:]``) are clamped and mean the same after the narrowing: they
are information, not errors.

graphfix fix computes the internal DOUBLE tensors in FLOAT itself (Cast targets, initializers, Constant
values), as TensorRT will, and keeps that only when ONNX Runtime gives the same outputs before and after.

## Fix safety
Safe: the narrowed model is kept only when verification at batch 1 and 3 shows no change (never with
``--no-verify``); a DOUBLE graph input or output is not narrowed (the interface is kept). Other types need
the model code or the export changed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx_ir as ir

from graphfix.analyse.narrowing import double_blocker, double_count
from graphfix.linting import Context, Finding, FixAvailability, NarrowDouble, Rule, TensorRTError
from graphfix.targets._support import AttributeDtype, Dtype
from graphfix.targets.check import violations
from graphfix.targets.sites import MAX_READ_ELEMENTS, QDQ_OPS, Site, constant_array, dtype_name, sites
from graphfix.targets.target import target_for
from graphfix.targets.wording import error_finding_kwargs, explain

INT32 = np.iinfo(np.int32)
# Inputs that clamp their values to the data's extent: narrowing INT64_MAX there keeps the meaning.
_CLAMPING_INPUTS = {"Slice": (1, 2)}


class UnsupportedDataType(Rule):
    code = "GF503"
    name = "unsupported-data-type"
    summary = "a tensor type the target TensorRT version does not take (or narrows with a change of value)"
    fix_availability = FixAvailability.SOMETIMES
    checks_trt_target = True
    tensorrt_errors = (
        TensorRTError(r"unsupported (?:data ?type|dtype|type)|invalid (?:data ?type|dtype)|datatype"
                      r"|does not (?:natively )?support (?:INT64|DOUBLE|BFLOAT16|UINT8)|\b(?:DOUBLE|BFLOAT16|UINT8|INT16)\b"
                      r".{0,40}(?:not supported|unsupported)", priority=25),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        target = target_for(ctx)
        table, version = target.table, target.version
        analysis = ctx.analysis
        for site in sites(analysis, table):
            if site.node.op_type in QDQ_OPS:
                continue  # GF505
            for violation in violations(analysis, table, site):
                if isinstance(violation.restriction, (Dtype, AttributeDtype)):
                    yield self.finding(explain(violation, version, "cast it to a type the operator takes "
                                               "(FLOAT, FLOAT16) in the model code"), site.node,
                                       **error_finding_kwargs(violation))
        narrowed: list[str] = []
        runtime: list[str] = []
        double_fix: tuple[NarrowDouble, ...] | None = None
        blocker: str | None = None
        for value, made_at in _values(ctx, table):
            name = dtype_name(analysis, value)
            support = table.dtype(name) if name else None
            if support is None or support.support == "native":
                continue
            where = made_at.label if made_at is not None else f"graph {'input' if value.is_graph_input() else 'output'}"
            node = made_at.node if made_at is not None else None
            cite = f"[table trt-{table.version}: dtypes.{name}]"
            if support.support == "unsupported":
                yield self.finding(f"{value.name!r} ({where}) is {name}: TensorRT {version} has no {name} "
                                   f"tensors; compute in a supported type (FLOAT, FLOAT16, INT32) {cite}", node)
            elif support.support == "quantized" and not _in_qdq(value):
                yield self.finding(f"{value.name!r} ({where}) is {name}: TensorRT {version} takes {name} only "
                                   f"through QuantizeLinear/DequantizeLinear; quantize with Q/DQ pairs {cite}", node)
            elif support.support == "io-only" and not _io_or_cast(value):
                yield self.finding(f"{value.name!r} ({where}) is {name} inside the network: TensorRT {version} "
                                   f"takes {name} only as a network input or output (and Cast); cast it to "
                                   f"INT32 or FLOAT where it is made {cite}", node)
            elif support.support == "narrowed" and name == "DOUBLE":
                if double_fix is None:
                    blocker = double_blocker(ctx.model)
                    double_fix = (NarrowDouble(double_count(ctx.model)),) if blocker is None else ()
                fixable = "graphfix fix computes it in FLOAT where ONNX Runtime shows the outputs unchanged" \
                    if double_fix else f"compute in float32 in the model code ({blocker})"
                yield self.finding(f"{value.name!r} ({where}) is DOUBLE: TensorRT {version} imports it as FLOAT "
                                   f"(values clamped to the float range), so its results can differ from ONNX "
                                   f"Runtime's double precision; {fixable} {cite}", node, fix=double_fix,
                                   reason=None if double_fix else blocker)
            elif support.support == "narrowed":
                bounds = _bounds(analysis, value)
                if bounds is None:
                    runtime.append(value.name or "?")
                    continue
                low, high = bounds
                if INT32.min <= low and high <= INT32.max or _clamp_safe(value):
                    narrowed.append(value.name or "?")
                    continue
                yield self.finding(f"{value.name!r} ({where}) is {name} with values in [{low}, {high}], outside "
                                   f"the int32 range: TensorRT {version} narrows {name} to {support.to} and "
                                   f"clamps them, which changes the result; use values in the int32 range "
                                   f"{cite}", node)
        if narrowed or runtime:
            parts = []
            if narrowed:
                parts.append(f"{len(narrowed)} constant{'s' if len(narrowed) != 1 else ''} with values in the "
                             "int32 range (or clamped harmlessly)")
            if runtime:
                shown = ", ".join(repr(n) for n in runtime[:3]) + (" ..." if len(runtime) > 3 else "")
                parts.append(f"{len(runtime)} tensor{'s' if len(runtime) != 1 else ''} whose values graphfix "
                             f"cannot bound statically (network inputs, data-dependent values, large initializers: "
                             f"{shown})")
            yield self.finding(f"INT64 is narrowed to INT32 by TensorRT {version}: {' and '.join(parts)}; "
                               "nothing to do unless a run-time value can exceed 2^31 (INT64 network inputs "
                               f"and outputs become INT32 bindings) [table trt-{table.version}: dtypes.INT64]",
                               None, severity="info")


def _values(ctx: Context, table: object) -> Iterator[tuple[ir.Value, Site | None]]:
    """Every tensor the parser sees once: graph inputs, then each node's inputs (initializers) and outputs."""
    seen: set[ir.Value] = set()
    graph = ctx.model.graph
    for value in graph.inputs:
        if value.const_value is None:
            seen.add(value)
            yield value, None
    for site in sites(ctx.analysis, table):  # type: ignore[arg-type]
        for candidate in [*site.node.inputs, *site.node.outputs]:
            if candidate is not None and candidate.name and candidate not in seen:
                seen.add(candidate)
                yield candidate, site


def _in_qdq(value: ir.Value) -> bool:
    """Made by a QuantizeLinear (or a Cast, or stored), and read only by DequantizeLinear, Cast, or as a zero point."""
    producer = value.producer()
    made = producer is None or producer.op_type in ("QuantizeLinear", "Cast")
    return made and all(node.op_type in ("DequantizeLinear", "Cast") or (node.op_type == "QuantizeLinear" and index == 2)
                        for node, index in value.uses())


def _io_or_cast(value: ir.Value) -> bool:
    """Made by a graph input or a Cast, and used only by Casts (or Q/DQ, GF505's) or as a graph output."""
    producer = value.producer()
    made = value.is_graph_input() or (producer is not None and producer.op_type == "Cast")
    used = all(node.op_type in ("Cast", "QuantizeLinear", "DequantizeLinear") for node, _ in value.uses())
    return made and used


def _bounds(analysis: object, value: ir.Value) -> tuple[int, int] | None:
    """(min, max) of a value the graph fixes (at every probe), or None when graphfix cannot bound it."""
    arrays = []
    facts = analysis.facts.get(value)  # type: ignore[attr-defined]
    if facts is not None:
        arrays = [a for a in facts.values if a is not None]
    if not arrays:
        array = constant_array(analysis, value)  # type: ignore[arg-type]
        if array is None and value.const_value is not None and value.const_value.size <= 4 * MAX_READ_ELEMENTS:
            try:
                array = np.asarray(value.const_value.numpy())
            except Exception:  # noqa: BLE001 - unreadable external data: unknown
                array = None
        arrays = [array] if array is not None else []
    if not arrays:
        return None
    filled = [np.asarray(a) for a in arrays if np.asarray(a).size]
    if not filled:
        return 0, 0
    return min(int(np.min(a)) for a in filled), max(int(np.max(a)) for a in filled)


def _clamp_safe(value: ir.Value) -> bool:
    """Every use clamps the value to a tensor's extent (Slice starts/ends): narrowing keeps the meaning."""
    uses = value.uses()
    return bool(uses) and all(index in _CLAMPING_INPUTS.get(node.op_type, ()) for node, index in uses)

