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

from graphfix.engine import FixPlan, SetDims, SetInputs
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

    def _set_dims(self, plan: SetDims) -> None:
        plan.value.shape = ir.Shape([d if isinstance(d, int) else ir.SymbolicDim(d) for d in plan.dims])

    def constant(self, array: np.ndarray, hint: str) -> ir.Value:
        base = "graphfix/" + re.sub(r"[^A-Za-z0-9_./-]", "_", hint).strip("/")
        name, suffix = base, 1
        while name in self._names:
            suffix += 1
            name = f"{base}_{suffix}"
        self._names.add(name)
        tensor = ir.tensor(array, name=name)
        value = ir.Value(name=name, shape=ir.Shape(array.shape), type=ir.TensorType(tensor.dtype),
                         const_value=tensor)
        self.graph.register_initializer(value)
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
