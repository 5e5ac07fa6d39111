"""The TensorRT backend: build plans per TensorRT version, the optimisation profile, parser errors mapped
to rules, and (where TensorRT is installed) real engine builds compared with ONNX Runtime.

The plain-data parts run everywhere. Tests marked ``tensorrt`` need the tensorrt package and a GPU;
they skip with a reason when it is missing. No stand-in ``tensorrt`` module is ever used.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.helper as oh
import onnx.numpy_helper as onh
import pytest

from graphfix.compiling.backends import tensorrt as backend
from graphfix.compiling.backends.tensorrt import (
    BuildPlan,
    ParserIssue,
    build_engine,
    build_failure,
    check_graph_for_plan,
    compare_engine,
    default_engine_path,
    default_timing_cache_path,
    feeds_for_batches,
    issues_from_text,
    parse_failure,
    parser_issues,
    plan_build,
    plugin_rule,
    profile_shapes,
    rule_for_parser_error,
    tensorrt_status,
)
from graphfix.errors import GraphfixError, UsageError
from graphfix.verify import InputSpec


def _tensorrt_importable() -> bool:
    try:
        importlib.import_module("tensorrt")
    except Exception:  # noqa: BLE001 - missing or broken: either way not usable here
        return False
    return True


TRT_REASON = ("TensorRT is not installed (pip install tensorrt, NVIDIA's wheels; on Jetson the JetPack "
              "bindings); engine builds need it and a GPU")
needs_no_trt = pytest.mark.skipif(_tensorrt_importable(), reason="tensorrt is importable here")

F32 = np.dtype(np.float32)


# -- models -----------------------------------------------------------------------------------------

RNG = np.random.default_rng(0)
W = RNG.standard_normal((8, 4)).astype(np.float32)
B = RNG.standard_normal(4).astype(np.float32)


def _io(dtype: int = onnx.TensorProto.FLOAT):
    return ([oh.make_tensor_value_info("x", dtype, ["N", 8])],
            [oh.make_tensor_value_info("y", dtype, ["N", 4])])


def mlp_fp32(bias: np.ndarray = B) -> onnx.ModelProto:
    inputs, outputs = _io()
    graph = oh.make_graph(
        [oh.make_node("MatMul", ["x", "W"], ["m"], name="/fc/MatMul"),
         oh.make_node("Add", ["m", "B"], ["a"], name="/fc/Add"),
         oh.make_node("Relu", ["a"], ["y"], name="/act/Relu")],
        "mlp", inputs, outputs, [onh.from_array(W, "W"), onh.from_array(bias, "B")])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)], ir_version=8)


def mlp_fp16_mixed() -> onnx.ModelProto:
    """The same network as graphfix's mixed fp16 graph has it: fp16 inside, fp32 I/O."""
    inputs, outputs = _io()
    graph = oh.make_graph(
        [oh.make_node("Cast", ["x"], ["x16"], to=onnx.TensorProto.FLOAT16, name="/in/Cast"),
         oh.make_node("MatMul", ["x16", "W16"], ["m"], name="/fc/MatMul"),
         oh.make_node("Add", ["m", "B16"], ["a"], name="/fc/Add"),
         oh.make_node("Relu", ["a"], ["r"], name="/act/Relu"),
         oh.make_node("Cast", ["r"], ["y"], to=onnx.TensorProto.FLOAT, name="/out/Cast")],
        "mlp16", inputs, outputs,
        [onh.from_array(W.astype(np.float16), "W16"), onh.from_array(B.astype(np.float16), "B16")])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)], ir_version=8)


