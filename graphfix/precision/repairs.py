"""Repairs of what onnxconverter-common's ``convert_float_to_float16`` leaves inconsistent, made through the
editor on onnx-ir (the converter itself takes and returns protos: the boundary is in :mod:`.fp16`).

- ``Cast(to=float)`` nodes of the original graph (the legacy exporter writes them for masks) are
  retargeted to float16: the converter changes the tensor types but not the ``to`` attribute;
- inputs the ONNX schema types float32 only (Resize's ``scales``) are cast back to float32, and the
  constants only those inputs read keep their exact fp32 values (1/3 in fp16 is 0.33325, which can change
  an output size);
- an fp32 initializer shared by a blocked op and an unblocked one gets a Cast for the unblocked one;
- graph outputs keep their fp32 type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import onnx_ir as ir

from graphfix.analyse.operands import input_index
from graphfix.fixing.editor import Editor
from graphfix.ir.loading import default_opset
from graphfix.precision.common import STANDARD_DOMAINS

# Inputs whose ONNX schema type is float32 only, whatever the data type of the op, by schema name: the
# scales are input 1 of Resize-10 and Upsample-9, input 2 from Resize-11.
FLOAT32_ONLY_OPERANDS: dict[str, tuple[str, ...]] = {"Resize": ("scales",), "Upsample": ("scales",)}


def float32_only_inputs(node: ir.Node, opset: int) -> tuple[int, ...]:
    """The positions of ``node``'s float32-only inputs at ``opset``."""
    if node.domain not in STANDARD_DOMAINS:
        return ()
    found = (input_index(node, name, opset) for name in FLOAT32_ONLY_OPERANDS.get(node.op_type, ()))
    return tuple(index for index in found if index is not None)

_FLOAT, _FLOAT16 = ir.DataType.FLOAT, ir.DataType.FLOAT16


def float32_only_constants(model: ir.Model) -> dict[str, ir.TensorProtocol]:
    """Constants (initializers or Constant nodes) of the main graph read only by float32-only inputs:
    ``{name: their fp32 tensor}``, to restore after the conversion. Read-only."""
    graph = model.graph
    readers: dict[str, list[tuple[ir.Node, int]]] = {}
    for node in graph:
        for position, value in enumerate(node.inputs):
            if value is not None:
                readers.setdefault(value.name or "", []).append((node, position))
    outputs = {v.name or "" for v in graph.outputs}
    candidates: dict[str, ir.TensorProtocol] = {}
    for name, value in graph.initializers.items():
        if value.const_value is not None and value.const_value.dtype == _FLOAT:
            candidates[name] = value.const_value
    for node in graph:
        attribute = node.attributes.get("value")
        if node.op_type == "Constant" and node.domain in STANDARD_DOMAINS and attribute is not None \
                and attribute.type is ir.AttributeType.TENSOR and node.outputs:
            tensor = attribute.as_tensor()
            if tensor.dtype == _FLOAT:
                candidates[node.outputs[0].name or ""] = tensor
    exact = {}
    opset = default_opset(model)
    for name, tensor in candidates.items():
        uses = readers.get(name, [])
        if uses and name not in outputs and all(
                position in float32_only_inputs(node, opset) for node, position in uses):
            exact[name] = tensor
    return exact


def restore_float32_constants(editor: Editor, exact: Mapping[str, ir.TensorProtocol]) -> None:
    """Put back the exact fp32 values of :func:`float32_only_constants` after the conversion."""
    graph = editor.graph
    for name, value in graph.initializers.items():
        if name in exact:
            editor.set_tensor(value, exact[name])
            editor.set_type(value, _FLOAT)
    for node in graph:
        output = node.outputs[0] if node.op_type == "Constant" and node.outputs else None
        if output is not None and output.name in exact:
            if "value" in node.attributes:
                editor.set_attribute(node, ir.AttrTensor("value", exact[output.name or ""]))
            if node.outputs[0].type is not None:
                editor.set_type(node.outputs[0], _FLOAT)


