"""``--plugins FILE.py|lib.so``: the error paths (TensorRT is not installed here) and reading plugin ids."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import onnx_ir as ir
import pytest
from plugin_models import hswish_onnx

from graphfix.errors import GraphfixError, UsageError
from graphfix.plugins import stock_form
from graphfix.plugins.loader import declared_plugins, load_plugin, load_plugins
from graphfix.plugins.scaffold import write_plugin_scaffold

NO_TENSORRT = importlib.util.find_spec("tensorrt") is None


def test_missing_file_and_unknown_suffix(tmp_path: Path):
    with pytest.raises(UsageError, match="no such file"):
        load_plugins([tmp_path / "nope.so"])
    other = tmp_path / "plugin.txt"
    other.write_text("x")
    with pytest.raises(UsageError, match=r"expected a Python plugin \(\.py\) or a plugin library"):
        load_plugin(other)


@pytest.mark.skipif(not NO_TENSORRT, reason="tensorrt is installed here")
def test_python_plugin_without_tensorrt_says_so(tmp_path: Path):
    model = ir.serde.deserialize_model(hswish_onnx())
    stock_form(model)
    path = tmp_path / "hswish_plugin.py"
    write_plugin_scaffold(model, "HSwish", path)
    with pytest.raises(GraphfixError, match=r"hswish_plugin.py: a Python TensorRT plugin needs the tensorrt "
                                            r"package \(TensorRT 10.6 or later\), which is not installed here"):
        load_plugins([path])


def test_a_file_that_is_not_a_library_is_refused_with_the_loader_error(tmp_path: Path):
    fake = tmp_path / "libhswish.so"
    fake.write_text("not an ELF file")
    with pytest.raises(GraphfixError, match=r"libhswish.so: cannot load the plugin library: .*(invalid ELF|file too "
                                            r"short|ELF header)"):
        load_plugin(fake)


def test_plugin_ids_are_read_without_importing(tmp_path: Path):
    model = ir.serde.deserialize_model(hswish_onnx())
    stock_form(model)
    path = tmp_path / "hswish_plugin.py"
    write_plugin_scaffold(model, "HSwish", path)
    assert declared_plugins(path) == ["graphfix::HSwish"]  # through the PLUGIN_ID constant
    literal = tmp_path / "literal.py"
    literal.write_text('import tensorrt.plugin as trtp\n\n@trtp.register("my::Crop")\ndef crop(x: trtp.TensorDesc)'
                       ' -> trtp.TensorDesc:\n    return x.like()\n')
    assert declared_plugins(literal) == ["my::Crop"]
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    with pytest.raises(UsageError, match=r"broken.py: not valid Python \(line 1"):
        declared_plugins(broken)


def test_a_python_plugin_is_imported_when_tensorrt_is_there(tmp_path: Path):
    pytest.importorskip("tensorrt", reason="importing a Python TensorRT plugin needs tensorrt 10.6+")
    model = ir.serde.deserialize_model(hswish_onnx())
    stock_form(model)
    path = tmp_path / "hswish_plugin.py"
    write_plugin_scaffold(model, "HSwish", path)
    [loaded] = load_plugins([path])
    import tensorrt as trt

    assert loaded.kind == "python" and loaded.plugin_ids == ("graphfix::HSwish",)
    assert trt.get_plugin_registry().get_creator("HSwish", "1", "graphfix") is not None