def mlp_int8_qdq() -> onnx.ModelProto:
    """Explicit symmetric Q/DQ (zero point 0) on the activation and the weight, as TensorRT wants."""
    inputs, outputs = _io()
    x_scale = np.float32(4.0 / 127)
    w_scale = np.float32(np.abs(W).max() / 127)
    w_q = np.clip(np.round(W / w_scale), -127, 127).astype(np.int8)
    zero = np.int8(0)
    graph = oh.make_graph(
        [oh.make_node("QuantizeLinear", ["x", "xs", "z"], ["xq"], name="/in/Q"),
         oh.make_node("DequantizeLinear", ["xq", "xs", "z"], ["xd"], name="/in/DQ"),
         oh.make_node("DequantizeLinear", ["Wq", "ws", "z"], ["wd"], name="/fc/W/DQ"),
         oh.make_node("MatMul", ["xd", "wd"], ["m"], name="/fc/MatMul"),
         oh.make_node("Add", ["m", "B"], ["a"], name="/fc/Add"),
         oh.make_node("Relu", ["a"], ["y"], name="/act/Relu")],
        "mlp8", inputs, outputs,
        [onh.from_array(np.array(x_scale), "xs"), onh.from_array(np.array(w_scale), "ws"),
         onh.from_array(np.array(zero), "z"), onh.from_array(w_q, "Wq"), onh.from_array(B, "B")])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)], ir_version=8)


def unknown_op_model() -> onnx.ModelProto:
    """A node no TensorRT importer or registered plugin knows (not checker-valid on purpose)."""
    inputs, outputs = _io()
    graph = oh.make_graph(
        [oh.make_node("MatMul", ["x", "W"], ["m"], name="/fc/MatMul"),
         oh.make_node("GraphfixNoSuchPlugin", ["m"], ["y"], name="/head/NoSuchPlugin", info="{}")],
        "unknown", inputs, outputs, [onh.from_array(W, "W")])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)], ir_version=8)


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


# -- build plans (plain data) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "precision", "graph", "strongly_typed", "flag", "flags"),
    [
        ("8.6.1.6", "fp32", "fp32", False, False, set()),
        ("8.6.1", "fp16", "fp32", False, False, {"FP16"}),
        ("8.6.1", "int8", "int8-qdq", False, False, {"INT8"}),
        ("10.0.1", "fp32", "fp32", False, False, set()),
        ("10.0.1", "fp16", "fp32", False, False, {"FP16"}),
        ("10.0.1.6", "int8", "int8-qdq", False, False, {"INT8"}),
        ("10.11", "fp16", "fp32", False, False, {"FP16"}),
        ("10.11.0.33", "int8", "int8-qdq", False, False, {"INT8"}),
        ("10.12", "fp32", "fp32", True, True, set()),
        ("10.12.0.36", "fp16", "fp16-mixed", True, True, set()),
        ("10.12", "int8", "int8-qdq", True, True, set()),
        ("10.13", "fp16", "fp16-mixed", True, True, set()),
        ("10.13.0.35", "int8", "int8-qdq", True, True, set()),
        ("10.16.1", "fp16", "fp16-mixed", True, True, set()),
        ("11.0", "fp32", "fp32", True, False, set()),
        ("11.0", "fp16", "fp16-mixed", True, False, set()),
        ("11.0.0", "int8", "int8-qdq", True, False, set()),
        ("11.1", "fp16", "fp16-mixed", True, False, set()),
        ("11.1.0.106", "int8", "int8-qdq", True, False, set()),
    ],
)
def test_plan_per_version(version, precision, graph, strongly_typed, flag, flags):
    plan = plan_build(version, precision)
    assert isinstance(plan, BuildPlan)
    assert (plan.onnx_graph, plan.strongly_typed, plan.strongly_typed_flag, set(plan.builder_flags)) == (
        graph, strongly_typed, flag, flags)
    assert plan.trt_version == version and plan.precision == precision
    assert plan.to_dict()["builder_flags"] == sorted(flags)


def test_plan_notes_say_why():
    assert any("deprecated since TensorRT 10.12" in note for note in plan_build("10.12", "fp16").notes)
    assert any("removed the builder precision flags" in note for note in plan_build("11.0", "int8").notes)
    assert any("no calibrator" in note for note in plan_build("8.6.1", "int8").notes)
    assert any("TF32" in note for note in plan_build("10.13", "fp32").notes)
    # Strong typing with the flag on 10.12+; 11 needs no flag.
    assert plan_build("10.12", "fp32").major == 10 and plan_build("10.12", "fp32").minor == 12


