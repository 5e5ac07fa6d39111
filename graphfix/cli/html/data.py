"""The HTML report's input: plain data, so that rendering never touches a model."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field


# Names graphfix gives to the nodes and initializers it creates (graphfix.editor).
CREATED_PREFIX = "graphfix/"
# Constants with at most this many elements are drawn with their values.
MAX_SHOWN_ELEMENTS = 16
# Above this many nodes a picture keeps edge labels short (shapes only; names stay in the tooltips).
COMPACT_EDGE_LABELS = 40
# Above this many nodes a region is listed as a table instead of drawn.
MAX_PICTURE_NODES = 600
# Seconds one ``dot`` run may take before the picture falls back to grandalf.
DOT_TIMEOUT = 60.0

Layout = str  # "auto" | "dot" | "grandalf" | "table"


# -- the report input ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PictureNode:
    """One box in a region picture.

    ``kind`` is ``"op"`` (a node; ``label`` is its op type), ``"constant"`` (an initializer or a
    ``Constant`` node's value; ``detail`` is its value, e.g. ``[-1, 256]``, or its dtype and shape when
    large), ``"input"`` (a tensor the region reads from outside it) or ``"output"`` (a tensor the region
    hands to the rest of the graph). ``status`` is ``"removed"`` (in the original, not in the fixed
    model), ``"added"`` (created by graphfix) or ``""``.
    """

    id: str
    kind: str
    label: str
    name: str
    detail: str = ""
    status: str = ""


@dataclass(frozen=True)
class PictureEdge:
    """A tensor flowing from one picture node to another; ``shape`` as ``float [batch, 3, 64, 64]``."""

    source: str
    target: str
    tensor: str
    shape: str = ""


@dataclass(frozen=True)
class Subgraph:
    nodes: tuple[PictureNode, ...] = ()
    edges: tuple[PictureEdge, ...] = ()

    @property
    def op_count(self) -> int:
        return sum(1 for node in self.nodes if node.kind == "op")

    def count(self, kind: str, status: str) -> int:
        return sum(1 for node in self.nodes if node.kind == kind and node.status == status)


@dataclass(frozen=True)
class Region:
    """What one applied finding rewrote: the subgraph before (original) and after (fixed model)."""

    title: str
    code: str
    node: str | None
    changes: tuple[str, ...]
    before: Subgraph
    after: Subgraph

    @property
    def written(self) -> tuple[PictureNode, ...]:
        """The constants graphfix wrote into this region."""
        return tuple(n for n in self.after.nodes if n.kind == "constant" and n.status == "added")


@dataclass(frozen=True)
class FindingRow:
    code: str
    name: str
    node: str | None
    op_type: str | None
    message: str
    fixable: bool
    safety: str | None  # "safe", "unsafe", "needs-shape", "needs-dynamic-batch"; None when not fixable
    severity: str  # SARIF's level: "warning" or "note"
    status: str  # "found" (lint), "fixed" or "remains" (fix)
    fix: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpRow:
    op: str
    before: int
    after: int


@dataclass(frozen=True)
class OutputCheck:
    """One output at one batch size: max absolute and relative error of the fixed model."""

    output: str
    batch: int
    max_abs: float
    max_rel: float
    passed: bool


@dataclass(frozen=True)
class VerificationSummary:
    passed: bool
    batches: tuple[int, ...]
    outputs: tuple[OutputCheck, ...]
    message: str
    reference: str  # what the fixed model was compared with
    tolerances: str = ""  # e.g. "atol 1e-05, rtol 0.0001"


@dataclass(frozen=True)
class ModelSection:
    """Everything the page says about one model. ``ops``, ``verification`` and ``regions`` are empty for
    lint."""

    file: str
    findings: tuple[FindingRow, ...]
    error: str | None = None
    nodes: int | None = None
    ops: tuple[OpRow, ...] = ()
    verification: VerificationSummary | None = None
    verification_note: str = ""  # why there is no verification (skipped, nothing changed)
    regions: tuple[Region, ...] = ()
    user_edits: tuple[str, ...] = ()
    written: tuple[str, ...] = ()
    seconds: float | None = None


@dataclass(frozen=True)
class ReportInput:
    command: str  # "lint" or "fix"
    models: tuple[ModelSection, ...]
    version: str = ""
    created: str = field(default_factory=lambda: _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))

