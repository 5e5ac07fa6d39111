"""``graphfix plugin``: the TensorRT Python plugin scaffold (checked as Python source; TensorRT is absent).

The tensorrt.plugin names are checked against the module's source (cited in graphfix/plugins/scaffold.py,
``QDP_NAMES``); the tensorrt names against the bindings lists in /work/shared/trt-api, read as data.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx_ir as ir
import pytest
from plugin_models import attribute_zoo_onnx, everything, hswish_onnx, upsample_add_onnx

from graphfix.errors import UsageError
from graphfix.plugins import Registry, load_custom_ops, stock_form
from graphfix.plugins.scaffold import (
    QDP_NAMES,
    TRT_NAMES,
    supports_python_plugins,
    write_plugin_scaffold,
)

HERE = Path(__file__).parent
TRT_API = Path("/work/shared/trt-api")


def stock_seed() -> ir.Model:
    model = ir.serde.deserialize_model(hswish_onnx())
    stock_form(model)
    return model


def reference_registry() -> Registry:
    registry = Registry()
    load_custom_ops(HERE / "ref_ops.py", None, registry)
    return registry


def functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def decorated(tree: ast.Module, decorator: str) -> ast.FunctionDef:
    for node in functions(tree).values():
        for item in node.decorator_list:
            if isinstance(item, ast.Call) and ast.unparse(item.func) == f"trtp.{decorator}":
                return node
    raise AssertionError(f"no @trtp.{decorator}")


def constant(tree: ast.Module, name: str) -> object:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(name)


def signature(function: ast.FunctionDef) -> list[tuple[str, str]]:
    return [(a.arg, ast.unparse(a.annotation) if a.annotation else "") for a in function.args.args]


def test_hswish_scaffold_names_the_op_its_inputs_attributes_and_shapes(tmp_path: Path):
    path = tmp_path / "hswish_plugin.py"
    report = write_plugin_scaffold(stock_seed(), "HSwish", path, reference_registry())
    source = path.read_text()
    tree = ast.parse(source)
    compile(source, str(path), "exec")
    assert constant(tree, "PLUGIN_ID") == report.plugin_id == "graphfix::HSwish"
    desc = decorated(tree, "register")
    assert signature(desc) == [("inp0", "trtp.TensorDesc"), ("inp1", "trtp.TensorDesc"), ("info", "str")]
    assert ast.unparse(desc.returns) == "trtp.TensorDesc"
    shape = ast.unparse(next(n for n in ast.walk(desc) if isinstance(n, ast.Call) and
                             ast.unparse(n.func) == "trtp.from_shape_expr"))
    assert "inp0.shape_expr[0], inp0.shape_expr[1], inp0.shape_expr[2], inp0.shape_expr[3]" in shape
    impl = decorated(tree, "impl")
    assert [name for name, _ in signature(impl)] == ["inp0", "inp1", "info", "outputs", "stream"]
    tune = decorated(tree, "autotune")
    assert [name for name, _ in signature(tune)] == ["inp0", "inp1", "outputs"]
    assert "'FP32|FP16, FP32|FP16, FP32|FP16'" in ast.unparse(tune)
    assert constant(tree, "REFERENCE_FILE") == str((HERE / "ref_ops.py").resolve())
    assert constant(tree, "REFERENCE_FUNCTION") == "HSwish"
    assert [i.onnx_name for i in report.inputs] == ["input1", "hswish.bias"] and report.inputs[1].initializer
    assert report.outputs[0].how == "reference" and not report.todo
    # The model's node still says plugin_namespace="" (tensorRT_Pro's), a Python plugin cannot: said so.
    assert any("set plugin_namespace='graphfix'" in note for note in report.notes)
    # tensorrt.plugin needs real annotations, not postponed strings.
    assert not any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in tree.body)


def used_names(source: str, module: str) -> set[str]:
    return {node.attr for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == module}


@pytest.mark.parametrize("case", ["hswish", "upsample", "zoo", "todo"])
def test_every_tensorrt_name_the_scaffold_writes_exists(tmp_path: Path, case: str):
    path = tmp_path / "plugin.py"
    if case == "hswish":
        write_plugin_scaffold(stock_seed(), "HSwish", path, reference_registry())
    elif case == "upsample":
        write_plugin_scaffold(upsample_add_onnx(), "UpsampleAdd", path, reference_registry())
    elif case == "zoo":
        registry = Registry()
        registry.register("Everything", everything)
        write_plugin_scaffold(attribute_zoo_onnx(), "Everything", path, registry)
    else:
        write_plugin_scaffold(upsample_add_onnx(), "UpsampleAdd", path, Registry())
    source = path.read_text()
    assert used_names(source, "trtp") <= QDP_NAMES
    assert used_names(source, "trt") <= TRT_NAMES
    for listing in sorted(TRT_API.glob("*.signatures.txt")):
        version = listing.name.removesuffix(".signatures.txt")
        if not supports_python_plugins(version):
            continue
        names = {line.split("\t")[0] for line in listing.read_text().splitlines()}
        assert TRT_NAMES - {"__version__"} <= names, version


@pytest.mark.skipif(not TRT_API.is_dir(), reason="the TensorRT API lists (/work/shared/trt-api) are not here")
def test_python_plugin_support_follows_the_bindings():
    # tensorrt.plugin builds on IPluginCreatorV3Quick: absent from the 8.6 and 10.0 bindings, present from
    # the first listed version after 10.6 on.
    for listing in sorted(TRT_API.glob("*.signatures.txt")):
        version = listing.name.removesuffix(".signatures.txt")
        names = {line.split("\t")[0] for line in listing.read_text().splitlines()}
        assert supports_python_plugins(version) == ("IPluginCreatorV3Quick" in names), version


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_importing_the_scaffold_without_tensorrt_fails_only_at_its_guard(tmp_path: Path):
    path = tmp_path / "hswish_plugin.py"
    write_plugin_scaffold(stock_seed(), "HSwish", path, reference_registry())
    done = subprocess.run([sys.executable, "-c", f"import runpy; runpy.run_path({str(path)!r})"],
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: hswish_plugin.py: this TensorRT plugin needs TensorRT 10.6 or later")
    guard = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if "raise ImportError(" in line)
    frames = [line for line in done.stderr.splitlines() if str(path) in line]
    assert frames and frames[-1].strip().endswith(f"line {guard}, in <module>")


def test_two_inputs_and_typed_attributes(tmp_path: Path):
    path = tmp_path / "upsampleadd_plugin.py"
    report = write_plugin_scaffold(upsample_add_onnx(), "UpsampleAdd", path, reference_registry())
    tree = ast.parse(path.read_text())
    desc = decorated(tree, "register")
    assert signature(desc) == [("inp0", "trtp.TensorDesc"), ("inp1", "trtp.TensorDesc"), ("gain", "float"),
                               ("scale", "int")]  # the node's attribute order
    assert [(a.name, a.field_type) for a in report.attributes] == [
        ("gain", "kFLOAT32"), ("scale", "kINT32 (narrowed from int64)")]
    # The shape function of ref_ops.py says H*scale; the probes keep the static dims, so both forms hold.
    assert report.outputs[0].how == "shape function"
    assert report.outputs[0].dims[:2] == ("inp0.shape_expr[0]", "inp0.shape_expr[1]")
    assert constant(tree, "PLUGIN_ID") == "graphfix::UpsampleAdd"


def test_attribute_types_follow_the_onnx_parser(tmp_path: Path):
    registry = Registry()
    registry.register("Everything", everything)
    path = tmp_path / "everything_plugin.py"
    report = write_plugin_scaffold(attribute_zoo_onnx(), "Everything", path, registry, trt_version="10.8")
    by_name = {a.name: a for a in report.attributes}
    assert by_name["count"].annotation == "int" and by_name["ratio"].annotation == "float"
    assert by_name["axes"].annotation == "npt.NDArray[np.int32]"
    assert by_name["weights"].annotation == "npt.NDArray[np.float32]"
    assert by_name["table"].annotation == "npt.NDArray[np.float32]"
    assert by_name["tags"].annotation is None  # STRINGS arrive concatenated: left out, with a note
    assert any("'tags' (STRINGS)" in note for note in report.notes)
    tree = ast.parse(path.read_text())
    desc = decorated(tree, "register")
    assert "tags" not in [name for name, _ in signature(desc)]
    assert ast.unparse(desc.returns) == "Tuple[trtp.TensorDesc, trtp.TensorDesc]"
    assert [o.dims for o in report.outputs] == [("inp0.shape_expr[0]",), ("inp0.shape_expr[0]", "inp0.shape_expr[1]")]
    assert report.cpp_requirements is None


def test_older_tensorrt_gets_the_cpp_requirements(tmp_path: Path):
    path = tmp_path / "hswish_plugin.py"
    report = write_plugin_scaffold(stock_seed(), "HSwish", path, reference_registry(), trt_version="8.6")
    text = report.cpp_requirements
    assert text is not None and text.startswith("TensorRT 8.6 has no tensorrt.plugin")
    assert "register a creator named 'HSwish', version '1', namespace ''" in text
    assert "IPluginV2DynamicExt" in text
    assert "info: kCHAR (ONNX STRING" in text
    assert "input 1: hswish.bias float32 [3, 3, 3, 3] (an initializer)" in text
    assert "getOutputDimensions for output 0: [inputs[0].d[0]" in text
    assert text.splitlines()[0] in path.read_text()
    assert any("predates tensorrt.plugin" in note for note in report.notes)


def test_without_reference_the_declared_shape_or_a_todo(tmp_path: Path):
    zoo = tmp_path / "zoo_plugin.py"
    report = write_plugin_scaffold(attribute_zoo_onnx(), "Everything", zoo, Registry())
    assert [o.how for o in report.outputs] == ["declared", "unknown"]  # `scaled` has no declared shape
    assert report.todo
    source = zoo.read_text()
    assert "TODO(graphfix): output 1's shape is unknown" in source
    assert constant(ast.parse(source), "REFERENCE_FILE") is None
    assert "raise NotImplementedError" in source
    compile(source, str(zoo), "exec")


def test_scaffold_errors(tmp_path: Path):
    with pytest.raises(UsageError, match=r"no custom node 'Nope' \(its custom ops: HSwish\)"):
        write_plugin_scaffold(stock_seed(), "Nope", tmp_path / "x.py")
    with pytest.raises(UsageError, match="namespace 'trt'"):
        write_plugin_scaffold(stock_seed(), "HSwish", tmp_path / "x.py", namespace="trt")
    with pytest.raises(UsageError, match="does not exist"):
        write_plugin_scaffold(stock_seed(), "HSwish", tmp_path / "missing" / "x.py")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_the_plugin_form_is_scaffolded_with_a_reminder_to_fix_first(tmp_path: Path):
    report = write_plugin_scaffold(hswish_onnx(), "HSwish", tmp_path / "p.py", reference_registry())
    assert any("run `graphfix fix` first (GF401)" in note for note in report.notes)


def test_tensorrt_builds_an_engine_with_the_scaffold(tmp_path: Path):
    pytest.importorskip("tensorrt", reason="building an engine with the plugin needs TensorRT 10.6+ and a GPU")
    import onnx_ir as ir_

    from graphfix.plugins.loader import load_plugins
    from graphfix.plugins.stock import set_plugin_namespace

    model = stock_seed()
    set_plugin_namespace(model, "HSwish", "graphfix")
    onnx_path = tmp_path / "fixed.onnx"
    ir_.save(model, str(onnx_path))
    plugin = tmp_path / "hswish_plugin.py"
    write_plugin_scaffold(model, "HSwish", plugin, reference_registry())
    load_plugins([plugin])
    from polygraphy.backend.trt import CreateConfig, EngineFromNetwork, NetworkFromOnnxPath, Profile, TrtRunner

    profile = Profile().add("input1", (1, 3, 3, 3), (4, 3, 3, 3), (8, 3, 3, 3)).add(
        "input2", (1, 3, 3, 3), (4, 3, 3, 3), (8, 3, 3, 3))
    engine = EngineFromNetwork(NetworkFromOnnxPath(str(onnx_path)), CreateConfig(profiles=[profile]))
    x1 = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    x2 = np.ones((4, 3, 3, 3), np.float32)
    with TrtRunner(engine) as runner:
        out = runner.infer({"input1": x1, "input2": x2})["output"]
    np.testing.assert_allclose(out, np.maximum(x1 * np.clip(x1 + 3, 0, 6) / 6, 0), rtol=1e-5, atol=1e-5)