def test_future_major_is_built_like_11_with_a_note():
    plan = plan_build("12.0.1", "fp16")
    assert (plan.onnx_graph, plan.strongly_typed, plan.strongly_typed_flag, plan.builder_flags) == (
        "fp16-mixed", True, False, frozenset())
    assert any("newer than graphfix knows" in note for note in plan.notes)


def test_tensorrt_9_is_built_like_8_6():
    plan = plan_build("9.2.0.5", "fp16")
    assert (plan.onnx_graph, plan.strongly_typed, plan.builder_flags) == ("fp32", False, frozenset({"FP16"}))
    assert any("TensorRT 9" in note for note in plan.notes)


@pytest.mark.parametrize("version", ["7.2.3.4", "8.0.1.6", "8.2.1.8", "8.4.3.1", "8.5.3.1", "5.1"])
def test_old_tensorrt_is_refused_in_one_line(version):
    with pytest.raises(GraphfixError, match=r"too old: graphfix needs TensorRT 8\.6 or newer") as caught:
        plan_build(version, "fp32")
    assert "\n" not in str(caught.value) and version in str(caught.value)


@pytest.mark.parametrize("version", ["", "abc", "10", "10.x", "latest", "v10.13", "10..1", None])
def test_garbage_version_is_refused(version):
    with pytest.raises(GraphfixError, match="cannot read the TensorRT version"):
        plan_build(version, "fp16")  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["10.8.0a0", "8.6.1.post1", " 10.13.0.35 "])
def test_suffixed_versions_are_read(version):
    assert plan_build(version, "fp32").trt_version == version


def test_unknown_precision_is_a_usage_error():
    with pytest.raises(UsageError, match="precision 'bf16'"):
        plan_build("10.13", "bf16")  # type: ignore[arg-type]


# -- optimisation profile (plain data) --------------------------------------------------------------


def test_profile_puts_the_batch_range_on_dynamic_dim_0():
    specs = [InputSpec("images", F32, (None, 3, 32, 32)), InputSpec("scale", F32, (None,))]
    assert profile_shapes(specs, opt_batch=4, max_batch=8) == {
        "images": ((1, 3, 32, 32), (4, 3, 32, 32), (8, 3, 32, 32)),
        "scale": ((1,), (4,), (8,)),
    }


def test_profile_keeps_static_dim_0_and_scalars():
    specs = [InputSpec("x", F32, (None, 8)), InputSpec("table", F32, (10, 4)), InputSpec("t", F32, ())]
    shapes = profile_shapes(specs, min_batch=2, opt_batch=2, max_batch=16)
    assert shapes["x"] == ((2, 8), (2, 8), (16, 8))
    assert shapes["table"] == ((10, 4),) * 3
    assert shapes["t"] == ((), (), ())


def test_profile_takes_pinned_non_batch_dims():
    specs = [InputSpec("x", F32, (None, 3, None, None))]
    shapes = profile_shapes(specs, opt_batch=4, max_batch=8, pinned={"x": [1, 3, 64, 48]})
    assert shapes == {"x": ((1, 3, 64, 48), (4, 3, 64, 48), (8, 3, 64, 48))}


def test_profile_pins_an_input_without_a_declared_shape():
    specs = [InputSpec("x", F32, None)]
    shapes = profile_shapes(specs, opt_batch=2, max_batch=4, pinned={"x": (1, 3, 8, 8)})
    assert shapes == {"x": ((1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8))}
    with pytest.raises(GraphfixError, match="no declared shape; give it with input_shapes x:DIMS"):
        profile_shapes(specs, opt_batch=2, max_batch=4)


def test_unpinned_dynamic_non_batch_dim_asks_for_input_shape():
    specs = [InputSpec("images", F32, (None, 3, None, None))]
    with pytest.raises(GraphfixError) as caught:
        profile_shapes(specs, opt_batch=1, max_batch=4)
    message = str(caught.value)
    assert "'images' dim 2 is dynamic" in message and "input_shapes images:1x3x<dim2>x<dim3>" in message
    assert "GF301" in message and "\n" not in message


