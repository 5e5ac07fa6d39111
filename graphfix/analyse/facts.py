"""The facts the analysis establishes: per tensor, its shape and (when small) its value at each probe.

A *probe* is one concrete assignment of the dynamic dimensions: batch sizes 3, 5 and 4 (never 1, which
hides broadcasting; two odd sizes give the linear extrapolation, the even one catches what only parity
changes), plus, when some non-batch dimension is still dynamic, one probe that moves only those.
Comparing a tensor's facts across probes classifies it (:class:`Kind`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx_ir as ir

# Two odd batch sizes give the linear extrapolation; the even one catches what only parity changes
# (``x.size(0) % 2`` is 1 at both 3 and 5).
BATCH_PROBES = (3, 5, 4)
# Probe values for unpinned non-batch dims: multiples of 64 keep strided CNNs and patch embeddings valid.
DIM_PROBES = (128, 192)

BATCH = "batch"  # marker for the batch dimension in an input's dimension spec

Shape = tuple[int | None, ...]
"""A shape at one probe; None marks a dim the analysis could not work out."""


class Kind(enum.Enum):
    """How a shape or value changes across the probes."""

    CONSTANT = "constant"  # the same at every probe: a constant can replace what computes it
    BATCH = "batch"  # changes with the batch only: expressible with -1 (or 0) in the batch position
    DYNAMIC = "dynamic"  # changes with another dynamic dimension, which only the user can pin
    UNKNOWN = "unknown"  # depends on tensor data, or on an op graphfix cannot analyse


@dataclass(frozen=True)
class Probe:
    """One assignment of the dynamic dims: the batch size and a size per dim symbol."""

    batch: int
    dims: Mapping[str, int]


@dataclass
class Facts:
    """What the probes tell about one tensor: per probe, its shape and (when small) its value."""

    dtype: int  # onnx.TensorProto data type (0 when unknown)
    shapes: list[Shape | None]
    values: list[np.ndarray | None]
    runtime: bool = False  # computed by nodes at run time, rather than stored as a constant
    shape_derived: bool = False  # computed (partly) from the shape of some tensor

    def known(self) -> bool:
        """Whether the value is known at every probe."""
        return all(v is not None for v in self.values)

    def same_at_every_probe(self) -> bool:
        """Whether every probe holds the very same shape and value (weights, constants and what is computed
        from them only): a node fed only such tensors is computed once."""
        shape, value = self.shapes[0], self.values[0]
        return all(s is shape for s in self.shapes) and all(v is value for v in self.values)


@dataclass(frozen=True)
class Issue:
    """A node the analysis could not see through (at one probe, or at all of them)."""

    node: ir.Node
    kind: str  # "data-dependent", "unknown-op", "inference-failed" or "volume-mismatch"
    message: str
    probe: int | None = None


@dataclass(frozen=True)
class SeenThrough:
    """A node that fails only because a repairable batch slot feeds it (:mod:`graphfix.analyse.batch_slots`),
    walked as if the slot were repaired: ``shapes`` is its output's shape at each probe then (hypothetical,
    like :class:`BakedReshape`'s), and ``issues`` its failures, kept so the slot is still found."""

    node: ir.Node
    shapes: tuple[Shape | None, ...]
    dtype: int
    issues: tuple[Issue, ...]


@dataclass(frozen=True)
class DynamicDim:
    """A dynamic dimension of a graph input or output other than the batch."""

    value: ir.Value
    axis: int
    symbol: str
    is_output: bool


@dataclass(frozen=True)
class BakedReshape:
    """A Reshape (or a Resize by ``sizes``) that bakes the export batch, and what it gives when repaired.

    ``kind`` is ``"batch-slot"`` (the input carries the batch in dim 0 and the target holds the export
    batch ``export_batch`` where the batch belongs: ``[2, 16, 8, 8]``, ``[8, 16, 16]``, ``[2, -1]``) or
    ``"batch-less-input"`` (a tensor without a batch, dim 0 of 1 from a constant, reshaped to a target whose
    dim ``axis`` is the run-time batch: right only at batch 1). ``target`` is the repaired Reshape target;
    ``expand`` the shape vector (``int`` or ``("batch", k)`` entries) the repaired output is expanded to,
    or None when no Expand is needed. ``shapes`` is the repaired output's shape at each probe: the walk
    uses it in place of the failing or wrong one, so the analysis sees through the node (those facts are
    hypothetical: rules never offer the baked target as a safe constant). ``runs`` says, per batch size
    1..5 other than ``export_batch``, whether the original ``"fails"`` there or runs ``"wrong"``.
    A Resize whose constant ``sizes`` hold the export batch is kind ``"resize-sizes"``: ``scales`` are
    what repairs it (GF201 reports it; GF302 repairs it with the Reshapes of a static batch).
    """

    node: ir.Node
    kind: str
    export_batch: int
    axis: int
    original: tuple[int, ...]  # the target at the export batch
    target: tuple[int, ...]
    expand: tuple[int | tuple[str, int], ...] | None
    shapes: tuple[Shape, ...]
    runs: tuple[tuple[int, str], ...]
    scales: tuple[float, ...] = ()
