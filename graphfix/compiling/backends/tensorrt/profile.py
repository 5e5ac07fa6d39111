"""The optimisation profile (min/opt/max shape per input) and where engines and timing caches go.
Plain data: no TensorRT needed."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from graphfix.compiling.backends.tensorrt.status import parse_version
from graphfix.errors import GraphfixError, UsageError
from graphfix.linting.registry import rule_for_tensorrt_error
from graphfix.verify import InputSpec

# The builder's error for a dynamic dim no profile gives a range: the rule that explains it is asked for.
NO_PROFILE_ERROR = "Network has dynamic or shape inputs, but no optimization profile has been defined."

ShapeRange = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def profile_shapes(
    specs: Sequence[InputSpec],
    *,
    min_batch: int = 1,
    opt_batch: int,
    max_batch: int,
    pinned: Mapping[str, Sequence[int]] | None = None,
) -> dict[str, ShapeRange]:
    """One optimisation profile: (min, opt, max) shape per input.

    Dim 0 of every input whose dim 0 is dynamic gets the batch range; every other dim comes from the
    model, or from ``pinned`` (the user's ``input_shapes``, a full shape whose dim 0 is ignored where the
    batch is dynamic). A non-batch dim that is still dynamic and not pinned is an error: TensorRT needs a
    concrete range and graphfix never guesses one.

    Raises:
        UsageError: The batch range is not ``1 <= min <= opt <= max`` (parameters ``opt_batch``,
            ``max_batch``) or ``pinned`` does not fit the inputs (parameter ``input_shapes``).
        GraphfixError: An input needs a shape the model does not declare and ``pinned`` does not give.
    """
    pinned = dict(pinned or {})
    for name, value in (("min_batch", min_batch), ("opt_batch", opt_batch), ("max_batch", max_batch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise UsageError(f"{name} must be an integer, not {value!r}", parameters=(name,))
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise UsageError(f"the batch range must satisfy 1 <= min ({min_batch}) <= opt_batch ({opt_batch}) "
                         f"<= max_batch ({max_batch})", parameters=("opt_batch", "max_batch"))
    names = [spec.name for spec in specs]
    unknown = sorted(set(pinned) - set(names))
    if unknown:
        raise UsageError(f"input_shapes names no input {unknown[0]!r} (the model's inputs: "
                         f"{', '.join(names) or 'none'})", parameters=("input_shapes",))

    shapes: dict[str, ShapeRange] = {}
    for spec in specs:
        user = pinned.get(spec.name)
        if user is not None:
            user = tuple(int(d) for d in user)
            if any(d < 1 for d in user[1:]):
                raise UsageError(f"input_shapes {spec.name}:{'x'.join(map(str, user))}: dims must be "
                                 "positive", parameters=("input_shapes",))
        dims = spec.dims
        if dims is None:
            if user is None:
                raise GraphfixError(f"input {spec.name!r} has no declared shape; give it with input_shapes "
                                    f"{spec.name}:DIMS (dim 0 is the batch)", parameters=("input_shapes",))
            dims = (None, *user[1:])  # no declared shape: dim 0 is the batch, the rest as pinned
        if user is not None and len(user) != len(dims):
            raise UsageError(f"input_shapes {spec.name}:{'x'.join(map(str, user))} has rank {len(user)}, "
                             f"but the model's input has rank {len(dims)}", parameters=("input_shapes",))
        low: list[int] = []
        opt: list[int] = []
        high: list[int] = []
        for axis, dim in enumerate(dims):
            if axis == 0 and dim is None:
                low.append(min_batch)
                opt.append(opt_batch)
                high.append(max_batch)
                continue
            if user is not None and (axis > 0 or dim is not None):
                wanted = user[axis]
                if dim is not None and wanted != dim:
                    raise GraphfixError(
                        f"input_shapes {spec.name}: dim {axis} is {wanted}, but the model fixes it at "
                        f"{dim}; TensorRT cannot change a static dim (fix the model with input_shapes first)",
                        parameters=("input_shapes",))
                value = wanted
            elif dim is not None:
                value = dim
            else:
                rule = rule_for_tensorrt_error(None, NO_PROFILE_ERROR)
                raise GraphfixError(
                    f"input {spec.name!r} dim {axis} is dynamic and TensorRT needs a value for it"
                    f"{f' ({rule})' if rule else ''}: pin it with input_shapes {spec.name}:{_example_shape(dims)}",
                    parameters=("input_shapes",))
            low.append(value)
            opt.append(value)
            high.append(value)
        shapes[spec.name] = (tuple(low), tuple(opt), tuple(high))
    return shapes


def _example_shape(dims: Sequence[int | None]) -> str:
    """``(None, 3, None, None)`` -> ``1x3x<dim2>x<dim3>``: what to fill in for ``input_shapes``."""
    return "x".join(str(d) if d is not None else ("1" if axis == 0 else f"<dim{axis}>")
                    for axis, d in enumerate(dims))


def feeds_for_batches(
    profile: Mapping[str, ShapeRange], batches: Sequence[int]
) -> dict[int, dict[str, tuple[int, ...]]]:
    """Concrete input shapes per batch for ``compare_engine``: the batch goes where the profile has a
    batch range (dim 0 with min != max), everything else is the profile's opt shape."""
    feeds: dict[int, dict[str, tuple[int, ...]]] = {}
    for batch in batches:
        shapes: dict[str, tuple[int, ...]] = {}
        for name, (low, opt, high) in profile.items():
            if low and low[0] != high[0]:
                if not low[0] <= batch <= high[0]:
                    raise UsageError(f"batch {batch} is outside the engine's batch range {low[0]}..{high[0]} "
                                     f"for input {name!r}")
                shapes[name] = (batch, *opt[1:])
            else:
                shapes[name] = tuple(opt)
        feeds[batch] = shapes
    return feeds


def default_engine_path(output: str | os.PathLike[str]) -> Path:
    """The engine beside the (fixed) ONNX output: ``model.onnx`` -> ``model.engine``."""
    return Path(output).with_suffix(".engine")


def default_timing_cache_path(engine_path: str | os.PathLike[str], trt_version: str) -> Path:
    """The timing cache kept next to the engine, named by TensorRT major.minor (caches do not carry over
    between TensorRT versions)."""
    major, minor = parse_version(trt_version)
    engine_path = Path(engine_path)
    return engine_path.with_name(f"{engine_path.stem}.trt{major}.{minor}.timing.cache")