def test_pinned_dims_must_agree_with_the_model_and_its_rank():
    specs = [InputSpec("x", F32, (None, 3, 32, 32))]
    with pytest.raises(GraphfixError, match="dim 2 is 64, but the model fixes it at 32"):
        profile_shapes(specs, opt_batch=1, max_batch=2, pinned={"x": [1, 3, 64, 32]})
    with pytest.raises(UsageError, match="has rank 3, but the model's input has rank 4"):
        profile_shapes(specs, opt_batch=1, max_batch=2, pinned={"x": [1, 3, 32]})
    with pytest.raises(UsageError, match="names no input 'y'"):
        profile_shapes(specs, opt_batch=1, max_batch=2, pinned={"y": [1, 3, 32, 32]})
    with pytest.raises(UsageError, match="dims must be positive"):
        profile_shapes(specs, opt_batch=1, max_batch=2, pinned={"x": [1, 3, 0, 32]})


@pytest.mark.parametrize(("low", "opt", "high"), [(1, 0, 4), (1, 8, 4), (2, 1, 4), (0, 1, 4), (1, 5, 4)])
def test_batch_range_must_be_ordered(low, opt, high):
    with pytest.raises(UsageError, match=r"1 <= min .* <= opt_batch .* <= max_batch"):
        profile_shapes([InputSpec("x", F32, (None, 8))], min_batch=low, opt_batch=opt, max_batch=high)


def test_batch_values_must_be_integers():
    with pytest.raises(UsageError, match="must be an integer"):
        profile_shapes([InputSpec("x", F32, (None, 8))], opt_batch=2.5, max_batch=4)  # type: ignore[arg-type]


def test_feeds_for_the_comparison_batches():
    profile = profile_shapes([InputSpec("x", F32, (None, 3, 4)), InputSpec("k", F32, (5,))],
                             opt_batch=4, max_batch=8)
    assert feeds_for_batches(profile, [1, 8]) == {
        1: {"x": (1, 3, 4), "k": (5,)},
        8: {"x": (8, 3, 4), "k": (5,)},
    }
    with pytest.raises(UsageError, match="outside the engine's batch range 1..8"):
        feeds_for_batches(profile, [9])


def test_default_paths_sit_beside_the_output_and_engine():
    assert default_engine_path(Path("out/model.onnx")) == Path("out/model.engine")
    cache = default_timing_cache_path("out/model.engine", "10.13.0.35")
    assert cache == Path("out/model.trt10.13.timing.cache")


# -- parser errors -> rules (plain data) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("op_type", "message", "rule"),
    [
        ("Resize", 'Assertion failed: scales.is_weights() && "Resize scales must be an initializer!"',
         "GF202"),
        ("Resize", "The sizes input must be 1D. Sizes rank = 2.", "GF201"),
        ("Resize", "sizes input tensor should be of the same length as axes attribute", "GF201"),
        ("Upsample", "scales input must be an initializer", "GF202"),
        ("Resize", "Unsupported coordinate transformation mode tf_crop_and_resize", None),
        (None, "IBuilder::buildSerializedNetwork: Error Code 4: Internal Error (kOPT values for profile 0 "
               "violate shape constraints: IShuffleLayer /Reshape: reshaping failed for tensor: "
               "/Flatten_output_0 Reshape would change volume 802816 to 100352.)", "GF103"),
        ("Reshape", "/Reshape_2: reshape changes volume. Reshaping [8,256] to [1,2048].", "GF103"),
        ("Reshape", "cannot infer the -1 dimension of the new shape", "GF102"),
        ("Slice", 'Assertion failed: inputs.at(1).is_weights() && "The starts input must be an initializer"',
         "GF101"),
        ("TopK", "This version of TensorRT only supports input K as an initializer.", "GF101"),
        ("Expand", "the shape input must be a build-time constant", "GF101"),
        ("Conv", "The kernel weights must be an initializer", None),
        ("NonZero", "data-dependent shapes are not supported here", "GF901"),
        ("Add", "Invalid Node - broadcasting failed", None),
        (None, "", None),
    ],
)
def test_rule_for_parser_error(op_type, message, rule):
    assert rule_for_parser_error(op_type, message) == rule


