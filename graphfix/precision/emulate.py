"""fp16 emulation: what an fp16 graph computes, run on ONNX Runtime's fp32 CPU kernels.

ORT's CPU provider has almost no fp16 kernels on x86 (measured on 1.32: only LayerNormalization,
RMSNormalization, Min/Max/Clip, Round, Mod, Cast and data movement). For everything else it inserts
Casts and computes in fp32, and between two such nodes it skips the fp16 rounding altogether: an fp16
overflow (a value above 65504 between two ops) is invisible when the fp16 model runs there. So fp16
models are checked through an *emulation*: the same graph with every fp16 tensor held in fp32 and rounded
to fp16 (Cast to float16 and back) where each op writes it. That is how TensorRT's fp16 kernels behave
(fp32 accumulation inside an op, fp16 storage between ops) and it overflows to inf exactly where fp16
storage would. The real fp16 file is also loaded and run once, to prove it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
import onnx.shape_inference
import onnx_ir as ir

from graphfix.compare import InputInfo, Side, function_side, onnxruntime_session, onnxruntime_side
from graphfix.compare.runners import RunFunction
from graphfix.errors import PrecisionError
from graphfix.fixing.editor import Editor
from graphfix.precision.common import has_fp16, is_fp16_value

_FLOAT, _FLOAT16 = ir.DataType.FLOAT, ir.DataType.FLOAT16

EMULATED = ("onnxruntime CPU, fp16 emulated (fp32 kernels, every fp16 tensor rounded to fp16 where it is "
            "written; ORT's CPU provider computes most fp16 ops in fp32 and would hide overflow); the fp16 "
            "file itself also ran")
REFERENCE = "onnx.reference.ReferenceEvaluator (numpy; fp16 ops in numpy float16)"


def emulate_fp16(structure: onnx.ModelProto) -> onnx.ModelProto:
    """The fp16 model as an fp32 graph whose fp16 tensors are rounded (Cast to float16 and back) where
    they are written. Weights are not rewritten: fp16 initializers are cast in the graph, so the
    emulation reads the transformed model's own (external) data."""
    model = ir.serde.deserialize_model(onnx.shape_inference.infer_shapes(structure))
    editor = Editor(model)
    for graph in list(editor.graphs()):
        _emulate_graph(editor, graph)
    return ir.serde.serialize_model(model)


def _emulate_graph(editor: Editor, graph: ir.Graph) -> None:
    nodes = list(graph)
    half = {value for node in nodes for value in node.outputs if value.dtype == _FLOAT16}  # before any edit
    first = nodes[0] if nodes else None
    for name, value in list(graph.initializers.items()):
        if value.dtype == _FLOAT16:
            editor.rename(value, f"{name}__gf_half")
            widen = editor.add_node("Cast", [value], [name], name=f"{name}__gf_widen", attributes={"to": _FLOAT.value},
                                    before=first, graph=graph)
            editor.replace_uses(value, widen.outputs[0], keep=widen)
    for value in [*graph.inputs, *graph.outputs]:
        if value.dtype == _FLOAT16:
            editor.set_type(value, _FLOAT)
    for node in nodes:
        for attribute in list(node.attributes.values()):
            if attribute.type is ir.AttributeType.INT and attribute.name in ("to", "dtype") \
                    and attribute.as_int() == _FLOAT16.value:
                editor.set_attribute(node, ir.AttrInt64(attribute.name, _FLOAT.value))
            elif attribute.type is ir.AttributeType.TENSOR and attribute.as_tensor().dtype == _FLOAT16:
                tensor = attribute.as_tensor()
                editor.set_attribute(node, ir.AttrTensor(attribute.name, ir.tensor(
                    np.asarray(tensor.numpy()).astype(np.float32), name=tensor.name)))
        if node.op_type == "Constant":
            continue  # fp16 constants are exact in fp32
        for output in list(node.outputs):
            if not output.name or output not in half:
                continue
            name = output.name
            editor.rename(output, f"{name}__gf_wide")
            rounded = editor.add_node("Cast", [output], [f"{name}__gf_half"], name=f"{name}__gf_round",
                                      attributes={"to": _FLOAT16.value}, after=node)
            widened = editor.add_node("Cast", [rounded.outputs[0]], [name], name=f"{name}__gf_widen",
                                      attributes={"to": _FLOAT.value}, after=rounded)
            if output in graph.outputs:
                editor.set_type(widened.outputs[0], _FLOAT)
                editor.set_shape(widened.outputs[0], output.shape)
            editor.replace_uses(output, widened.outputs[0], keep=rounded)
    editor.forget_types(graph)


def candidate_side(path: Path, structure: onnx.ModelProto, runner: str, label: str) -> Side:
    """How a transformed model runs in a precision check: ``"reference"`` (``onnx.reference``), or
    ``"auto"``: ONNX Runtime, through the fp16 emulation when the model has fp16 tensors.

    Raises:
        PrecisionError: The model has fp16 graph inputs, which the emulation cannot take.
    """
    names = [o.name for o in structure.graph.output]
    initializers = {t.name for t in structure.graph.initializer}
    inputs = [InputInfo(v.name, np.dtype(onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type)),
                        tuple(d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim))
              for v in structure.graph.input if v.name not in initializers]
    if runner == "reference":
        def load_reference() -> RunFunction:
            from onnx.reference import ReferenceEvaluator

            evaluator = ReferenceEvaluator(onnx.load(str(path)))

            def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # overflow is reported
                    return dict(zip(names, evaluator.run(None, dict(feeds))))

            return run

        return function_side(label, "onnx.reference", load_reference, inputs, REFERENCE)
    if not has_fp16(structure.graph):
        return onnxruntime_side(label, path)
    if any(is_fp16_value(v) for v in structure.graph.input):
        raise PrecisionError("fp16 graph inputs cannot be emulated; keep the inputs fp32 (keep_io_types)")

    def load_emulated() -> RunFunction:
        session = onnxruntime_session(path)
        emulated = onnxruntime_session(emulate_fp16(structure).SerializeToString(), optimize=False,
                                       external_folder=path.parent)
        proved = False

        def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            nonlocal proved
            if not proved:  # the real fp16 file must load and run too
                session.run(None, dict(feeds))
                proved = True
            return dict(zip(names, emulated.run(None, dict(feeds))))

        return run

    return function_side(label, "ONNX Runtime", load_emulated, inputs, EMULATED)
