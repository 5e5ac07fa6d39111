"""Computing a model's internal DOUBLE tensors in FLOAT, as TensorRT does (GF503's fix; the fix pipeline keeps
the result only when ONNX Runtime gives the same outputs before and after).

Cast targets and the ``dtype`` of operators that make DOUBLE become FLOAT, DOUBLE initializers and Constant
values become float32, and every DOUBLE tensor is declared FLOAT, all through graphfix's editor.
:mod:`graphfix.analyse.narrowing` says which tensors and when graphfix refuses (the model's interface).
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from graphfix.analyse.narrowing import DOUBLE, double_values
from graphfix.fixing.editor import Editor

FLOAT = ir.DataType.FLOAT
# Attributes that make a node produce DOUBLE from non-DOUBLE inputs.
_TYPE_ATTRIBUTES = {"Cast": "to", "RandomNormal": "dtype", "RandomUniform": "dtype", "RandomNormalLike": "dtype",
                    "RandomUniformLike": "dtype", "EyeLike": "dtype", "Bernoulli": "dtype", "Multinomial": "dtype"}


def narrow_double(model: ir.Model) -> ir.Model:
    """A copy of ``model`` whose internal DOUBLE tensors are FLOAT (``model`` is left as it is)."""
    copy = ir.serde.deserialize_model(ir.serde.serialize_model(model))
    base = next((t.const_value.base_dir for t in model.graph.initializers.values()
                 if isinstance(t.const_value, ir.ExternalTensor) and t.const_value.base_dir), None)
    if base:
        from onnx_ir import external_data

        external_data.set_base_dir(copy.graph, str(base))
    editor = Editor(copy)
    for node in list(copy.graph):
        name = _TYPE_ATTRIBUTES.get(node.op_type)
        if name is not None and name in node.attributes and node.attributes[name].value == DOUBLE.value:
            editor.set_attribute(node, ir.AttrInt64(name, FLOAT.value))
        if node.op_type in ("Constant", "ConstantOfShape") and "value" in node.attributes:
            tensor = node.attributes["value"].value
            if tensor.dtype == DOUBLE:
                narrowed = ir.tensor(np.asarray(tensor.numpy(), dtype=np.float32), name=tensor.name)
                editor.set_attribute(node, ir.AttrTensor("value", narrowed))
    for name, value in list(copy.graph.initializers.items()):
        if value.const_value is not None and value.const_value.dtype == DOUBLE:
            editor.replace_uses(value, editor.constant(np.asarray(value.const_value.numpy(), dtype=np.float32), name),
                                graph_outputs=False)
    for value in list(double_values(copy)):
        editor.set_type(value, FLOAT)
    editor.cleanup()
    return copy