@pytest.mark.parametrize(
    ("op_type", "message", "rule"),
    [
        ("HSwish", 'Assertion failed: creator && "Plugin not found, are the plugin name, version, and '
                   'namespace correct?"', "custom-op-without-reference"),
        ("Plugin", "anything at all", "tensorrt-pro-plugin-node"),
        ("Plugin", "getPluginCreator could not find plugin: Plugin version: 1", "tensorrt-pro-plugin-node"),
        (None, "No importer registered for op: Foo. Attempting to import as plugin.", "custom-op-without-reference"),
        ("Foo", "getPluginCreator could not find plugin: Foo version: 1", "custom-op-without-reference"),
    ],
)
def test_unknown_ops_and_plugins_map_to_the_plugin_rules(op_type, message, rule):
    from graphfix.linting import rule_by_code

    assert rule_by_code(rule_for_parser_error(op_type, message)).name == rule


def test_plugin_rule_is_a_registered_rule():
    from graphfix.linting import all_rules, rule_by_code

    code = plugin_rule()
    assert rule_by_code(code).name == "tensorrt-pro-plugin-node"
    assert code in {rule.code for rule in all_rules()}


class _Error:
    """What ``trt.OnnxParser.get_error(i)`` returns, by duck typing (8.6 lacks node_name/node_operator)."""

    def __init__(self, node, desc, name=None, op=None, code="UNSUPPORTED_NODE"):
        self._node, self._desc, self._code = node, desc, code
        if name is not None:
            self.node_name = lambda: name
            self.node_operator = lambda: op

    def node(self):
        return self._node

    def desc(self):
        return self._desc

    def code(self):
        return self._code


class _Parser:
    def __init__(self, errors):
        self.errors = errors
        self.num_errors = len(errors)

    def get_error(self, index):
        return self.errors[index]


NODES = [("/fc/MatMul", "MatMul"), ("/Resize", "Resize"), ("/Reshape", "Reshape")]


def test_parser_issues_name_node_op_and_rule_on_10x_and_8_6():
    parser = _Parser([
        _Error(1, "Assertion failed: scales must be an initializer", name="/Resize", op="Resize"),  # 10.x
        _Error(2, "Reshape would change volume"),                                                      # 8.6
        _Error(-1, "graph-level failure"),
    ])
    issues = parser_issues(parser, NODES)
    assert [(i.node_name, i.op_type, i.rule) for i in issues] == [
        ("/Resize", "Resize", "GF202"), ("/Reshape", "Reshape", "GF103"), (None, None, None)]
    assert issues[0].code == "UNSUPPORTED_NODE" and issues[2].node_index == -1


def test_issues_from_logged_text_in_both_formats():
    lines = [
        "In node 1 with name: /Resize and operator: Resize (importResize): UNSUPPORTED_NODE: "
        "Assertion failed: sizes must be constant",
        "In node 2 (importReshape): INVALID_NODE: Reshape would change volume",
        "unrelated line",
    ]
    issues = issues_from_text(lines, NODES)
    assert [(i.node_index, i.node_name, i.op_type, i.code, i.rule) for i in issues] == [
        (1, "/Resize", "Resize", "UNSUPPORTED_NODE", "GF201"),
        (2, "/Reshape", "Reshape", "INVALID_NODE", "GF103"),
    ]


def test_parse_failure_is_one_line_with_node_op_and_rule():
    issues = [
        ParserIssue(0, "/fc/MatMul", "MatMul", "UNSUPPORTED_NODE", "some unrelated failure", None),
        ParserIssue(1, "/Resize", "Resize", "UNSUPPORTED_NODE", "Resize scales must be an initializer!",
                    "GF202"),
    ]
    error = parse_failure("model.onnx", "8.6.1", issues)
    message = str(error)
    assert "\n" not in message
    assert message.startswith("model.onnx: TensorRT 8.6.1 cannot parse node '/Resize' (Resize): ")
    assert "GF202 resize-runtime-scales" in message and "(+1 more parser errors)" in message
    assert error.rule == "GF202" and len(error.issues) == 2
    assert "no graphfix rule covers this" in str(parse_failure("m.onnx", "10.13", issues[:1]))
    assert "gave no parser errors" in str(parse_failure("m.onnx", "10.13", []))


