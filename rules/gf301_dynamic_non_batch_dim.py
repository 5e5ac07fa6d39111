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
symbolic although they are constant are made concrete.

## Fix safety
Pinning an input changes which shapes the model accepts, so it happens only when the user gives the
shape. Making a provably constant output dim concrete is safe.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphfix.analyse import Kind
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
            elif kind is Kind.DYNAMIC or kind is Kind.BATCH:
                yield self.finding(f"{where} and follows {'an input dim' if kind is Kind.DYNAMIC else 'the batch'}"
                                   "; pin the inputs with --input-shape", None,
                                   reason="follows a dynamic input dimension")
            else:
                ctx.skip(None, f"{where}, and the analysis cannot tell what it is")
