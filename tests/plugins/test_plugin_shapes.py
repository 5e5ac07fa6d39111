"""Output shapes of custom nodes from their references, for the analysis probes and the plugin scaffold."""

from __future__ import annotations

import numpy as np
import onnx.helper as oh
import onnx_ir as ir
import pytest
from onnx import TensorProto
from plugin_models import hswish, hswish_onnx, upsample_add, upsample_add_onnx

from graphfix.plugins import Registry, TensorFacts, infer_shapes
from graphfix.plugins.registry import ReferenceError
from graphfix.plugins.shapes import symbolic_output_shapes


def first_custom(model) -> ir.Node:  # noqa: ANN001
    graph = ir.serde.deserialize_model(model).graph
    return next(n for n in graph if n.domain not in ("",) or n.op_type == "Plugin")


def test_shapes_come_from_running_the_reference_on_probe_shapes():
    reg = Registry()
    reg.register("UpsampleAdd", upsample_add)
    node = first_custom(upsample_add_onnx())
    for batch in (3, 5):
        [out] = infer_shapes(node, [TensorFacts((batch, 4, 8, 8), np.dtype(np.float32)),
                                    TensorFacts((batch, 4, 16, 16), np.dtype(np.float32))], reg)
        assert out.shape == (batch, 4, 16, 16) and out.dtype == np.float32 and out.value is None


def test_a_shape_function_is_used_instead_of_the_reference():
    reg = Registry()

    def never(*args, **kwargs):
        raise AssertionError("the reference must not run when a shape function is registered")

    reg.register("UpsampleAdd", never, shape_fn=lambda x, skip, scale, gain: (x[0], x[1], x[2] * scale, x[3] * scale))
    node = first_custom(upsample_add_onnx())
    [out] = infer_shapes(node, [TensorFacts((3, 4, 8, 8), np.dtype(np.float32)),
                                TensorFacts((3, 4, 16, 16), np.dtype(np.float32))], reg)
    assert out.shape == (3, 4, 16, 16) and out.dtype == np.float32


def test_known_input_values_give_known_output_values():
    reg = Registry()
    reg.register("HSwish", lambda x, bias: hswish(x))
    node = first_custom(hswish_onnx())
    x = np.array([[-4.0, 0.0, 1.0]], np.float32)
    [out] = infer_shapes(node, [TensorFacts(x.shape, x.dtype, x), TensorFacts((3, 3, 3, 3), x.dtype,
                                                                              np.zeros((3, 3, 3, 3), np.float32))], reg)
    np.testing.assert_allclose(out.value, hswish(x))


def test_no_reference_or_unknown_shape_gives_none_and_failures_raise():
    node = first_custom(hswish_onnx())
    facts = [TensorFacts((3, 3, 3, 3), np.dtype(np.float32)), TensorFacts((3, 3, 3, 3), np.dtype(np.float32))]
    assert infer_shapes(node, facts, Registry()) is None
    reg = Registry()
    reg.register("HSwish", lambda x, bias: hswish(x))
    assert infer_shapes(node, [TensorFacts((None, 3, 3, 3), np.dtype(np.float32)), facts[1]], reg) is None
    reg.register("HSwish", lambda x, bias: x.reshape(7))  # a reference that cannot take the probe
    with pytest.raises(ReferenceError, match="failed on node '/hswish/Plugin'"):
        infer_shapes(node, facts, reg)


def pixel_shuffle_node() -> ir.Node:
    node = oh.make_node("Shuffle", ["x"], ["y"], domain="c", r=2)
    graph = oh.make_graph([node], "g", [oh.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16, "H", "W"])],
                          [oh.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("c", 1)], ir_version=8)
    return ir.serde.deserialize_model(model).graph[0]


def shuffle(x, r):  # noqa: ANN001, ANN201
    n, c, h, w = x.shape
    y = x.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3)
    return y.reshape(n, c // (r * r), h * r, w * r)


def test_symbolic_shapes_relate_output_dims_to_input_dims():
    reg = Registry()
    reg.register("Shuffle", shuffle)
    [out] = symbolic_output_shapes(pixel_shuffle_node(), [("N", 16, "H", "W")], [np.dtype(np.float32)], reg)
    # Channels are static (16 -> 4): a constant; the dynamic dims relate to the input by * 2.
    assert out.dims == ("inp0.shape_expr[0]", "4", "inp0.shape_expr[2] * 2",
                        "inp0.shape_expr[3] * 2")
    assert out.how == "reference"


def test_symbolic_shapes_need_a_reference():
    assert symbolic_output_shapes(pixel_shuffle_node(), [("N", 16, "H", "W")], [np.dtype(np.float32)],
                                  Registry()) is None


def test_symbolic_shapes_divide_and_offset():
    reg = Registry()
    reg.register("Shuffle", lambda x, r: np.zeros((x.shape[0], x.shape[1], x.shape[2] // r, x.shape[3] + 1)))
    [out] = symbolic_output_shapes(pixel_shuffle_node(), [("N", 16, "H", "W")], [np.dtype(np.float32)], reg)
    assert out.dims == ("inp0.shape_expr[0]", "inp0.shape_expr[1]", "inp0.shape_expr[2] // 2",
                        "inp0.shape_expr[3] + 1")
    assert out.dtype == np.float64  # what the reference returned


def test_the_analysis_hook_sees_through_a_custom_node():
    """What graphfix.analysis's walker calls for a custom node (its Facts: per-probe shapes and values)."""
    from dataclasses import dataclass

    from graphfix.plugins.shapes import analysis_outputs

    @dataclass
    class Facts:
        dtype: int
        shapes: list
        values: list

    reg = Registry()
    reg.register("UpsampleAdd", upsample_add)
    node = first_custom(upsample_add_onnx())
    x = Facts(TensorProto.FLOAT, [(3, 4, 8, 8), (5, 4, 8, 8)], [None, None])
    skip = Facts(TensorProto.FLOAT, [(3, 4, 16, 16), (5, 4, 16, 16)], [None, None])
    shapes, values, dtypes = analysis_outputs(node, [x, skip], 1, reg)
    assert shapes == [(5, 4, 16, 16)] and values == [None] and dtypes == [TensorProto.FLOAT]
    assert analysis_outputs(node, [x, skip], 0, Registry()) is None