def test_build_failure_is_one_line_with_the_rule():
    errors = ["some warning-like error",
              "IBuilder::buildSerializedNetwork: Error Code 4: Internal Error (kOPT values for profile 0 "
              "violate shape constraints: IShuffleLayer /Reshape: reshaping failed for\n"
              "tensor: t Reshape would change volume 64 to 32.)"]
    error = build_failure("m.onnx", "10.13.0.35", errors, "Invalid Engine")
    assert "\n" not in str(error) and "GF103 baked-batch" in str(error) and error.rule == "GF103"
    assert "failed to build the engine: Invalid Engine; no graphfix rule" in str(
        build_failure("m.onnx", "10.13", [], "Invalid Engine"))


# -- graph checks (plain data) ----------------------------------------------------


def test_graph_must_match_the_plan(tmp_path):
    fp32 = save(mlp_fp32(), tmp_path / "fp32.onnx")
    fp16 = save(mlp_fp16_mixed(), tmp_path / "fp16.onnx")
    int8 = save(mlp_int8_qdq(), tmp_path / "int8.onnx")
    check_graph_for_plan(fp32, plan_build("11.0", "fp32"))
    check_graph_for_plan(fp32, plan_build("10.0.1", "fp16"))  # FP16 flag on the fp32 graph
    check_graph_for_plan(fp16, plan_build("11.0", "fp16"))
    check_graph_for_plan(int8, plan_build("8.6.1", "int8"))
    check_graph_for_plan(int8, plan_build("11.0", "int8"))
    with pytest.raises(GraphfixError, match="no QuantizeLinear/DequantizeLinear nodes"):
        check_graph_for_plan(fp32, plan_build("10.11", "int8"))
    with pytest.raises(GraphfixError, match="no float16 tensors"):
        check_graph_for_plan(fp32, plan_build("10.12", "fp16"))


# -- without TensorRT -------------------------------------------------------------------------------


