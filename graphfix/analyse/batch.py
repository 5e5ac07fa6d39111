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
from dataclasses import dataclass

import onnx_ir as ir

from graphfix.analyse.analysis import Analysis
from graphfix.analyse.facts import Kind
from graphfix.analyse.ops import SHAPED_BY_INPUT
from graphfix.analyse.rewrites import baked_reshape_target
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

    @property
    def can_be_dynamic(self) -> bool:
        """Whether making dim 0 dynamic keeps the model working at every batch size."""
        return not (self.blockers or self.failed or self.bad_outputs)

    @property
    def reason(self) -> str | None:
        """Why dim 0 cannot be made dynamic, or None when it can."""
        problems = self.blockers or self.failed
        if problems:
            return f"{len(problems)} node(s) bake the batch: {', '.join(problems[:3])}"
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
        for issue in analysis.issues:
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
        """Reshapes whose constant target bakes the export batch (``[2, 256]``, ``[1, -1]``)."""
        analysis = self.analysis
        return frozenset(
            node for node in analysis.order
            if node.op_type == "Reshape" and len(node.inputs) > 1 and node.inputs[1] is not None
            and not analysis.is_runtime(node.inputs[1]) and baked_reshape_target(analysis, node).value is not None)

    @functools.cached_property
    def explained_failures(self) -> frozenset[ir.Node]:
        """Nodes whose failures at other batch sizes follow from a baked batch (the cause is reported)."""
        origins = self.baked_origins
        explained = set(origins) | set(origins.values()) | set(self.baked_reshapes)
        for node in self.analysis.order:  # topological: one pass reaches every descendant
            if node in explained:
                continue
            if any(v is not None and v.producer() in explained for v in node.inputs):
                explained.add(node)
        return frozenset(explained)

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
        blockers = sorted({node_label(n) for n in assumed.batch.baked_origins})
        failed = sorted({node_label(i.node) for i in assumed.issues if i.kind != "data-dependent"})
        outputs = [v for v in graph.outputs if v.shape is not None and len(v.shape) > 0]
        bad_outputs = [v.name or "" for v in outputs if assumed.dim_kind(v, 0) is not Kind.BATCH]
        return StaticBatch(tuple(sorted({int(d) for d in first_dims if isinstance(d, int)})), tuple(inputs),
                           tuple(outputs), tuple(blockers), tuple(failed), tuple(bad_outputs))


def _constant_batch_origin(analysis: Analysis, value: ir.Value) -> ir.Node | None:
    """Walk back through producers with a constant dim 0 to the op whose constant input fixed it."""
    current: ir.Value | None = value
    for _ in range(64):
        producer = current.producer() if current is not None else None
        if producer is None:
            return None
        index = SHAPED_BY_INPUT.get(producer.op_type)
        if index is not None and index < len(producer.inputs):
            shape_input = producer.inputs[index]
            if shape_input is not None and not analysis.is_runtime(shape_input):
                return producer
        upstream = [v for v in producer.inputs if v is not None and analysis.dim_kind(v, 0) is Kind.CONSTANT
                    and analysis.is_runtime(v)]
        if not upstream:
            return None
        current = upstream[0]
    return None