def repair_fp16(editor: Editor, blocked_ops: set[str], blocked_nodes: set[str], graph: ir.Graph | None = None) -> None:
    """Retarget Casts, cast float32-only inputs back, give unblocked readers of fp32 initializers a Cast
    (in ``graph`` and its subgraphs)."""
    graph = graph if graph is not None else editor.graph
    float_inits = {name for name, v in graph.initializers.items()
                   if v.const_value is not None and v.const_value.dtype == _FLOAT}
    nodes = list(graph)
    # Casts to add: (position in the original order, cast), -1 meaning before every node; and the inputs
    # that read each cast.
    added: list[tuple[int, _Cast]] = []
    shared_casts: dict[str, _Cast] = {}
    for index, node in enumerate(nodes):
        blocked = node.op_type in blocked_ops or node.name in blocked_nodes
        if not blocked:
            # Cast(to=float) / dtype=float producing what the converter typed as fp16.
            for attribute in list(node.attributes.values()):
                if (attribute.name in ("to", "dtype") and attribute.type is ir.AttributeType.INT
                        and attribute.as_int() == _FLOAT.value and node.outputs
                        and node.outputs[0].dtype == _FLOAT16):
                    editor.set_attribute(node, ir.AttrInt64(attribute.name, _FLOAT16.value))
        float_only = float32_only_inputs(node, default_opset(editor.model))
        for position, value in enumerate(node.inputs):
            if value is None or not value.name:
                continue
            if position in float_only:
                if value.name in float_inits:
                    continue
                if value.dtype == _FLOAT16:
                    cast = _Cast(value, f"{value.name}_gf_fp32_for_{node.name}",
                                 f"{node.name}_gf_cast_input{position}", _FLOAT, [(node, position)])
                    added.append((index, cast))
            elif not blocked and node.op_type != "Cast" and value.name in float_inits:
                # An fp32 initializer kept for a blocked consumer, also read by this fp16 node.
                if value.name not in shared_casts:
                    shared_casts[value.name] = _Cast(value, f"{value.name}_gf_fp16",
                                                     f"{value.name}_gf_cast_fp16", _FLOAT16, [])
                    added.append((-1, shared_casts[value.name]))
                shared_casts[value.name].readers.append((node, position))
        for attribute in node.attributes.values():
            if attribute.type is ir.AttributeType.GRAPH:
                repair_fp16(editor, blocked_ops, blocked_nodes, attribute.as_graph())
            elif attribute.type is ir.AttributeType.GRAPHS:
                for sub in attribute.as_graphs():
                    repair_fp16(editor, blocked_ops, blocked_nodes, sub)
    # Each cast goes where ``nodes.insert(max(index, 0), cast)`` puts it when the highest positions are
    # processed first: before the node that is at that position at that moment.
    at_position = dict(enumerate(nodes))
    for position, pending in sorted(added, key=lambda item: item[0], reverse=True):
        position = max(position, 0)
        anchor = at_position.get(position)
        created = editor.add_node("Cast", [pending.source], [pending.output], name=pending.name,
                                  attributes={"to": pending.to.value}, before=anchor, graph=graph)
        at_position[position] = created
        for reader, index in pending.readers:
            editor.set_input(reader, index, created.outputs[0])


def restore_outputs(editor: Editor, signature: Mapping[str, list[tuple[str, int]]]) -> None:
    """Graph outputs keep their fp32 type. The converter types an output fp16 when a blocked op produces
    it (its Cast back to fp16 lands on the output itself); that Cast becomes a Cast to float, or one is
    added after the producer."""
    graph = editor.graph
    declared = dict(signature["outputs"])
    for value in list(graph.outputs):
        if declared.get(value.name or "") != _FLOAT.value or value.dtype != _FLOAT16:
            continue
        producer = value.producer()
        if producer is None or producer.op_type == "Cast":
            editor.set_type(value, _FLOAT)
            if producer is not None:
                editor.set_attribute(producer, ir.AttrInt64("to", _FLOAT.value))
            continue
        name = value.name or ""
        editor.rename(value, f"{name}_gf_fp16")
        cast = editor.add_node("Cast", [value], [name], name=f"{name}_gf_cast_fp32",
                               attributes={"to": _FLOAT.value}, after=producer)
        fp32 = cast.outputs[0]
        editor.set_type(fp32, _FLOAT)
        editor.set_shape(fp32, value.shape)
        # Whatever read the output by its name (the graph output, other nodes) now reads the fp32 Cast.
        editor.replace_uses(value, fp32, keep=cast)


@dataclass
class _Cast:
    """A Cast to add: its input, output and node names, target type, and the inputs that will read it."""

    source: ir.Value
    output: str
    name: str
    to: ir.DataType
    readers: list[tuple[ir.Node, int]]