def test_importing_and_planning_never_imports_tensorrt():
    code = (
        "import sys\n"
        "import graphfix.compiling.backends.tensorrt as t\n"
        "from graphfix.verify import InputSpec\n"
        "import numpy as np\n"
        "t.plan_build('10.13', 'fp16'); t.rule_for_parser_error('Resize', 'sizes')\n"
        "t.profile_shapes([InputSpec('x', np.dtype('float32'), (None, 3))], opt_batch=2, max_batch=4)\n"
        "assert 'tensorrt' not in sys.modules, 'tensorrt imported'\n"
        "assert 'polygraphy.backend.trt' not in sys.modules, 'polygraphy.backend.trt imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr


@needs_no_trt
def test_status_says_tensorrt_is_missing_and_how_to_get_it():
    status = tensorrt_status()
    assert not status.available and status.version is None
    assert status.message.startswith("TensorRT is not installed: pip install tensorrt")
    assert "JetPack" in status.message and "\n" not in status.message


@needs_no_trt
def test_build_and_compare_without_tensorrt_raise_one_line_graphfix_error(tmp_path):
    model = save(mlp_fp32(), tmp_path / "m.onnx")
    plan = plan_build("10.13.0.35", "fp32")
    profile = profile_shapes([InputSpec("x", F32, (None, 8))], opt_batch=2, max_batch=4)
    with pytest.raises(GraphfixError) as caught:
        build_engine(model, tmp_path / "m.engine", plan=plan, profile=profile,
                     timing_cache=tmp_path / "t.cache")
    assert not isinstance(caught.value, ImportError)
    assert str(caught.value) == tensorrt_status().message
    assert not (tmp_path / "m.engine").exists() and not (tmp_path / "t.cache").exists()
    with pytest.raises(GraphfixError, match="TensorRT is not installed"):
        compare_engine(tmp_path / "m.engine", model, {1: {"x": (1, 8)}})


# -- with TensorRT (skipped here) -------------------------------------------------------------------


@pytest.fixture
def trt_version() -> str:
    trt = pytest.importorskip("tensorrt", reason=TRT_REASON)
    status = tensorrt_status()
    if not status.available:
        pytest.skip(status.message)
    return str(trt.__version__)


MODELS = {"fp32": mlp_fp32, "fp16-mixed": mlp_fp16_mixed, "int8-qdq": mlp_int8_qdq}


@pytest.mark.tensorrt
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_build_engine_and_compare_with_onnxruntime(trt_version, precision, tmp_path):
    plan = plan_build(trt_version, precision)
    original = save(mlp_fp32(), tmp_path / "original.onnx")
    graph = save(MODELS[plan.onnx_graph](), tmp_path / f"{plan.onnx_graph}.onnx")
    profile = profile_shapes([InputSpec("x", F32, (None, 8))], opt_batch=4, max_batch=8)
    engine = tmp_path / "model.engine"
    cache = default_timing_cache_path(engine, trt_version)

    report = build_engine(graph, engine, plan=plan, profile=profile, workspace_bytes=1 << 28,
                          timing_cache=cache, optimization_level=2)
    assert engine.is_file() and report.engine_bytes == engine.stat().st_size > 0
    assert cache.is_file() and not report.timing_cache_reused
    assert report.profile == profile and report.trt_version == trt_version
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    verification = compare_engine(engine, original, feeds_for_batches(profile, [1, 8]), precision=precision)
    assert verification.passed, verification.message
    assert sorted({o.batch for o in verification.outputs}) == [1, 8]

    again = build_engine(graph, engine, plan=plan, profile=profile, timing_cache=cache)
    assert again.timing_cache_reused


@pytest.mark.tensorrt
def test_parser_error_names_node_op_and_rule(trt_version, tmp_path):
    model = save(unknown_op_model(), tmp_path / "unknown.onnx")
    plan = plan_build(trt_version, "fp32")
    profile = profile_shapes([InputSpec("x", F32, (None, 8))], opt_batch=1, max_batch=2)
    with pytest.raises(backend.TensorRTBuildError) as caught:
        build_engine(model, tmp_path / "unknown.engine", plan=plan, profile=profile)
    message = str(caught.value)
    assert "\n" not in message
    assert "/head/NoSuchPlugin" in message and "GraphfixNoSuchPlugin" in message and plugin_rule() in message
    assert not (tmp_path / "unknown.engine").exists()


@pytest.mark.tensorrt
def test_plan_for_another_tensorrt_is_refused(trt_version, tmp_path):
    other = "11.0" if not trt_version.startswith("11.") else "10.13"
    model = save(mlp_fp32(), tmp_path / "m.onnx")
    profile = profile_shapes([InputSpec("x", F32, (None, 8))], opt_batch=1, max_batch=2)
    with pytest.raises(GraphfixError, match="the build plan is for TensorRT"):
        build_engine(model, tmp_path / "m.engine", plan=plan_build(other, "fp32"), profile=profile)


@pytest.mark.tensorrt
def test_runner_lists_outputs_and_casts_feeds_to_the_engine_types(trt_version, tmp_path):
    import graphfix

    original = save(mlp_fp32(), tmp_path / "original.onnx")
    profile = profile_shapes([InputSpec("x", F32, (None, 8))], opt_batch=2, max_batch=4)
    engine = tmp_path / "model.engine"
    build_engine(original, engine, plan=plan_build(trt_version, "fp32"), profile=profile)
    runner = graphfix.load(engine)
    onnx_runner = graphfix.load(original)
    assert [o.name for o in runner.outputs] == [o.name for o in onnx_runner.outputs]
    assert runner.outputs[0].dtype == np.float32 and runner.inputs[0].shape[0] is None
    x = np.random.default_rng(0).standard_normal((3, 8))  # float64: cast to the engine's float32
    got = runner({"x": x})
    want = onnx_runner({"x": x.astype(np.float32)})
    assert list(got) == list(want)
    np.testing.assert_allclose(got[runner.outputs[0].name], want[runner.outputs[0].name], rtol=1e-3, atol=1e-4)
