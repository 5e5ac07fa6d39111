"""The one mutator of graphs: every change graphfix makes to a model goes through :class:`Editor`.

Fix plans from rules (:mod:`graphfix.linting.plans`) are applied with :meth:`Editor.apply`: new
initializers replace inputs, declared dims are set, the shortest batch chain is inserted. ``cleanup``
then removes the nodes and initializers nothing uses any more (custom-domain nodes are kept: graphfix
does not know what they do) and re-sorts the graph.

The precision repairs (after onnxconverter-common), the fp16 emulation and the export helper use the
lower-level operations (add a node, set an attribute, a type, a shape, rename, reroute uses), so that
graphfix edits graphs in one place, on onnx-ir, and never edits protos.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np
import onnx_ir as ir

from graphfix.analyse.operands import operand_of
from graphfix.fixing.sharing import constant_array, defined_values, duplicates, existing
from graphfix.ir.graphutil import topological_order
from graphfix.linting.plans import (
    BatchShape,
    ExpandOutput,
    FixPlan,
    InlineBranch,
    ReplaceOp,
    SetAttributes,
    SetDims,
    SetInputs,
)


class Editor:
    """Edits ``model`` in place (callers that must keep the original edit a copy)."""

    def __init__(self, model: ir.Model) -> None:
        self.model = model
        self.graph = model.graph
        self._names = {v.name for v in self.graph.initializers.values()}
        self._names.update(o.name for node in self.graph for o in node.outputs)
        self._names.update(v.name for v in self.graph.inputs)

    def apply(self, plans: Iterable[FixPlan]) -> int:
        """Apply fix plans; returns how many."""
        count = 0
        for plan in plans:
            if isinstance(plan, SetInputs):
                self._set_inputs(plan)
            elif isinstance(plan, SetAttributes):
                self._set_attributes(plan)
            elif isinstance(plan, SetDims):
                self._set_dims(plan)
            elif isinstance(plan, BatchShape):
                self._batch_shape(plan)
            elif isinstance(plan, ExpandOutput):
                self._expand_output(plan)
            elif isinstance(plan, ReplaceOp):
                self._replace_op(plan)
            elif isinstance(plan, InlineBranch):
                self._inline_branch(plan)
            else:  # pragma: no cover - plans are a closed set
                raise TypeError(f"unknown plan {plan!r}")
            count += 1
        return count

    def _set_inputs(self, plan: SetInputs) -> None:
        node = plan.node
        if plan.check_batch is not None:
            self._forget_shapes()  # a repaired batch: shapes declared with the export batch are stale
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

    def _set_attributes(self, plan: SetAttributes) -> None:
        node = plan.node
        for name, array in sorted(plan.attributes.items()):
            if array is None:
                node.attributes.pop(name, None)
                continue
            node.attributes[name] = _attribute(name, np.asarray(array))

    def _replace_op(self, plan: ReplaceOp) -> None:
        """Op type, domain and attributes (inputs, outputs and the node's name are kept)."""
        node = plan.node
        node.op_type = plan.op_type
        node.domain = plan.domain
        for key in plan.drop:
            if key in node.attributes:
                del node.attributes[key]
        for key, value in plan.attributes:
            if key not in node.attributes:  # set by hand (plugin_version="2"): the user's value wins
                node.attributes[key] = ir.AttrString(key, value)
        if plan.domain not in self.model.opset_imports:
            self.model.opset_imports[plan.domain] = 1

    def _batch_shape(self, plan: BatchShape) -> None:
        opset = self.model.opset_imports.get("", 1)
        node = plan.node
        prefix = f"{node.name or node.op_type}_in{plan.index}"
        new_nodes: list[ir.Node] = []

        def add(op: str, inputs: list[ir.Value], **attributes: int | list[int]) -> ir.Value:
            name = self._unique(f"graphfix/{prefix}/{op}")
            created = ir.node(op, inputs, attributes=attributes or None, name=name)
            created.outputs[0].name = self._unique(f"{name}_output")
            new_nodes.append(created)
            return created.outputs[0]

        def add_at_opset(op: str, data: ir.Value, **operands: list[int]) -> ir.Value:
            """``op`` with constant operands written where its schema at the model's opset has them: inputs
            (Slice-10's bounds, Squeeze-13's axes) or attributes (Slice-1's, Squeeze-11's)."""
            inputs: dict[int, ir.Value] = {}
            attributes: dict[str, int | list[int]] = {}
            for name, values in operands.items():
                where = operand_of(op, name, opset)
                if where.index is not None:
                    inputs[where.index] = self.constant(np.array(values, np.int64), f"{prefix}_{name}")
                else:
                    attributes[name] = values
            ordered = [data, *(inputs[i] for i in range(1, max(inputs, default=0) + 1))]
            return add(op, ordered, **attributes)

        # One run-time batch per source: an existing Shape(source)[0:1] (and Mul of it) is read again.
        batch = existing(self.graph, "Shape", [plan.source], {"start": 0, "end": 1}) if opset >= 15 else None
        if batch is None and opset >= 15:
            batch = add("Shape", [plan.source], start=0, end=1)
        elif batch is None:
            shape = existing(self.graph, "Shape", [plan.source], {}) or add("Shape", [plan.source])
            batch = add_at_opset("Slice", shape, starts=[0], ends=[1])
        scaled: dict[int, ir.Value] = {1: batch}
        modulos: dict[tuple[int, int, int], ir.Value] = {}

        def times(factor: int) -> ir.Value:
            if factor not in scaled:
                scaled[factor] = (existing(self.graph, "Mul", [batch, np.array([factor], np.int64)], {})
                                  or add("Mul", [batch, self.constant(np.array([factor], np.int64), f"{prefix}_k")]))
            return scaled[factor]

        pieces: list[ir.Value] = []
        constants: list[int] = []
        for entry in plan.entries:
            if not isinstance(entry, tuple):
                constants.append(entry)
                continue
            if constants:
                pieces.append(self.constant(np.array(constants, np.int64), f"{prefix}_const"))
                constants = []
            if len(entry) == 4:  # (k * batch + c) mod m
                key = (entry[1], entry[2], entry[3])
                if key not in modulos:
                    term = times(entry[1])
                    if entry[2]:
                        term = add("Add", [term, self.constant(np.array([entry[2]], np.int64), f"{prefix}_c")])
                    modulos[key] = add("Mod", [term, self.constant(np.array([entry[3]], np.int64), f"{prefix}_m")])
                pieces.append(modulos[key])
                continue
            pieces.append(times(entry[1]))
        if constants:
            pieces.append(self.constant(np.array(constants, np.int64), f"{prefix}_const"))
        result = pieces[0] if len(pieces) == 1 else add("Concat", pieces, axis=0)
        if plan.expand is not None:
            result = add("Expand", [self.constant(np.asarray(plan.expand), f"{prefix}_value"), result])
        elif plan.scalar:
            result = add_at_opset("Squeeze", result, axes=[0])
        self.graph.insert_before(node, new_nodes)
        node.replace_input_with(plan.index, result)

    def _expand_output(self, plan: ExpandOutput) -> None:
        node = plan.node
        old = node.outputs[0]
        base = node.name or node.op_type
        placeholder = self.constant(np.array([1], np.int64), f"{base}_expand")
        expand = ir.node("Expand", [old, placeholder], name=self._unique(f"graphfix/{base}/Expand"))
        self._graph_of(node).insert_after(node, expand)
        result = expand.outputs[0]
        result.name = self._unique(f"{old.name or base}_expanded")
        result.type = old.type
        is_output = old in self.graph.outputs
        self.replace_uses(old, result, keep=expand)
        if is_output:  # the graph output keeps its name and declared shape
            name = old.name or ""
            old.name = self._unique(f"{name}_unexpanded")
            result.name = name
            result.shape = old.shape
        old.shape = None
        self._batch_shape(BatchShape(expand, 1, plan.source, plan.entries))

    def share_duplicates(self) -> int:
        """Common-subexpression elimination over the main graph's shape computations
        (:func:`graphfix.fixing.sharing.duplicates`): every use of a duplicate reads the node it duplicates.
        Returns how many nodes now compute nothing used (``cleanup`` removes them)."""
        merged: set[ir.Node] = set()
        for duplicate, kept in duplicates(self.graph).items():
            self.replace_uses(duplicate, kept, graph_outputs=False)
            producer = duplicate.producer()
            if producer is not None:
                merged.add(producer)
        return len(merged)

    def _inline_branch(self, plan: InlineBranch) -> None:
        """The If's ``plan.branch`` takes its place in the If's graph (see :class:`InlineBranch`)."""
        node = plan.node
        parent = self._graph_of(node)
        branch = node.attributes[plan.branch].as_graph()
        inside = set(_graphs(branch))
        outside_values = {v.name for g in self.graphs() if g not in inside for v in defined_values(g)}
        outside_nodes = {n.name for g in self.graphs() if g not in inside for n in g}
        self._names.update(name for name in outside_values if name)
        for graph in inside:  # ONNX names are one namespace across scopes: the branch's names move out
            for value in defined_values(graph):
                if value.name in outside_values and value not in graph.inputs:
                    self.rename(value, self._unique(value.name or "graphfix/branch"))
            for inner in graph:
                if inner.name and inner.name in outside_nodes:
                    inner.name = self._unique(inner.name)
        results = list(branch.outputs)
        branch.outputs.clear()  # a value is the output of one graph only
        for name, value in list(branch.initializers.items()):
            branch.initializers.pop(name)
            self._register(parent, value)
        nodes = list(branch)
        branch.remove(nodes)
        moved: list[ir.Node] = []
        for inner in nodes:
            array = constant_array(inner)
            if array is None or inner.outputs[0] in results:
                moved.append(inner)
                continue
            value = self.constant(array, inner.outputs[0].name or "branch_constant", graph=parent)
            self.replace_uses(inner.outputs[0], value, graph_outputs=False)
            for index in range(len(inner.inputs)):
                inner.replace_input_with(index, None)
        parent.insert_before(node, moved)
        # A branch output the branch computes takes over the If's output (the first time it is given); an
        # outer-scope value, or one given twice, is handed on by an Identity.
        produced = {v for inner in moved for v in inner.outputs} | set(parent.initializers.values())
        for index, (old, new) in enumerate(zip(node.outputs, results)):
            if new not in produced or new in parent.outputs or new in parent.inputs or new in results[:index]:
                identity = ir.node("Identity", [new], name=self._unique(f"{node.name or 'If'}/output_{index}"))
                parent.insert_before(node, identity)
                new = identity.outputs[0]
            rank = plan.ranks[index] if index < len(plan.ranks) else None
            new.type = new.type or old.type
            if old.shape is not None and (rank is None or len(old.shape) == rank):
                new.shape = old.shape
            elif rank is not None and (new.shape is None or len(new.shape) != rank):
                new.shape = ir.Shape([ir.SymbolicDim(None)] * rank)  # the other branch's shape does not hold
            kept = old.name
            self.replace_uses(old, new)
            new.name = kept  # ``old`` leaves with the If (keeping its name for the plans that name it)
        parent.remove(node, safe=True)

    def _register(self, graph: ir.Graph, value: ir.Value) -> None:
        graph.register_initializer(value)
        if graph is self.graph and (self.model.ir_version or 0) < 4:
            graph.inputs.append(value)

    def _unique(self, base: str) -> str:
        name, suffix = base, 1
        while name in self._names:
            suffix += 1
            name = f"{base}_{suffix}"
        self._names.add(name)
        return name

    def _set_dims(self, plan: SetDims) -> None:
        if plan.value in self.graph.inputs and plan.value.shape is not None and any(
                not isinstance(d, int) for d in plan.dims) and all(isinstance(d, int) for d in plan.value.shape):
            self._forget_shapes()  # a static input made dynamic: intermediate shapes declared static are stale
        self.set_shape(plan.value, plan.dims)

    def _forget_shapes(self) -> None:
        """Drop the declared shapes (not the types) of the main graph's intermediate values: ONNX Runtime
        would otherwise fuse nodes with the stale static shapes."""
        kept = {*self.graph.inputs, *self.graph.outputs, *self.graph.initializers.values()}
        for node in self.graph:
            for value in node.outputs:
                if value not in kept:
                    value.shape = None

    def constant(self, array: np.ndarray, hint: str, graph: ir.Graph | None = None) -> ir.Value:
        """A new initializer of ``graph`` (default: the main graph) holding ``array``, named after ``hint``
        (made unique)."""
        name = self._unique("graphfix/" + re.sub(r"[^A-Za-z0-9_./-]", "_", hint).strip("/"))
        tensor = ir.tensor(array, name=name)
        value = ir.Value(name=name, shape=ir.Shape(array.shape), type=ir.TensorType(tensor.dtype),
                         const_value=tensor)
        self._register(graph or self.graph, value)  # IR 3: every initializer is also a graph input
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

    # -- lower-level operations (precision repairs, fp16 emulation, export) ------------------------------

    def add_node(
        self,
        op_type: str,
        inputs: Sequence[ir.Value | None],
        outputs: Sequence[str],
        *,
        name: str,
        attributes: Mapping[str, int | float | str | Sequence[int] | ir.TensorProtocol] | None = None,
        before: ir.Node | None = None,
        after: ir.Node | None = None,
        graph: ir.Graph | None = None,
    ) -> ir.Node:
        """Add a node of the default domain named ``name`` whose outputs are named ``outputs``: before or
        after a node of its graph, or at the end of ``graph`` (default: the main graph)."""
        node = ir.node(op_type, inputs, attributes=attributes, name=name, num_outputs=len(outputs))
        for value, output in zip(node.outputs, outputs):
            value.name = output
        if before is not None:
            (graph or self._graph_of(before)).insert_before(before, node)
        elif after is not None:
            self._graph_of(after).insert_after(after, node)
        else:
            (graph or self.graph).append(node)
        self._names.update([name, *outputs])
        return node

    def set_attribute(self, node: ir.Node, attribute: ir.Attr) -> None:
        """Set (or replace) one attribute of ``node``."""
        node.attributes[attribute.name] = attribute

    def set_input(self, node: ir.Node, index: int, value: ir.Value | None) -> None:
        """Make ``value`` input ``index`` of ``node`` (the inputs grow to reach ``index``)."""
        if len(node.inputs) <= index:
            node.resize_inputs(index + 1)
        node.replace_input_with(index, value)

    def keep_inputs(self, node: ir.Node, count: int) -> None:
        """Drop every input of ``node`` from ``count`` on, and trailing omitted ones."""
        for index in range(count, len(node.inputs)):
            node.replace_input_with(index, None)
        count = min(count, len(node.inputs))
        while count > 0 and node.inputs[count - 1] is None:
            count -= 1
        node.resize_inputs(count)

    def remove_attributes(self, node: ir.Node, *names: str) -> None:
        """Drop these attributes of ``node`` (absent ones are ignored)."""
        for name in names:
            node.attributes.pop(name, None)

    def set_op_type(self, node: ir.Node, op_type: str, domain: str = "") -> None:
        """Make ``node`` another operator (its inputs, outputs and attributes stay unless changed)."""
        node.op_type = op_type
        node.domain = domain

    def replace_node(self, node: ir.Node, nodes: Sequence[ir.Node], result: ir.Value) -> None:
        """Replace a one-output ``node`` by ``nodes`` (inserted in its place) computing ``result``, which takes
        over the old output's name, type, shape and uses (graph outputs included)."""
        graph = self._graph_of(node)
        graph.insert_before(node, list(nodes))
        old = node.outputs[0]
        name = old.name
        result.type, result.shape = old.type, old.shape
        self.replace_uses(old, result)
        graph.remove(node, safe=True)
        result.name = name

    def name_node(self, node: ir.Node, base: str) -> None:
        """Give ``node`` a name of its own, ``base`` or ``base_2``, ..."""
        taken = {n.name for n in self.all_nodes() if n.name}
        name, suffix = base, 1
        while name in taken or name in self._names:
            suffix += 1
            name = f"{base}_{suffix}"
        node.name = name
        self._names.add(name)

    def set_opset(self, domain: str, version: int | None) -> None:
        """Import ``domain`` at ``version`` (None: no longer import it)."""
        if version is None:
            self.model.opset_imports.pop(domain, None)
        else:
            self.model.opset_imports[domain] = version

    def unique_name(self, base: str) -> str:
        """``base``, or ``base_2``, ``base_3``, ... when taken."""
        return self._unique(base)

    def set_type(self, value: ir.Value, dtype: ir.DataType | None) -> None:
        """Declare ``value`` a tensor of ``dtype`` (None: undeclared)."""
        value.type = None if dtype is None else ir.TensorType(dtype)

    def set_shape(self, value: ir.Value, dims: ir.Shape | Sequence[int | str | None] | None) -> None:
        """Declare ``value``'s shape: ints are static dims, strings named dynamic dims, None unnamed ones
        (``dims=None``: no declared shape; an ``ir.Shape`` is copied)."""
        if dims is None or isinstance(dims, ir.Shape):
            value.shape = None if dims is None else ir.Shape(list(dims))
            return
        value.shape = ir.Shape([d if isinstance(d, int) else ir.SymbolicDim(d) for d in dims])

    def forget_types(self, graph: ir.Graph | None = None) -> None:
        """Drop the declared type and shape of every intermediate value (not graph inputs, outputs or
        initializers), so that runtimes infer them afresh."""
        graph = graph or self.graph
        kept = {*graph.inputs, *graph.outputs, *graph.initializers.values()}
        for node in graph:
            for value in node.outputs:
                if value not in kept:
                    value.type = None
                    value.shape = None

    def rename(self, value: ir.Value, name: str) -> None:
        """Rename a value (an initializer's entry follows)."""
        value.name = name
        self._names.add(name)

    def set_tensor(self, value: ir.Value, tensor: ir.TensorProtocol) -> None:
        """Replace the data of an initializer."""
        value.const_value = tensor

    def replace_uses(self, old: ir.Value, new: ir.Value, *, keep: ir.Node | None = None,
                     graph_outputs: bool = True) -> None:
        """Make every consumer of ``old`` (but ``keep``) read ``new``; graph outputs too when asked."""
        for use in list(old.uses()):
            if use.node is not keep:
                use.node.replace_input_with(use.idx, new)
        if graph_outputs:
            for graph in [self.graph, *self.graph.subgraphs()]:
                for index, output in enumerate(graph.outputs):
                    if output is old:
                        graph.outputs[index] = new

    def set_metadata(self, props: Mapping[str, str]) -> None:
        """Set model metadata entries (others are kept)."""
        self.model.metadata_props.update(props)

    def name_unnamed_nodes(self, pattern: str = "{op}_gf{index}") -> None:
        """Give every unnamed node (subgraphs included) a unique name, numbered in graph order."""
        taken = {node.name for node in self.all_nodes() if node.name}
        counter = 0
        for node in self.all_nodes():
            if not node.name:
                while pattern.format(op=node.op_type, index=counter) in taken:
                    counter += 1
                node.name = pattern.format(op=node.op_type, index=counter)
                taken.add(node.name)

    def graphs(self) -> Iterator[ir.Graph]:
        """The main graph, then every subgraph (depth first, in node order)."""
        yield from _graphs(self.graph)

    def all_nodes(self) -> Iterator[ir.Node]:
        """Every node: the main graph's, then each subgraph's (in :meth:`graphs` order)."""
        for graph in self.graphs():
            yield from graph

    def _graph_of(self, node: ir.Node) -> ir.Graph:
        graph = node.graph
        if not isinstance(graph, ir.Graph):
            raise ValueError(f"node {node.name!r} is not in a graph")
        return graph


def _attribute(name: str, array: np.ndarray) -> ir.Attr:
    """An INTS/FLOATS attribute from a 1-D array, INT/FLOAT from a 0-D one."""
    if array.ndim > 1:
        raise ValueError(f"attribute {name} must be a scalar or a 1-D array, not shape {list(array.shape)}")
    integer = array.dtype.kind in "iub"
    if array.ndim == 0:
        return ir.AttrInt64(name, int(array)) if integer else ir.AttrFloat32(name, float(array))
    if integer:
        return ir.AttrInt64s(name, [int(v) for v in array])
    return ir.AttrFloat32s(name, [float(v) for v in array])


def _graphs(graph: ir.Graph) -> Iterator[ir.Graph]:
    yield graph
    for node in graph:
        for attribute in node.attributes.values():
            if attribute.type is ir.AttributeType.GRAPH:
                yield from _graphs(attribute.as_graph())
            elif attribute.type is ir.AttributeType.GRAPHS:
                for sub in attribute.as_graphs():
                    yield from _graphs(sub)
