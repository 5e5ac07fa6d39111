"""Running models with custom ops in ONNX Runtime through their references (session_for, Polygraphy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.helper as oh
import onnxruntime as ort
import pytest
from onnx import TensorProto
from plugin_models import (
    attribute_zoo_onnx,
    everything,
    hswish,
    hswish_model,
    hswish_onnx,
    save,
    upsample_add,
    upsample_add_onnx,
)

from graphfix.plugins import MissingReference, ReferenceSession, Registry, UnsupportedCustomNode, session_for
from graphfix.plugins.session import session_loader

HERE = Path(__file__).parent


def registry() -> Registry:
    reg = Registry()
    reg.register("HSwish", lambda x, bias, info: hswish(x))
    reg.register("UpsampleAdd", upsample_add)
    reg.register("Everything", everything)
    return reg


def seed_feeds(batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"input1": (rng.standard_normal((batch, 3, 3, 3)) * 3).astype(np.float32),
            "input2": rng.standard_normal((batch, 3, 3, 3)).astype(np.float32)}


@pytest.mark.parametrize("domain", ["", "tensorrt_pro"])
def test_seed_plugin_model_runs_at_any_batch(tmp_path: Path, domain: str):
    path = save(hswish_onnx(domain), tmp_path / "seed.onnx")
    with pytest.raises(Exception):  # noqa: B017 - what ONNX Runtime alone says
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    session = session_for(path, registry())
    assert isinstance(session, ReferenceSession)
    for batch in (1, 8):
        feeds = seed_feeds(batch)
        [out] = session.run(None, feeds)
        np.testing.assert_allclose(out, hswish_model(feeds["input1"], feeds["input2"]), rtol=1e-6, atol=1e-6)
        assert out.shape == (batch, 3, 3, 3)


def test_interface_matches_onnxruntime():
    session = session_for(hswish_onnx(), registry())
    assert [(a.name, a.type, a.shape) for a in session.get_inputs()] == [
        ("input1", "tensor(float)", ["batch", 3, 3, 3]), ("input2", "tensor(float)", ["batch", 3, 3, 3])]
    assert [a.name for a in session.get_outputs()] == ["output"]
    [out] = session.run(["output"], seed_feeds(2))
    assert out.shape == (2, 3, 3, 3)
    with pytest.raises(Exception, match="missing input"):
        session.run(None, {"input1": seed_feeds(2)["input1"]})


def test_a_model_without_custom_ops_gets_a_plain_session():
    model = oh.make_model(oh.make_graph([oh.make_node("Relu", ["x"], ["y"])], "g",
                                        [oh.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
                                        [oh.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])]),
                          opset_imports=[oh.make_opsetid("", 17)], ir_version=8)
    assert isinstance(session_for(model, Registry()), ort.InferenceSession)


def test_two_inputs_and_a_shape_changing_attribute():
    session = session_for(upsample_add_onnx(), registry())
    rng = np.random.default_rng(1)
    for batch in (1, 8):
        x = rng.standard_normal((batch, 4, 8, 8)).astype(np.float32)
        skip = rng.standard_normal((batch, 4, 16, 16)).astype(np.float32)
        [y] = session.run(None, {"x": x, "skip": skip})
        np.testing.assert_allclose(y, np.maximum(upsample_add(x, skip), 0), rtol=1e-6)


def test_two_outputs_and_every_attribute_type():
    session = session_for(attribute_zoo_onnx(), registry())
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    total, scaled = session.run(None, {"x": x})
    np.testing.assert_allclose(total, x.sum(axis=1) * 3)
    np.testing.assert_allclose(scaled, x * np.arange(4, dtype=np.float32) * 0.5 * np.float32(0.123456789), rtol=1e-6)


def test_float16_tensors_pass_through():
    model = upsample_add_onnx()
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.elem_type = TensorProto.FLOAT16
    x = np.ones((2, 4, 8, 8), np.float16)
    skip = np.full((2, 4, 16, 16), 0.25, np.float16)
    [y] = session_for(model, registry()).run(None, {"x": x, "skip": skip})
    assert y.dtype == np.float16 and np.allclose(y, 0.75)


def chain_model() -> onnx.ModelProto:
    """Custom -> standard -> custom, with a skip connection crossing both custom nodes and a graph output
    straight from a custom node (three ONNX Runtime parts)."""
    nodes = [
        oh.make_node("Neg", ["x"], ["n"]),
        oh.make_node("HSwishOp", ["n"], ["h1"], domain="c"),
        oh.make_node("Mul", ["h1", "x"], ["m"]),
        oh.make_node("HSwishOp", ["m"], ["h2"], domain="c"),
        oh.make_node("Add", ["h2", "n"], ["y"]),
    ]
    graph = oh.make_graph(nodes, "chain", [oh.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
                          [oh.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5]),
                           oh.make_tensor_value_info("h1", TensorProto.FLOAT, ["N", 5])])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("c", 1)], ir_version=8)


def test_several_custom_nodes_and_values_crossing_them():
    reg = Registry()
    calls = []
    reg.register("HSwishOp", lambda x: calls.append(1) or hswish(x))
    session = session_for(chain_model(), reg)
    parts = [kind for kind, _ in session._schedule]
    assert parts == ["part", "custom", "part", "custom", "part"]
    x = np.linspace(-4, 4, 15, dtype=np.float32).reshape(3, 5)
    y, h1 = session.run(None, {"x": x})
    n = -x
    np.testing.assert_allclose(h1, hswish(n), rtol=1e-6)
    np.testing.assert_allclose(y, hswish(hswish(n) * x) + n, rtol=1e-6, atol=1e-6)
    assert len(calls) == 2


def test_weights_stay_in_the_original_external_data_file(tmp_path: Path):
    model = hswish_onnx("c")
    weight = oh.make_tensor("w", TensorProto.FLOAT, [3, 3, 3], np.linspace(0, 1, 27, dtype=np.float32))
    model.graph.initializer.append(weight)
    model.graph.node[1].input[0] = "mw"
    model.graph.node.insert(1, oh.make_node("Mul", ["input2", "w"], ["mw"]))
    onnx.save(model, str(tmp_path / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.onnx.data", size_threshold=0)
    assert (tmp_path / "ext.onnx.data").stat().st_size >= 27 * 4
    session = session_for(tmp_path / "ext.onnx", registry())
    feeds = seed_feeds(2)
    [out] = session.run(None, feeds)
    w = np.linspace(0, 1, 27, dtype=np.float32).reshape(3, 3, 3)
    np.testing.assert_allclose(out, np.maximum(feeds["input2"] * w * hswish(feeds["input1"]), 0), rtol=1e-5)


def test_no_reference_is_refused_with_gf402():
    with pytest.raises(MissingReference) as raised:
        session_for(hswish_onnx(), Registry())
    assert raised.value.code == "GF402"
    text = str(raised.value)
    assert text.startswith("GF402 custom operator HSwish (node '/hswish/Plugin') has no reference implementation")
    assert "--custom-ops" in text and "--plugins" in text and "verify=False" in text and raised.value.parameters == ("verify=False",)


def test_custom_node_inside_a_subgraph_is_refused_clearly():
    then = oh.make_graph([oh.make_node("HSwishOp", ["x"], ["t"], domain="c")], "then", [],
                         [oh.make_tensor_value_info("t", TensorProto.FLOAT, ["N", 5])])
    other = oh.make_graph([oh.make_node("Identity", ["x"], ["e"])], "else", [],
                          [oh.make_tensor_value_info("e", TensorProto.FLOAT, ["N", 5])])
    graph = oh.make_graph([oh.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)], "g",
                          [oh.make_tensor_value_info("cond", TensorProto.BOOL, []),
                           oh.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
                          [oh.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("c", 1)], ir_version=8)
    reg = Registry()
    reg.register("HSwishOp", hswish)
    with pytest.raises(UnsupportedCustomNode, match="custom operator inside its 'then_branch' subgraph"):
        session_for(model, reg)


def test_custom_node_in_a_local_function_is_run_after_inlining():
    body = [oh.make_node("HSwishOp", ["a"], ["b"], domain="c"), oh.make_node("Neg", ["b"], ["out"])]
    function = oh.make_function("local", "Wrap", ["a"], ["out"], body,
                                [oh.make_opsetid("", 17), oh.make_opsetid("c", 1)])
    graph = oh.make_graph([oh.make_node("Wrap", ["x"], ["y"], domain="local")], "g",
                          [oh.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
                          [oh.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])])
    model = oh.make_model(graph, functions=[function], ir_version=8,
                          opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("c", 1), oh.make_opsetid("local", 1)])
    reg = Registry()
    reg.register("HSwishOp", hswish)
    x = np.linspace(-4, 4, 10, dtype=np.float32).reshape(2, 5)
    [y] = session_for(model, reg).run(None, {"x": x})
    np.testing.assert_allclose(y, -hswish(x), rtol=1e-6)


def compare(original: object, candidate: object, reg_original: Registry, reg_candidate: Registry) -> bool:
    from polygraphy.backend.onnxrt import OnnxrtRunner
    from polygraphy.comparator import Comparator
    from polygraphy.comparator.compare import SimpleCompareFunc

    runners = [OnnxrtRunner(session_loader(original, reg_original), name="original"),
               OnnxrtRunner(session_loader(candidate, reg_candidate), name="fixed")]
    feeds = [seed_feeds(1, 0), seed_feeds(8, 1)]
    results = Comparator.run(runners, data_loader=feeds)
    return bool(Comparator.compare_accuracy(results, compare_func=SimpleCompareFunc(atol=1e-5, rtol=1e-4)))


def test_polygraphy_compares_original_and_stock_form_through_the_reference(tmp_path: Path):
    import onnx_ir as ir

    from graphfix.plugins import stock_form

    original = save(hswish_onnx(), tmp_path / "seed.onnx")
    fixed_model = ir.load(str(original))
    stock_form(fixed_model)
    fixed = tmp_path / "fixed.onnx"
    ir.save(fixed_model, str(fixed))
    assert compare(original, fixed, registry(), registry())
    # A planted fault: the fixed model's reference differs; the comparison must fail.
    wrong = Registry()
    wrong.register("HSwish", lambda x, bias, info: hswish(x) * 1.01)
    assert not compare(original, fixed, registry(), wrong)


def test_the_pipeline_can_ask_before_it_builds_sessions():
    from graphfix.plugins import has_custom_ops, require_implementations

    plain = oh.make_model(oh.make_graph([oh.make_node("Relu", ["x"], ["y"])], "g",
                                        [oh.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                                        [oh.make_tensor_value_info("y", TensorProto.FLOAT, [2])]),
                          opset_imports=[oh.make_opsetid("", 17)])
    assert has_custom_ops(hswish_onnx()) and has_custom_ops(chain_model()) and not has_custom_ops(plain)
    require_implementations(hswish_onnx(), registry())  # a reference for every custom op: no error
    with pytest.raises(MissingReference, match="GF402 custom operator UpsampleAdd"):
        require_implementations(upsample_add_onnx(), Registry())
