"""Which nodes compute the same thing: common-subexpression detection over shape computations.

Pure functions (nothing here edits a graph): :meth:`graphfix.fixing.editor.Editor.share_duplicates` applies
what :func:`duplicates` finds, and the editor's batch chains ask :func:`existing` whether a node they need
exists already. A shape computation is a ``Shape``/``Size`` node, or a node whose inputs are all shape
computations or small constants; two of them are the same when op, inputs (the same values, or small
constants of the same value) and attributes are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import onnx_ir as ir

from graphfix.ir.graphutil import topological_order

# Ops whose outputs differ between two runs on the same inputs: never merged.
_NONDETERMINISTIC = frozenset({"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
                               "Bernoulli", "Multinomial", "Dropout"})

# Constants up to this many elements are compared by value (shape vectors, axes, scalars).
_SMALL = 64

# Attribute types graphfix does not compare (a node with one is never merged).
_OPAQUE = frozenset({ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS, ir.AttributeType.TENSORS,
                     ir.AttributeType.SPARSE_TENSOR, ir.AttributeType.SPARSE_TENSORS,
                     ir.AttributeType.TYPE_PROTO, ir.AttributeType.TYPE_PROTOS})


def duplicates(graph: ir.Graph) -> dict[ir.Value, ir.Value]:
    """Each output of a duplicate shape computation in ``graph`` (not its subgraphs), mapped to the same
    output of the first node (in topological order) that computes it. Graph outputs are never mapped."""
    outputs = set(graph.outputs)
    canonical: dict[ir.Value, ir.Value] = {}
    shape_values: set[ir.Value] = set()
    seen: dict[tuple[object, ...], ir.Node] = {}

    def key_of(value: ir.Value | None) -> object:
        return input_key(canonical.get(value, value) if value is not None else None)

    for node in topological_order(graph):
        if node.domain not in ("", "ai.onnx") or node.op_type in _NONDETERMINISTIC:
            continue
        if node.op_type not in ("Shape", "Size") and not all(
                v is None or v in shape_values or _small(v) for v in node.inputs):
            continue
        attributes = attributes_key(node)
        if attributes is None or (node.op_type == "Constant" and constant_array(node) is None):
            continue
        key = (node.op_type, node.overload, len(node.outputs), tuple(key_of(v) for v in node.inputs), attributes)
        kept = seen.get(key)
        if kept is None or any(o in outputs or (o.uses() and not k.name) for o, k in zip(node.outputs, kept.outputs)):
            seen.setdefault(key, node)
            shape_values.update(node.outputs)
            continue
        for duplicate, value in zip(node.outputs, kept.outputs):
            canonical[duplicate] = value
            shape_values.add(duplicate)
    return canonical


def existing(graph: ir.Graph, op: str, inputs: Sequence[ir.Value | np.ndarray], attributes: Mapping[str, int]
             ) -> ir.Value | None:
    """The output of a node ``op(inputs)`` of ``graph`` with these attribute values (Shape's ``start``
    defaults to 0), when one exists: arrays match small constants of the same value."""
    wanted = [input_key(v) if isinstance(v, ir.Value) else array_key(v) for v in inputs]
    for node in graph:
        if node.op_type != op or node.domain not in ("", "ai.onnx") or len(node.outputs) != 1:
            continue
        if [input_key(v) for v in node.inputs] != wanted:
            continue
        present = {key: attribute.value for key, attribute in node.attributes.items()}
        if op == "Shape" and present.get("start") == 0:
            del present["start"]
        expected = {key: value for key, value in attributes.items() if not (op == "Shape" and key == "start")}
        if present == expected:
            return node.outputs[0]
    return None


def defined_values(graph: ir.Graph) -> Iterator[ir.Value]:
    """The values a graph defines: inputs, initializers, node outputs."""
    yield from graph.inputs
    yield from graph.initializers.values()
    for node in graph:
        yield from node.outputs


def _small(value: ir.Value) -> bool:
    tensor = value.const_value
    return (tensor is not None and value.producer() is None and not value.is_graph_input()
            and tensor.size <= _SMALL)


def array_key(array: np.ndarray) -> tuple[object, ...]:
    """An array as comparable data."""
    return ("const", array.dtype.str, array.shape, array.tobytes())


def input_key(value: ir.Value | None) -> object:
    """What identifies an input for merging: a small initializer by its value, anything else by itself."""
    if value is None:
        return None
    if _small(value) and value.const_value is not None:
        return array_key(np.asarray(value.const_value.numpy()))
    return ("value", id(value))


def attributes_key(node: ir.Node) -> tuple[object, ...] | None:
    """A node's attributes as comparable data (None: it has a subgraph, or one graphfix does not compare)."""
    key: list[object] = []
    for name in sorted(node.attributes):
        attribute = node.attributes[name]
        if attribute.type is ir.AttributeType.TENSOR:
            key.append((name, array_key(np.asarray(attribute.as_tensor().numpy()))))
        elif attribute.type in _OPAQUE:
            return None
        else:
            value = attribute.value
            listed = isinstance(value, Sequence) and not isinstance(value, str)
            key.append((name, attribute.type.value, tuple(value) if listed else value))
    return tuple(key)


def constant_array(node: ir.Node) -> np.ndarray | None:
    """A default-domain Constant node's value as an array (None: another node, or a sparse/string value)."""
    if node.op_type != "Constant" or node.domain not in ("", "ai.onnx") or len(node.attributes) != 1:
        return None
    attribute = next(iter(node.attributes.values()))
    if attribute.name == "value" and attribute.type is ir.AttributeType.TENSOR:
        return np.asarray(attribute.as_tensor().numpy())
    simple = {"value_int": np.int64, "value_ints": np.int64, "value_float": np.float32, "value_floats": np.float32}
    if attribute.name in simple:
        return np.asarray(attribute.value, dtype=simple[attribute.name])
    return None
