"""Converting a model to another default-domain opset: onnx's version converter, with graphfix's adapters
where it has none or gets one wrong (:mod:`graphfix.analyse.opset` says which and what they write).

    new_model = convert_opset(model, 17, analysis=analysis)   # raises OpsetConversionError naming the node

The nodes graphfix converts are moved to a private domain while onnx's converter runs (it leaves other
domains alone), then written in the target form through graphfix's editor. Every other node is onnx's
converter's. The caller validates (``onnx.checker``) and verifies the result; this module only converts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
import onnx_ir as ir

from graphfix.analyse.opset import ConversionPlan, OpsetConversionError, plan_conversion, walk_nodes
from graphfix.fixing.editor import Editor

if TYPE_CHECKING:
    from graphfix.analyse.analysis import Analysis

HOLD_DOMAIN = "graphfix.opset-hold"


def convert_opset(model: ir.Model, target: int, *, analysis: Analysis | None = None,
                  base_dir: str | Path | None = None) -> ir.Model:
    """A copy of ``model`` at default-domain opset ``target``; ``model`` itself is left as it is.

    ``analysis`` (graphfix's shape analysis of ``model``) supplies static shapes the model does not declare;
    ``base_dir`` is where the model's external data lives. Raises ``OpsetConversionError`` naming the node
    that neither onnx's converter nor graphfix's adapters can convert.
    """
    from onnx import version_converter

    source = model.opset_imports.get("", model.opset_imports.get("ai.onnx", 0))
    if source == target:
        return model
    plans = plan_conversion(model, source, target, analysis)
    if base_dir is None:  # in-memory models keep where their external data lives
        base_dir = next((str(t.const_value.base_dir) for t in model.graph.initializers.values()
                         if isinstance(t.const_value, ir.ExternalTensor) and t.const_value.base_dir), None)
    held, proto = _hold(model, {_key(node): plan for node, plan in plans.items()})
    try:
        converted = version_converter.convert_version(proto, target)
    except Exception as error:  # noqa: BLE001 - onnx raises RuntimeError with its C++ assertion text
        raise _converter_error(error, proto, target) from None
    result = ir.serde.deserialize_model(converted)
    if base_dir is not None:
        from onnx_ir import external_data

        external_data.set_base_dir(result.graph, str(base_dir))
    editor = _apply_plans(result, held)
    editor.set_opset(HOLD_DOMAIN, None)
    editor.set_opset("ai.onnx", None)
    editor.set_opset("", target)
    return result


def _key(node: ir.Node) -> tuple[str, tuple[str, ...]]:
    return node.op_type, tuple(o.name or "" for o in node.outputs)


def _hold(model: ir.Model, wanted: dict[tuple[str, tuple[str, ...]], ConversionPlan]
          ) -> tuple[dict[str, ConversionPlan], onnx.ModelProto]:
    """A copy of ``model`` whose nodes graphfix converts are in the private domain, where onnx's converter
    leaves them, as a proto for the converter; and their plans by node name (unnamed ones get a name).
    Nodes are matched by op type and output names, which are unique in a valid model."""
    copy = ir.serde.deserialize_model(ir.serde.serialize_model(model))
    editor = Editor(copy)
    held: dict[str, ConversionPlan] = {}
    for node in list(walk_nodes(copy.graph)):
        plan = wanted.get(_key(node))
        if plan is None or node.domain not in ("", "ai.onnx"):
            continue
        if not node.name or node.name in held:
            editor.name_node(node, "graphfix/opset")
        editor.set_op_type(node, node.op_type, HOLD_DOMAIN)
        held[node.name or ""] = plan
    editor.set_opset(HOLD_DOMAIN, 1)
    return held, ir.serde.serialize_model(copy)


def _proto_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _proto_nodes(attr.g)
            for sub in attr.graphs:
                yield from _proto_nodes(sub)


def _apply_plans(model: ir.Model, held: dict[str, ConversionPlan]) -> Editor:
    """Write the held nodes in the target opset's form, through graphfix's editor."""
    editor = Editor(model)
    for node in list(walk_nodes(model.graph)):
        if node.domain != HOLD_DOMAIN:
            continue
        plan = held[node.name or ""]
        editor.set_op_type(node, node.op_type)  # back to the default domain
        _REWRITES[plan.op_type if plan.op_type in _REWRITES else "Reduce"](editor, node, plan)
    if held:
        editor.cleanup()  # the axes and pads constants the rewrites replaced
    return editor


# No axes and noop_with_empty_axes: no reduction, only the elementwise part (ONNX's reference).
_NO_REDUCTION = {"ReduceL1": "Abs", "ReduceL2": "Abs", "ReduceSumSquare": "Mul", "ReduceLogSum": "Log"}


def _rewrite_reduce(editor: Editor, node: ir.Node, plan: ConversionPlan) -> None:
    if plan.params.get("keep"):
        return
    if plan.params.get("identity"):
        editor.remove_attributes(node, *list(node.attributes))
        editor.keep_inputs(node, 1)
        editor.set_op_type(node, _NO_REDUCTION.get(node.op_type, "Identity"))
        if node.op_type == "Mul":  # ReduceSumSquare: x * x
            editor.set_input(node, 1, node.inputs[0])
        return
    editor.keep_inputs(node, 1)
    editor.remove_attributes(node, "noop_with_empty_axes", "axes")
    if plan.params.get("axes"):
        editor.set_attribute(node, ir.AttrInt64s("axes", [int(a) for a in plan.params["axes"]]))


def _rewrite_split(editor: Editor, node: ir.Node, plan: ConversionPlan) -> None:
    editor.remove_attributes(node, "num_outputs")
    sizes = plan.params.get("split")
    if sizes is not None:
        editor.set_input(node, 1, editor.constant(np.array(sizes, np.int64), f"{node.name}_split"))


def _rewrite_pad(editor: Editor, node: ir.Node, plan: ConversionPlan) -> None:
    pads = plan.params.get("pads")
    if pads is None:
        return
    editor.set_input(node, 1, editor.constant(np.array(pads, np.int64), f"{node.name}_pads"))
    editor.keep_inputs(node, 3)  # no axes input


def _rewrite_resize(editor: Editor, node: ir.Node, plan: ConversionPlan) -> None:
    editor.remove_attributes(node, "antialias", "keep_aspect_ratio_policy", "axes")
    if "scales" in plan.params:
        editor.set_input(node, 2, editor.constant(np.array(plan.params["scales"], np.float32), f"{node.name}_scales"))
    if "sizes" in plan.params:
        editor.set_input(node, 3, editor.constant(np.array(plan.params["sizes"], np.int64), f"{node.name}_sizes"))


def _rewrite_nothing(editor: Editor, node: ir.Node, plan: ConversionPlan) -> None:
    del editor, node, plan


def _decompose(editor: Editor, node: ir.Node, plan: ConversionPlan) -> None:
    """Replace a Gelu or Mish by older operators computing the same function (its output keeps its name)."""
    x = node.inputs[0]
    assert x is not None
    dtype = plan.params["dtype"]
    created: list[ir.Node] = []
    prefix = f"{node.name or node.op_type}"

    def const(value: float, hint: str) -> ir.Value:
        return editor.constant(np.array(value, dtype=dtype.numpy()), f"{prefix}_{hint}")

    def add(op: str, *inputs: ir.Value) -> ir.Value:
        name = editor.unique_name(f"{prefix}/{op}")
        made = ir.node(op, list(inputs), name=name)
        editor.rename(made.outputs[0], editor.unique_name(f"{name}_output"))
        editor.set_type(made.outputs[0], dtype)
        created.append(made)
        return made.outputs[0]

    if node.op_type == "Mish":
        result = add("Mul", x, add("Tanh", add("Softplus", x)))
    elif plan.params.get("approximate") == "tanh":
        cube = add("Mul", add("Mul", x, x), x)
        inner = add("Mul", add("Add", x, add("Mul", cube, const(0.044715, "coef"))),
                    const(math.sqrt(2.0 / math.pi), "sqrt_2_over_pi"))
        result = add("Mul", add("Mul", x, add("Add", add("Tanh", inner), const(1.0, "one"))), const(0.5, "half"))
    else:
        erf = add("Erf", add("Div", x, const(math.sqrt(2.0), "sqrt2")))
        result = add("Mul", add("Mul", x, add("Add", erf, const(1.0, "one"))), const(0.5, "half"))
    editor.replace_node(node, created, result)


_REWRITES: dict[str, Callable[[Editor, ir.Node, ConversionPlan], None]] = {
    "Reduce": _rewrite_reduce,
    "Split": _rewrite_split,
    "Pad": _rewrite_pad,
    "Resize": _rewrite_resize,
    "ConstantOfShape": _rewrite_nothing,
    "Gelu": _decompose,
    "Mish": _decompose,
}


_NO_ADAPTER = re.compile(r"(?:No Adapter (?:To|From) Version \$?\d+ for|No Previous Version of) (\w+)")


def _converter_error(error: Exception, proto: onnx.ModelProto, target: int) -> OpsetConversionError:
    text = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    match = _NO_ADAPTER.search(str(error))
    if match:
        op = match.group(1)
        node = next((n for n in _proto_nodes(proto.graph) if n.op_type == op and n.domain in ("", "ai.onnx")), None)
        where = f"node {node.name or op!r} ({op})" if node is not None else op
        return OpsetConversionError(f"{where} cannot be converted to opset {target}: onnx's version converter has "
                                    f"no adapter for {op} and graphfix has none either",
                                    node.name if node is not None else None)
    text = re.sub(r"^.*?(?:Assertion `[^`]*` failed: )", "", text)
    return OpsetConversionError(f"onnx's version converter cannot convert the model to opset {target}: {text}")
