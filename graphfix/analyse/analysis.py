"""The :class:`Analysis` of one model: the facts of every tensor, and the questions rules ask of them."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import onnx_ir as ir

from graphfix.analyse.facts import (
    BATCH_PROBES,
    BakedReshape,
    DynamicDim,
    Facts,
    Issue,
    Kind,
    Probe,
    SeenThrough,
    Shape,
)
from graphfix.analyse.ops import is_standard
from graphfix.ir.loading import LoadedModel, default_opset

if TYPE_CHECKING:
    from graphfix.analyse.batch import BatchFacts
    from graphfix.plugins.registry import Registry

T = TypeVar("T")


@dataclass
class Analysis:
    """Every tensor's facts at each probe, plus what the walk could not see through.

    Built by :func:`graphfix.analyse.analyse`; read-only for everyone else. Derived facts (run-time
    chains, baked-batch origins, the static-batch re-analysis) are computed lazily, once.
    """

    loaded: LoadedModel
    probes: list[Probe]
    input_dims: dict[str, list[int | str]]  # per graph input: int, BATCH or a symbol
    order: list[ir.Node]
    pinned: Mapping[str, Sequence[int]] = field(default_factory=dict)  # the user's input shapes
    facts: dict[ir.Value, Facts] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    dynamic_dims: list[DynamicDim] = field(default_factory=list)
    batch_declared: bool = False  # some input has a symbolic dim 0
    assume_batch: bool = False  # dim 0 of every input was taken as the batch, static or not
    unshaped_inputs: list[str] = field(default_factory=list)
    custom_ops: Registry | None = None  # reference implementations the walk runs custom ops with
    # Reshapes that bake the batch, walked as if repaired (graphfix.analyse.baked): hypothetical facts after them.
    repairs: dict[ir.Node, BakedReshape] = field(default_factory=dict)
    # Nodes failing only because of a repairable batch slot, walked as if it were repaired (the same).
    seen_through: dict[ir.Node, SeenThrough] = field(default_factory=dict)
    _chains: dict[ir.Value, tuple[list[ir.Node], list[ir.Value]]] = field(
        default_factory=dict, repr=False, compare=False)

    @property
    def model(self) -> ir.Model:
        return self.loaded.model

    @functools.cached_property
    def opset(self) -> int:
        return default_opset(self.model)

    @property
    def has_batch_probes(self) -> bool:
        """Whether the probes vary the batch (some input has a dynamic, or assumed, batch)."""
        return len(self.probes) >= 2 and self.probes[0].batch != self.probes[1].batch

    def nodes(self, *op_types: str) -> Iterator[ir.Node]:
        """Nodes of the standard ONNX domain with one of these op types, in topological order."""
        for node in self.order:
            if node.op_type in op_types and is_standard(node):
                yield node

    @functools.cached_property
    def positions(self) -> dict[ir.Node, int]:
        """Each node's index in the topological order."""
        return {node: index for index, node in enumerate(self.order)}

    @functools.cached_property
    def batch(self) -> BatchFacts:
        """Facts about the batch that several rules need: where a baked batch comes from, which
        failures it explains, and what a static batch would do if it were dynamic."""
        from graphfix.analyse.batch import BatchFacts

        return BatchFacts(self)

    # -- classification ---------------------------------------------------------------------------

    def _classify(self, items: Sequence[T | None], same: Callable[[T, T], bool]) -> Kind:
        present = [item for item in items if item is not None]
        if len(present) != len(items):
            return Kind.UNKNOWN
        if self.dim_probe is not None and not same(present[0], present[self.dim_probe]):
            return Kind.DYNAMIC
        if any(not same(present[0], present[i]) for i in range(1, len(BATCH_PROBES))):
            return Kind.BATCH
        return Kind.CONSTANT

    @property
    def dim_probe(self) -> int | None:
        """Index of the probe that moves the unpinned non-batch dims (None when there are none)."""
        return len(BATCH_PROBES) if len(self.probes) > len(BATCH_PROBES) else None

    def value_kind(self, value: ir.Value | None) -> Kind:
        """How a tensor's value changes across the probes (UNKNOWN when it is not known everywhere)."""
        facts = self.facts.get(value) if value is not None else None
        if facts is None:
            return Kind.UNKNOWN
        return self._classify(facts.values, _same_array)

    def dim_kind(self, value: ir.Value, axis: int) -> Kind:
        """How one dim of a tensor's shape changes across the probes."""
        facts = self.facts.get(value)
        if facts is None:
            return Kind.UNKNOWN
        dims: list[int | None] = []
        for shape in facts.shapes:
            if shape is None or axis >= len(shape):
                return Kind.UNKNOWN
            dims.append(shape[axis])
        return self._classify(dims, _equal)

    def entry_kinds(self, value: ir.Value) -> list[Kind]:
        """Kind of each entry of a known 1-D value (a shape vector)."""
        flat = self._flat_values(value)
        if any(f.shape != flat[0].shape for f in flat):
            return [Kind.UNKNOWN] * flat[0].size
        return [self._classify([f[i].item() for f in flat], _equal) for i in range(flat[0].size)]

    def shape(self, value: ir.Value, probe: int = 0) -> Shape | None:
        """The shape of ``value`` at one probe."""
        facts = self.facts.get(value)
        return None if facts is None else facts.shapes[probe]

    def value(self, value: ir.Value, probe: int = 0) -> np.ndarray | None:
        """The value of ``value`` at one probe, when it is small and known."""
        facts = self.facts.get(value)
        return None if facts is None else facts.values[probe]

    def full_shapes(self, value: ir.Value | None) -> list[tuple[int, ...]] | None:
        """The shape at every probe, when every dim of every probe is known."""
        facts = self.facts.get(value) if value is not None else None
        if facts is None:
            return None
        shapes: list[tuple[int, ...]] = []
        for shape in facts.shapes:
            if shape is None:
                return None
            dims = [d for d in shape if d is not None]
            if len(dims) != len(shape):
                return None
            shapes.append(tuple(int(d) for d in dims))
        return shapes

    def taken_branch(self, node: ir.Node) -> str | None:
        """The branch an If takes at every probe (``"then_branch"`` or ``"else_branch"``), when its
        condition is known and the same at all of them; else None."""
        if node.op_type != "If" or not is_standard(node) or not node.inputs or node.inputs[0] is None:
            return None
        facts = self.facts.get(node.inputs[0])
        if facts is None or not facts.known():
            return None
        taken = set()
        for array in facts.values:
            flat = np.asarray(array).reshape(-1)
            if flat.size != 1:
                return None
            taken.add(bool(flat[0]))
        if len(taken) != 1:
            return None
        branch = "then_branch" if taken.pop() else "else_branch"
        attribute = node.attributes.get(branch)
        return branch if attribute is not None and attribute.type is ir.AttributeType.GRAPH else None

    def is_runtime(self, value: ir.Value | None) -> bool:
        """Whether ``value`` is computed by nodes at run time (rather than stored as a constant)."""
        facts = self.facts.get(value) if value is not None else None
        return bool(facts and facts.runtime)

    def _flat_values(self, value: ir.Value) -> list[np.ndarray]:
        facts = self.facts[value]
        flat = [np.asarray(v).reshape(-1) for v in facts.values if v is not None]
        if len(flat) != len(facts.values):
            raise ValueError(f"{value.name} is not known at every probe")
        return flat

    # -- describing -------------------------------------------------------------------------------

    def describe_entries(self, value: ir.Value) -> str:
        """A shape vector written with 'batch' where entries follow it, e.g. ``[batch, 64]``."""
        flat = self._flat_values(value)
        return "[" + ", ".join(self._describe_entry([f[i].item() for f in flat]) for i in range(flat[0].size)) + "]"

    def _describe_entry(self, numbers: list[int | float]) -> str:
        kind = self._classify(numbers, _equal)
        if kind is Kind.CONSTANT:
            return _format_number(numbers[0])
        if kind is Kind.BATCH:
            b0, b1 = self.probes[0].batch, self.probes[1].batch
            slope = Fraction(numbers[1] - numbers[0]).limit_denominator(64) / (b1 - b0)
            offset = Fraction(numbers[0]).limit_denominator(64) - slope * b0
            if len(numbers) > 2 and len(self.probes) > 2 and (
                    Fraction(numbers[0]).limit_denominator(64) + slope * (self.probes[2].batch - b0)
                    != Fraction(numbers[2]).limit_denominator(64)):
                shown = ", ".join(_format_number(n) for n in numbers[:3])
                batches = ", ".join(str(p.batch) for p in self.probes[:3])
                return f"nonlinear in the batch ({shown} at batch {batches})"
            term = "batch" if slope == 1 else f"{_format_number(slope)}*batch"
            if offset:
                term += f" {'+' if offset > 0 else '-'} {_format_number(abs(offset))}"
            return term
        return "dynamic"

    def chain(self, value: ir.Value) -> tuple[list[ir.Node], list[ir.Value]]:
        """The run-time nodes that compute ``value`` (in topological order), and the tensors whose
        shapes they read."""
        found = self._chains.get(value)
        if found is None:
            found = self._chains[value] = self._chain(value)
        return found

    def _chain(self, value: ir.Value) -> tuple[list[ir.Node], list[ir.Value]]:
        nodes: list[ir.Node] = []
        sources: list[ir.Value] = []
        seen: set[ir.Node] = set()
        stack = [value]
        while stack:
            current = stack.pop()
            producer = current.producer()
            if producer is None or producer in seen or not self.is_runtime(current):
                continue
            seen.add(producer)
            nodes.append(producer)
            if producer.op_type in ("Shape", "Size"):
                source = producer.inputs[0]
                if source is not None and source not in sources:
                    sources.append(source)
                continue
            stack.extend(v for v in producer.inputs if v is not None)
        position = self.positions
        nodes.sort(key=lambda node: position.get(node, 0))
        return nodes, sources

    def describe_chain(self, value: ir.Value) -> str:
        """``computed at run time from Shape(x) by 4 nodes``, or ``computed by 2 nodes from constants``."""
        nodes, sources = self.chain(value)
        if not sources:
            return f"computed by {len(nodes)} node{'s' if len(nodes) != 1 else ''} from constants"
        shown = ", ".join(f"Shape({s.name})" for s in sources[:2])
        if len(sources) > 2:
            shown += f" and {len(sources) - 2} more"
        return f"computed at run time from {shown} by {len(nodes)} node{'s' if len(nodes) != 1 else ''}"


def _format_number(number: Fraction | int | float) -> str:
    if isinstance(number, Fraction):
        return str(number.numerator) if number.denominator == 1 else f"{float(number):g}"
    if isinstance(number, (float, np.floating)):
        return f"{float(number):g}"
    return str(number)


def _equal(a: object, b: object) -> bool:
    return a == b


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
