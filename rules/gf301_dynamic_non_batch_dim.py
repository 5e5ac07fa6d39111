"""GF301 dynamic-non-batch-dim

## What it finds
A graph input or output with a dynamic dimension other than the batch (dim 0): dynamic height and
width, a dynamic sequence length, or an output dim the exporter left symbolic.

## Why it hurts TensorRT
The export rules make only the batch dynamic. Every other dynamic dimension needs its own
min/opt/max range in the optimisation profile, TensorRT picks one kernel for the whole range (slower
engines), and shape arithmetic that depends on those dims stays in the engine instead of folding to
constants. The seed's answer is to pin them: export several fixed-size models, or redefine the input
shape when compiling.

## Example
```python
torch.onnx.export(model, x, "m.onnx", dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"}})
```

## Fixed
```bash
graphfix fix m.onnx -o m640.onnx --input-shape x:1x3x640x640   # H and W pinned, batch still dynamic
```
graphfix never guesses a size: input dims are pinned only from ``--input-shape``. Output dims left
symbolic although they are constant are made concrete (information). An output dim that follows the batch
outside dim 0 (a sequence-first ``[T, batch, C]`` output) is the batch, which stays dynamic: information,
and named like the inputs' batch when it is the batch itself.

## Fix safety
Pinning an input changes which shapes the model accepts, so it happens only when the user gives the
shape. Making a provably constant output dim concrete is safe.
"""

from __future__ import annotations

from collections.abc import Iterator

import onnx_ir as ir

from graphfix.analyse import Kind
from graphfix.analyse.analysis import Analysis
from graphfix.linting import (
    Context,
    Finding,
    FixAvailability,
    Rule,
    Safety,
    SetDims,
    TensorRTError,
    declared_dim,
)


class DynamicNonBatchDim(Rule):
    code = "GF301"
    name = "dynamic-non-batch-dim"
    summary = "a graph input or output has a dynamic dimension other than the batch"
    fix_availability = FixAvailability.SOMETIMES
    tensorrt_errors = (
        # The builder's error for a dynamic dim that no optimisation profile gives a range.
        TensorRTError(r"no optimization profile has been defined", priority=35),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        analysis = ctx.analysis
        pinned = ctx.options.input_shapes
        seen_inputs: set[str] = set()
        for dim in analysis.dynamic_dims:
            value = dim.value
            if not dim.is_output:
                name = value.name or ""
                user = pinned.get(name)
                where = f"input {value.name!r} dim {dim.axis} ({dim.symbol!r}) is dynamic"
                if user is None:
                    reason = "give its size with --input-shape (graphfix never guesses one)"
                    yield self.finding(f"{where}; pin it with --input-shape {value.name}:...", None,
                                       reason=reason)
                    continue
                if name in seen_inputs or value.shape is None:
                    continue
                seen_inputs.add(name)
                dims = tuple(declared_dim(d) if axis == 0 or isinstance(d, int) else user[axis]
                             for axis, d in enumerate(value.shape))
                plan = SetDims(value, dims)
                yield self.finding(f"{where}; fixable by pinning {plan.describe()}", None, fix=(plan,),
                                   safety=Safety.NEEDS_SHAPE)
                continue
            kind = analysis.dim_kind(value, dim.axis)
            where = f"output {value.name!r} dim {dim.axis} ({dim.symbol!r}) is declared dynamic"
            shape = analysis.shape(value)
            if kind is Kind.CONSTANT and shape is not None and value.shape is not None:
                size = shape[dim.axis]
                dims = tuple(size if axis == dim.axis else declared_dim(d) for axis, d in enumerate(value.shape))
                # Information: the model follows the export rules; fix still writes the constant.
                yield self.finding(f"{where} but is always {size}; fixable as {size}", None,
                                   fix=(SetDims(value, dims),), severity="info")
            elif kind is Kind.BATCH:
                yield self.batch_elsewhere(ctx, dim.axis, dim.symbol, where, value)
            elif kind is Kind.DYNAMIC:
                yield self.finding(f"{where} and follows an input dim; pin the inputs with --input-shape", None,
                                   reason="follows a dynamic input dimension")
            else:
                ctx.skip(None, f"{where}, and the analysis cannot tell what it is")

    def batch_elsewhere(self, ctx: Context, axis: int, symbol: str, where: str, value: ir.Value) -> Finding:
        """An output dim other than dim 0 that follows the batch (a sequence-first ``[T, batch, C]`` output):
        the batch, which the export rules keep dynamic. Information; named like the inputs' batch when it
        is the batch itself (not a multiple of it)."""
        analysis = ctx.analysis
        shapes = analysis.full_shapes(value)
        batch = _batch_symbol(analysis)
        equal = shapes is not None and all(s[axis] == p.batch for s, p in zip(shapes, analysis.probes))
        what = f"{where} and follows the batch (the batch outside dim 0, as a sequence-first output has it)"
        if not equal or batch is None or batch == symbol or value.shape is None:
            return self.finding(f"{what}: nothing to pin", None, severity="info")
        dims = tuple(batch if i == axis else declared_dim(d) for i, d in enumerate(value.shape))
        return self.finding(f"{what}; fixable as {batch!r}, the inputs' batch", None, fix=(SetDims(value, dims),),
                            severity="info")


def _batch_symbol(analysis: Analysis) -> str | None:
    """The name of the inputs' dynamic dim 0 (the batch), when they agree on one."""
    names = {str(v.shape[0].value) for v in analysis.model.graph.inputs if v.name in analysis.input_dims
             and v.shape is not None and len(v.shape) > 0 and not isinstance(v.shape[0], int)
             and v.shape[0].value}
    return names.pop() if len(names) == 1 else None
