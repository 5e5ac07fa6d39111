"""Applying fix plans to a model, then removing what the rewrites left dead.

This is the only module that mutates a graph. Plans come from rules (``graphfix.engine.SetInputs`` and
``SetDims``); applying one replaces inputs by new initializers or sets declared dims. ``cleanup`` then
removes the nodes and initializers nothing uses any more (custom-domain nodes are kept: graphfix does
not know what they do) and re-sorts the graph.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import onnx_ir as ir

from graphfix.engine import BatchShape, FixPlan, SetDims, SetInputs
from graphfix.graphutil import topological_order


class Editor:
    def __init__(self, model: ir.Model) -> None:
        self.model = model
        self.graph = model.graph
        self._names = {v.name for v in self.graph.initializers.values()}
        self._names.update(o.name for node in self.graph for o in node.outputs)
        self._names.update(v.name for v in self.graph.inputs)

    def apply(self, plans: Iterable[FixPlan]) -> int:
        count = 0
        for plan in plans:
            if isinstance(plan, SetInputs):
                self._set_inputs(plan)
            elif isinstance(plan, SetDims):
                self._set_dims(plan)
            elif isinstance(plan, BatchShape):
                self._batch_shape(plan)
            else:  # pragma: no cover - plans are a closed set
                raise TypeError(f"unknown plan {plan!r}")
            count += 1
        return count

    def _set_inputs(self, plan: SetInputs) -> None:
        node = plan.node
        needed = max(plan.inputs) + 1
        if len(node.inputs) < needed:
            node.resize_inputs(needed)
        for index, array in sorted(plan.inputs.items()):
            if array is None:
                node.replace_input_with(index, None)
                continue
            node.replace_input_with(index, self.constant(np.asarray(array), f"{node.name or node.op_type}_in{index}"))
        trailing = len(node.inputs)
        while trailing > 0 and node.inputs[trailing - 1] is None:
            trailing -= 1
        node.resize_inputs(trailing)

    def _batch_shape(self, plan: BatchShape) -> None:
        opset = self.model.opset_imports.get("", 1)
        node = plan.node
        prefix = f"{node.name or node.op_type}_in{plan.index}"
        new_nodes: list[ir.Node] = []

        def add(op: str, inputs: list[ir.Value], **attributes: object) -> ir.Value:
            name = self._unique(f"graphfix/{prefix}/{op}")
            created = ir.node(op, inputs, attributes=attributes or None, name=name)  # type: ignore[arg-type]
            created.outputs[0].name = self._unique(f"{name}_output")
            new_nodes.append(created)
            return created.outputs[0]

        if opset >= 15:
            batch = add("Shape", [plan.source], start=0, end=1)
        else:
            shape = add("Shape", [plan.source])
            batch = add("Slice", [shape, self.constant(np.array([0], np.int64), f"{prefix}_start"),
                                  self.constant(np.array([1], np.int64), f"{prefix}_end")])
        scaled: dict[int, ir.Value] = {1: batch}
        pieces: list[ir.Value] = []
        constants: list[int] = []
        for entry in plan.entries:
            if not isinstance(entry, tuple):
                constants.append(entry)
                continue
            if constants:
                pieces.append(self.constant(np.array(constants, np.int64), f"{prefix}_const"))
                constants = []
            factor = entry[1]
            if factor not in scaled:
                scaled[factor] = add("Mul", [batch, self.constant(np.array([factor], np.int64), f"{prefix}_k")])
            pieces.append(scaled[factor])
        if constants:
            pieces.append(self.constant(np.array(constants, np.int64), f"{prefix}_const"))
        result = pieces[0] if len(pieces) == 1 else add("Concat", pieces, axis=0)
        self.graph.insert_before(node, new_nodes)
        node.replace_input_with(plan.index, result)

    def _unique(self, base: str) -> str:
        name, suffix = base, 1
        while name in self._names:
            suffix += 1
            name = f"{base}_{suffix}"
        self._names.add(name)
        return name

    def _set_dims(self, plan: SetDims) -> None:
        plan.value.shape = ir.Shape([d if isinstance(d, int) else ir.SymbolicDim(d) for d in plan.dims])  # type: ignore[arg-type]

    def constant(self, array: np.ndarray, hint: str) -> ir.Value:
        name = self._unique("graphfix/" + re.sub(r"[^A-Za-z0-9_./-]", "_", hint).strip("/"))
        tensor = ir.tensor(array, name=name)
        value = ir.Value(name=name, shape=ir.Shape(array.shape), type=ir.TensorType(tensor.dtype),
                         const_value=tensor)
        self.graph.register_initializer(value)
        if (self.model.ir_version or 0) < 4:  # IR 3 requires every initializer to be a graph input
            self.graph.inputs.append(value)
        return value

    def cleanup(self) -> int:
        """Remove dead standard-domain nodes and unused initializers; sort. Returns nodes removed."""
        graph = self.graph
        outputs = set(graph.outputs)
        removed = 0
        for node in reversed(list(graph)):
            if node.domain not in ("", "ai.onnx"):
                continue
            if any(o in outputs or o.uses() for o in node.outputs):
                continue
            graph.remove(node, safe=True)
            removed += 1
        inputs = set(graph.inputs)
        for name, value in list(graph.initializers.items()):
            if not value.uses() and value not in outputs and value not in inputs:
                del graph.initializers[name]
        order = topological_order(graph)
        if order != list(graph):
            graph.sort()
        return removed
