"""Facts about the batch that several rules need, computed once per analysis (``Analysis.batch``).

- :attr:`BatchFacts.baked_origins`: constant-shaped producers (a Reshape to ``[2, 256]``, an Expand to
  a fixed batch) whose fixed dim 0 makes a later node fail at other batch sizes. GF103 reports them;
  GF302 says they block a dynamic batch.
- :attr:`BatchFacts.explained_failures`: the nodes whose failures at other batches follow from a baked
  batch, so that GF902 does not report them a second time.
- :attr:`BatchFacts.static_batch`: for a model whose inputs all have a static dim 0, what the graph does
  when dim 0 is taken as a dynamic batch (a second analysis, made lazily, once).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import onnx_ir as ir

from graphfix.analyse.analysis import Analysis
from graphfix.analyse.batch_slots import BakedSlot, find_baked_slots
from graphfix.analyse.facts import BakedReshape, Kind
from graphfix.analyse.operands import SHAPED_BY_OPERAND, input_value
from graphfix.analyse.rewrites import baked_reshape_target, fails_downstream
from graphfix.ir.graphutil import node_label


@dataclass(frozen=True)
class StaticBatch:
    """A static-batch model analysed as if dim 0 of its inputs were a dynamic batch."""

    batches: tuple[int, ...]  # the static dim 0 values of the inputs
    inputs: tuple[ir.Value, ...]  # the graph inputs (with a shape of rank >= 1)
    outputs: tuple[ir.Value, ...]  # the graph outputs (with a shape of rank >= 1)
    blockers: tuple[str, ...]  # nodes that bake the batch (sorted labels)
    failed: tuple[str, ...]  # nodes that fail at other batch sizes for other reasons (sorted labels)
    bad_outputs: tuple[str, ...]  # outputs whose dim 0 does not follow the inputs' dim 0
    repairs: tuple[BakedReshape, ...] = ()  # the Reshapes among the blockers, with their repairs
    # Tile / Expand / ConstantOfShape / Range / Slice inputs and stored constants holding the batch
    # (:mod:`graphfix.analyse.batch_slots`), and the outputs whose dim 0 is unknown past their failures.
    slots: tuple[BakedSlot, ...] = ()
    unknown_outputs: tuple[str, ...] = ()

    @property
    def repairable(self) -> bool:
        """Whether every node that bakes the batch is a Reshape or a batch slot with a repair
        (``--unsafe-fixes``), and nothing else fails."""
        repaired = {node_label(r.node) for r in self.repairs}
        repaired.update(node_label(s.node) for s in self.slots if s.repairable)
        explained = repaired | {node_label(s.failing) for s in self.slots if s.repairable and s.failing is not None}
        # Past a slot's failing node the walk knows no shapes; per-sample verification checks those outputs.
        bad = set(self.bad_outputs) - (set(self.unknown_outputs) if self.slots else set())
        bad -= {name for s in self.slots if s.repairable for name in s.frees}  # verified per sample
        return (bool(self.repairs) or any(s.repairable for s in self.slots)) and set(self.blockers) <= repaired \
            and set(self.failed) <= explained and not bad

    @property
    def can_be_dynamic(self) -> bool:
        """Whether making dim 0 dynamic keeps the model working at every batch size."""
        return not (self.blockers or self.failed or self.bad_outputs)

    @property
    def reason(self) -> str | None:
        """Why dim 0 cannot be made dynamic, or None when it can."""
        problems = [*self.blockers, *(f for f in self.failed if f not in self.blockers)]
        if problems:
            loops = [s for s in self.slots if not s.repairable]
            why = "".join(f"; {s.kind} {node_label(s.node)!r}: {s.reason}" for s in loops[:2])
            return f"{len(problems)} node(s) bake the batch: {', '.join(problems[:8])}{why}"
        if self.bad_outputs:
            return f"outputs {', '.join(self.bad_outputs)} do not follow dim 0 of the inputs"
        return None


class BatchFacts:
    """Batch facts of one analysis, each computed on first use."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis

    @functools.cached_property
    def baked_origins(self) -> dict[ir.Node, ir.Node]:
        """``{origin: failing node}``: constant-shaped producers whose fixed dim 0 makes a later node fail
        at other batch sizes."""
        analysis = self.analysis
        result: dict[ir.Node, ir.Node] = {}
        failing_nodes: list[ir.Node] = []
        dim_probe = analysis.dim_probe
        for issue in analysis.issues:
            if issue.probe is not None and issue.probe == dim_probe:
                continue  # fails only when a non-batch dim moves: a frozen H/W, not the batch
            if issue.kind in ("inference-failed", "volume-mismatch") and issue.node not in failing_nodes:
                failing_nodes.append(issue.node)
        for node in failing_nodes:
            kinds = [analysis.dim_kind(v, 0) if v is not None else Kind.UNKNOWN for v in node.inputs]
            if Kind.BATCH not in kinds and node.op_type != "Reshape":
                continue
            for value, kind in zip(node.inputs, kinds):
                if value is None or kind is not Kind.CONSTANT:
                    continue
                origin = _constant_batch_origin(analysis, value)
                if origin is not None:
                    result.setdefault(origin, node)
            target = node.inputs[1] if node.op_type == "Reshape" and len(node.inputs) > 1 else None
            if target is not None and not analysis.is_runtime(target):
                result.setdefault(node, node)
        return result

    @functools.cached_property
    def baked_reshapes(self) -> frozenset[ir.Node]:
        """Reshapes whose target (constant, or computed at run time with the batch frozen in it) bakes the
        export batch (``[2, 256]``, ``[1, -1]``)."""
        analysis = self.analysis
        return frozenset(
            node for node in analysis.order
            if node.op_type == "Reshape" and len(node.inputs) > 1 and node.inputs[1] is not None
            and baked_reshape_target(analysis, node).value is not None)

    @functools.cached_property
    def baked_slots(self) -> list[BakedSlot]:
        """Tile / Expand / ConstantOfShape / Range / Slice inputs and stored constants that hold the export
        batch, with their repairs (:mod:`graphfix.analyse.batch_slots`)."""
        return find_baked_slots(self.analysis)

    @functools.cached_property
    def explained_failures(self) -> frozenset[ir.Node]:
        """Nodes whose failures at other batch sizes follow from a baked batch (the cause is reported)."""
        origins = self.baked_origins
        explained = set(origins) | set(origins.values()) | set(self.baked_reshapes) | set(self.analysis.repairs)
        explained.update(s.node for s in self.baked_slots)
        explained.update(s.failing for s in self.baked_slots if s.failing is not None)
        for node in self.analysis.order:  # topological: one pass reaches every descendant
            if node in explained:
                continue
            if any(v is not None and v.producer() in explained for v in node.inputs):
                explained.add(node)
        return frozenset(explained)

    @functools.cached_property
    def batch_lost(self) -> frozenset[ir.Value]:
        """Data tensors whose dim 0 is a constant only because the batch was baked upstream: downstream of
        a baked node or failure, or of a node where the batch stops flowing (a Reshape, Slice, Pad, Expand,
        Tile, Split or Concat with a batch-carrying input and a constant dim 0 and no axis that carries the
        batch). A value computed from their shapes is the export batch, never a safe constant."""
        analysis = self.analysis
        if not analysis.has_batch_probes:
            return frozenset()
        # Not explained_failures: that reads baked_reshapes, which reads this (through the rewrites).
        origins = self.baked_origins
        explained = set(origins) | set(origins.values()) | {
            i.node for i in analysis.issues if i.kind in ("inference-failed", "volume-mismatch")}
        lost: set[ir.Value] = set()
        for node in analysis.order:
            inputs = [v for v in node.inputs if v is not None and v in analysis.facts
                      and not analysis.facts[v].known()]
            if not inputs:
                continue
            origin = node in explained or any(v in lost for v in inputs)
            if not origin and node.op_type in _BATCH_KEEPING:
                origin = any(analysis.dim_kind(v, 0) is Kind.BATCH for v in inputs) and not any(
                    _carries_batch(analysis, o) for o in node.outputs)
                origin = origin or (node.op_type == "Reshape" and node.inputs[0] is not None
                                    and analysis.dim_kind(node.inputs[0], 0) is Kind.BATCH)
                # A layout change can also move the batch out of dim 0 (seq-first attention): a stop is a
                # baked batch only when the graph then fails at other batch sizes.
                origin = origin and fails_downstream(analysis, node)
            if not origin:
                continue
            for output in node.outputs:
                facts = analysis.facts.get(output)
                if facts is not None and not facts.known() and analysis.dim_kind(output, 0) is not Kind.BATCH:
                    lost.add(output)
        return frozenset(lost)

    def reads_lost_batch(self, value: ir.Value) -> ir.Value | None:
        """A tensor whose baked dim 0 the run-time ``value`` reads through Shape, or None."""
        lost = self.batch_lost
        if not lost:
            return None
        _, sources = self.analysis.chain(value)
        return next((s for s in sources if s in lost), None)

    def still_baked(self, export_batches: Iterable[int]) -> list[str]:
        """Where the batch is still baked after a repair: nodes that fail at the batch probes, and graph
        outputs whose dim 0 is always one of the ``export_batches`` (>= 2) although an input carries the
        batch, each with the node where the batch stops flowing. Empty when the batch flows everywhere.

        An unsafe repair that leaves any of these would write a model that runs at other batch sizes with
        the export batch's rows (a Slice ``[:n]``, a Pad of ``n % 2``, a Tile to the batch), so the
        pipeline leaves such a repair unapplied.
        """
        analysis = self.analysis
        if not analysis.has_batch_probes:
            return []
        wanted = {int(b) for b in export_batches if int(b) >= 2}
        found = [f"{node.op_type} {node_label(node)!r} bakes the batch" for node in analysis.repairs]
        dim_probe = analysis.dim_probe
        for issue in analysis.issues:
            if issue.kind not in ("inference-failed", "volume-mismatch"):
                continue
            if issue.probe is not None and dim_probe is not None and issue.probe == dim_probe:
                continue  # a frozen non-batch dim, not the batch
            text = f"{issue.node.op_type} {node_label(issue.node)!r} fails at other batch sizes"
            if text not in found:
                found.append(text)
        for value in analysis.model.graph.outputs:
            if analysis.dim_kind(value, 0) is not Kind.CONSTANT:
                continue
            shape = analysis.shape(value)
            dim = shape[0] if shape else None
            if dim is None or dim not in wanted:
                continue
            stop = self.batch_stop(value)
            where = f" (the batch stops flowing at {stop.op_type} {node_label(stop)!r})" if stop is not None else ""
            found.append(f"output {value.name!r} dim 0 is always {dim}{where}")
        return found

    def batch_stop(self, value: ir.Value) -> ir.Node | None:
        """The first node, upstream of ``value``, with a data input whose dim 0 follows the batch and an
        output whose dim 0 does not: where the batch stopped flowing."""
        analysis = self.analysis
        seen: set[ir.Node] = set()
        stack = [value]
        candidates: list[ir.Node] = []
        while stack:
            producer = stack.pop().producer()
            if producer is None or producer in seen:
                continue
            seen.add(producer)
            inputs = [v for v in producer.inputs if v is not None and analysis.facts.get(v) is not None
                      and not analysis.facts[v].known()]
            if any(analysis.dim_kind(v, 0) is Kind.BATCH for v in inputs) and any(
                    analysis.dim_kind(o, 0) is Kind.CONSTANT for o in producer.outputs):
                candidates.append(producer)
            stack.extend(inputs)
        if not candidates:
            return None
        positions = analysis.positions
        return min(candidates, key=lambda node: positions.get(node, 0))

    @functools.cached_property
    def static_batch(self) -> StaticBatch | None:
        """The model re-analysed with dim 0 as the batch, when no input declares a dynamic batch and every
        input has a static dim 0; None otherwise."""
        from graphfix.analyse.walker import analyse

        analysis = self.analysis
        if analysis.batch_declared:
            return None
        graph = analysis.model.graph
        initializers = set(graph.initializers.values())
        inputs = [v for v in graph.inputs if v not in initializers and v.shape is not None and len(v.shape) > 0]
        first_dims = [v.shape[0] for v in inputs if v.shape is not None]
        if not inputs or not all(isinstance(d, int) for d in first_dims):
            return None
        assumed = analyse(analysis.loaded, analysis.pinned, assume_batch=True, custom_ops=analysis.custom_ops)
        slots = assumed.batch.baked_slots
        slot_nodes = {s.node for s in slots}
        # A slot's origin is the slot itself (its failing consumer is explained by it).
        origins = [n for n, failing in assumed.batch.baked_origins.items()
                   if n not in slot_nodes and failing not in {s.failing for s in slots if s.repairable}]
        blockers = sorted({node_label(n) for n in [*origins, *assumed.repairs, *slot_nodes]})
        failed = sorted({node_label(i.node) for i in assumed.issues if i.kind != "data-dependent"})
        outputs = [v for v in graph.outputs if v.shape is not None and len(v.shape) > 0]
        bad_outputs = [v.name or "" for v in outputs if assumed.dim_kind(v, 0) is not Kind.BATCH]
        unknown = [v.name or "" for v in outputs if assumed.dim_kind(v, 0) is Kind.UNKNOWN]
        return StaticBatch(tuple(sorted({int(d) for d in first_dims if isinstance(d, int)})), tuple(inputs),
                           tuple(outputs), tuple(blockers), tuple(failed), tuple(bad_outputs),
                           tuple(assumed.repairs.values()), tuple(slots), tuple(unknown))


# Ops whose output dim 0 follows the input's batch unless a constant that bakes it says otherwise.
_BATCH_KEEPING = frozenset({"Reshape", "Slice", "Pad", "Expand", "Tile", "Split", "Concat", "Flatten"})


def _carries_batch(analysis: Analysis, value: ir.Value) -> bool:
    shape = analysis.shape(value)
    return shape is not None and any(analysis.dim_kind(value, axis) is Kind.BATCH for axis in range(len(shape)))


def _constant_batch_origin(analysis: Analysis, value: ir.Value) -> ir.Node | None:
    """Walk back through producers with a constant dim 0 to the op whose constant input fixed it."""
    current: ir.Value | None = value
    for _ in range(64):
        producer = current.producer() if current is not None else None
        if producer is None:
            return None
        name = SHAPED_BY_OPERAND.get(producer.op_type)
        shape_input = input_value(producer, name, analysis.opset) if name is not None else None
        if shape_input is not None and not analysis.is_runtime(shape_input):
            return producer
        upstream = [v for v in producer.inputs if v is not None and analysis.dim_kind(v, 0) is Kind.CONSTANT
                    and analysis.is_runtime(v)]
        if not upstream:
            return None
        current = upstream[0]
    return None
