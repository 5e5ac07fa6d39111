"""The inputs a verification feeds: the original model's interface and valid random data for it.

Integer inputs get valid data: token ids stay inside the embedding table they index, other integers are
0/1 (masks), unless the caller's ``input_ranges`` say otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx_ir as ir

from graphfix.errors import GraphfixError

# Non-batch dims that are still dynamic are verified at this size.
DEFAULT_DYNAMIC_DIM = 64

# Ops that pass integer ids through unchanged on the way to the embedding lookup.
_PASS_THROUGH = {"Cast", "Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Slice", "Expand"}


def integer_ranges(model: ir.Model) -> dict[str, tuple[int, int]]:
    """Valid ranges for integer inputs: indices into a table stay below its size; others are 0/1."""
    graph = model.graph
    initializers = set(graph.initializers.values())
    ranges: dict[str, tuple[int, int]] = {}
    for value in graph.inputs:
        if value in initializers or value.dtype is None or not value.dtype.is_integer():
            continue
        rows = _indexed_rows(value, depth=4)
        ranges[value.name or ""] = (0, rows - 1) if rows else (0, 1)
    return ranges


def _indexed_rows(value: ir.Value, depth: int) -> int | None:
    sizes = []
    for use in value.uses():
        node, index = use.node, use.idx
        if node.op_type in ("Gather", "GatherElements") and index == 1:
            data = node.inputs[0]
            axis = node.attributes.get("axis")
            axis_value = axis.as_int() if axis is not None else 0
            dim = data.shape[axis_value] if data is not None and data.shape is not None else None
            if isinstance(dim, int):
                sizes.append(dim)
        elif node.op_type in _PASS_THROUGH and index == 0 and depth > 0:
            found = _indexed_rows(node.outputs[0], depth - 1)
            if found:
                sizes.append(found)
    return min(sizes) if sizes else None


@dataclass(frozen=True)
class InputSpec:
    """A graph input as the original model declares it (dims: int, or None when dynamic)."""

    name: str
    dtype: np.dtype
    dims: tuple[int | None, ...] | None


def input_specs(model: ir.Model) -> list[InputSpec]:
    initializers = set(model.graph.initializers.values())
    specs = []
    for value in model.graph.inputs:
        if value in initializers:
            continue
        dtype = np.dtype(value.dtype.numpy()) if value.dtype is not None else np.dtype(np.float32)
        dims = None if value.shape is None else tuple(d if isinstance(d, int) else None for d in value.shape)
        specs.append(InputSpec(value.name or "", dtype, dims))
    return specs


def input_shapes_for(
    specs: Sequence[InputSpec], batch: int, pinned: Mapping[str, Sequence[int]]
) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        if spec.dims is None:
            raise GraphfixError(f"input {spec.name!r} has no declared shape; give one with input_shapes",
                                parameters=("input_shapes",))
        user = pinned.get(spec.name)
        dims = []
        for axis, dim in enumerate(spec.dims):
            if axis == 0 and dim is None:
                dims.append(batch)
            elif user is not None and axis > 0:
                dims.append(int(user[axis]))
            elif dim is not None:
                dims.append(dim)
            else:
                dims.append(DEFAULT_DYNAMIC_DIM)
        shapes[spec.name] = tuple(dims)
    return shapes
