"""Models with custom operators: hand-built ONNX (no torch needed) and torch exports of both exporters.

- The seed's HSwish (``../shared/seed``, "实现一个自定义插件"): ``Plugin(input1, bias, name="HSwish",
  info='{"alpha": 3.5, "beta": 2.88}')`` with ``bias`` a (3,3,3,3) initializer of 3.15, then
  ``relu(input2 * hswish(input1))``; dynamic batch. ``hswish_onnx`` builds it by hand as the legacy
  exporter writes it (default domain, opset 11); ``export_hswish(path, exporter)`` exports the seed's code:
  legacy through the ``autograd.Function``'s ``symbolic``, dynamo through a ``torch.library.custom_op``
  and a custom translation table whose onnxscript op writes the same ``Plugin`` node.
- UpsampleAdd, a custom op of another shape rule: two inputs and an INT attribute ``scale`` that sets
  the output shape, ``UpsampleAdd(x, skip, scale=2, gain=0.5) = repeat(x, scale, H and W) * gain + skip``,
  [N, C, H, W] and [N, C, H*s, W*s] -> [N, C, H*s, W*s], in the custom domain ``custom``.
- ``attribute_zoo_onnx``: one custom node with an attribute of every type and two outputs.
- ``cnn_with_plugin``: a mid-size CNN (224x224 input, ~1.2 M parameters) with one HSwish ``Plugin``
  in the middle, for the ONNX Runtime mechanism measurements (``bench/custom_ops_bench.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnx.helper as oh
from onnx import TensorProto, numpy_helper

INFO = json.dumps({"alpha": 3.5, "beta": 2.88})
BIAS_VALUE = 3.15
SCALE = 2
GAIN = 0.5


# -- numpy references (what ref_ops.py registers; the tests compare torch against them) --------------

def hswish(x: np.ndarray) -> np.ndarray:
    return x * np.clip(x + 3, 0, 6) / 6


def hswish_model(input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    return np.maximum(input2 * hswish(input1), 0)


def upsample_add(x: np.ndarray, skip: np.ndarray, scale: int = SCALE, gain: float = GAIN) -> np.ndarray:
    return (np.repeat(np.repeat(x, scale, axis=2), scale, axis=3) * gain + skip).astype(x.dtype)


# -- hand-built ONNX ---------------------------------------------------------------------------------

def hswish_onnx(domain: str = "", opset: int = 11) -> onnx.ModelProto:
    """The seed's plugin model as the legacy exporter writes it (``Plugin`` in ``domain``)."""
    bias = numpy_helper.from_array(np.full((3, 3, 3, 3), BIAS_VALUE, np.float32), "hswish.bias")
    nodes = [
        _plugin_node(domain),
        oh.make_node("Mul", ["input2", "/hswish/Plugin_output_0"], ["/Mul_output_0"], name="/Mul"),
        oh.make_node("Relu", ["/Mul_output_0"], ["output"], name="/Relu"),
    ]
    graph = oh.make_graph(
        nodes, "main_graph",
        [oh.make_tensor_value_info("input1", TensorProto.FLOAT, ["batch", 3, 3, 3]),
         oh.make_tensor_value_info("input2", TensorProto.FLOAT, ["batch", 3, 3, 3])],
        [oh.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3, 3, 3])],
        [bias])
    imports = [oh.make_opsetid("", opset)] + ([oh.make_opsetid(domain, 1)] if domain else [])
    return oh.make_model(graph, opset_imports=imports, ir_version=7, producer_name="pytorch")


def _plugin_node(domain: str) -> onnx.NodeProto:
    node = oh.make_node("Plugin", ["input1", "hswish.bias"], ["/hswish/Plugin_output_0"], name="/hswish/Plugin",
                        domain=domain, info=INFO)
    node.attribute.append(oh.make_attribute("name", "HSwish"))  # `name` collides with make_node's own
    return node


def upsample_add_onnx(domain: str = "custom", opset: int = 17) -> onnx.ModelProto:
    """x [N,4,8,8], skip [N,4,16,16] -> Relu(UpsampleAdd(x, skip, scale=2, gain=0.5)) [N,4,16,16]."""
    nodes = [
        oh.make_node("UpsampleAdd", ["x", "skip"], ["up"], name="/up/UpsampleAdd", domain=domain,
                     scale=SCALE, gain=GAIN),
        oh.make_node("Relu", ["up"], ["y"], name="/Relu"),
    ]
    graph = oh.make_graph(
        nodes, "main_graph",
        [oh.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 8, 8]),
         oh.make_tensor_value_info("skip", TensorProto.FLOAT, ["batch", 4, 16, 16])],
        [oh.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 16, 16])])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset), oh.make_opsetid(domain, 1)],
                         ir_version=8)


ZOO_ATTRIBUTES = {
    "count": 3, "ratio": 0.123456789, "mode": "fancy", "axes": [1, 2], "weights": [0.25, -1.5],
    "tags": ["a", "bc"],
}
ZOO_TABLE = np.arange(4, dtype=np.float32) * 0.5


def attribute_zoo_onnx() -> onnx.ModelProto:
    """``zoo.Everything(x) -> (sum, scaled)`` with attributes of every plain type and a tensor."""
    node = oh.make_node("Everything", ["x"], ["sum", "scaled"], name="/Everything", domain="zoo",
                        table=numpy_helper.from_array(ZOO_TABLE, "table"), **ZOO_ATTRIBUTES)
    graph = oh.make_graph(
        [node, oh.make_node("Identity", ["scaled"], ["scaled_out"])], "zoo",
        [oh.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [oh.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch"]),
         oh.make_tensor_value_info("scaled_out", TensorProto.FLOAT, ["batch", 4])])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("zoo", 1)], ir_version=8)


def everything(x, *, count, ratio, mode, axes, weights, tags, table):
    """The reference of ``zoo.Everything``: checks every attribute arrives with its exact value and type."""
    assert isinstance(count, int) and count == 3
    assert isinstance(ratio, float) and ratio == np.float32(0.123456789)  # FLOAT attributes are float32
    assert mode == "fancy" and list(axes) == [1, 2] and tags == ["a", "bc"]
    assert np.allclose(weights, [0.25, -1.5]) and np.array_equal(table, ZOO_TABLE)
    return x.sum(axis=1) * count, (x * table * ratio).astype(x.dtype)


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


# -- torch exports -----------------------------------------------------------------------------------

def _torch_seed():  # noqa: ANN202 - built lazily: torch is optional
    """The seed's module, written as the tutorial writes it (autograd.Function with ``symbolic``)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class HSwishImplementation(torch.autograd.Function):
        @staticmethod
        def symbolic(g, input, bias):  # noqa: A002 - the seed's own names
            return g.op("Plugin", input, bias, name_s="HSwish", info_s=INFO)

        @staticmethod
        def forward(ctx, i, bias):  # noqa: ANN001
            ctx.save_for_backward(i)
            return i * F.relu6(i + 3) / 6

    class MemoryEfficientHSwish(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bias = nn.Parameter(torch.zeros((3, 3, 3, 3)))
            self.bias.data.fill_(BIAS_VALUE)

        def forward(self, x):  # noqa: ANN001
            return HSwishImplementation.apply(x, self.bias)

    class FooModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hswish = MemoryEfficientHSwish()

        def forward(self, input1, input2):  # noqa: ANN001
            return F.relu(input2 * self.hswish(input1))

    return FooModel().eval()


_OPS: dict[str, object] = {}


def torch_ops():  # noqa: ANN201
    """``torch.library`` custom ops for the dynamo exporter (defined once per process)."""
    if _OPS:
        return _OPS
    import torch
    import torch.nn.functional as F

    # Explicit schemas: this module's annotations are strings (``from __future__ import annotations``).
    @torch.library.custom_op("graphfix_test::hswish", mutates_args=(), schema="(Tensor x, Tensor bias) -> Tensor")
    def hswish_op(x, bias):  # noqa: ANN001, ANN202
        return x * F.relu6(x + 3) / 6

    @hswish_op.register_fake
    def _(x, bias):  # noqa: ANN001, ANN202
        return torch.empty_like(x)

    @torch.library.custom_op("graphfix_test::upsample_add", mutates_args=(),
                             schema="(Tensor x, Tensor skip, int scale, float gain) -> Tensor")
    def upsample_add_op(x, skip, scale, gain):  # noqa: ANN001, ANN202
        return x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3) * gain + skip

    @upsample_add_op.register_fake
    def _(x, skip, scale, gain):  # noqa: ANN001, ANN202
        return torch.empty_like(skip)

    _OPS.update(hswish=hswish_op, upsample_add=upsample_add_op)
    return _OPS


def _torch_seed_dynamo():  # noqa: ANN202
    """The same model with the HSwish as a ``torch.library`` custom op (what torch.export can trace)."""
    import torch.nn.functional as F
    from torch import nn

    import torch

    op = torch_ops()["hswish"]

    class FooModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bias = nn.Parameter(torch.full((3, 3, 3, 3), BIAS_VALUE))

        def forward(self, input1, input2):  # noqa: ANN001
            return F.relu(input2 * op(input1, self.bias))

    return FooModel().eval()


def _torch_upsample():  # noqa: ANN202
    import torch
    from torch import nn

    op = torch_ops()["upsample_add"]

    class UpsampleModel(nn.Module):
        def forward(self, x, skip):  # noqa: ANN001
            return torch.relu(op(x, skip, SCALE, GAIN))

    return UpsampleModel().eval()


def hswish_example_inputs(batch: int = 2, seed: int = 0):  # noqa: ANN201
    import torch

    rng = np.random.default_rng(seed)
    return (torch.from_numpy(rng.standard_normal((batch, 3, 3, 3)).astype(np.float32) * 3),
            torch.from_numpy(rng.standard_normal((batch, 3, 3, 3)).astype(np.float32)))


def upsample_example_inputs(batch: int = 2, seed: int = 0):  # noqa: ANN201
    import torch

    rng = np.random.default_rng(seed)
    return (torch.from_numpy(rng.standard_normal((batch, 4, 8, 8)).astype(np.float32)),
            torch.from_numpy(rng.standard_normal((batch, 4, 16, 16)).astype(np.float32)))


def export_hswish(path: Path, exporter: str) -> Path:
    """The seed's model exported as the seed does it (legacy: ``symbolic``) or with dynamo (custom op +
    custom translation table writing the same ``Plugin`` node, default domain). Batch dynamic."""
    import torch

    names = ["input1", "input2"]
    if exporter == "legacy":
        _quiet_export(_torch_seed(), hswish_example_inputs(), path, dynamo=False, input_names=names,
                      output_names=["output"], opset_version=11,
                      dynamic_axes={"input1": {0: "batch"}, "input2": {0: "batch"}, "output": {0: "batch"}})
        return path
    batch = torch.export.Dim("batch")
    table = {torch_ops()["hswish"]._opoverload: _seed_plugin_translation()}
    _quiet_export(_torch_seed_dynamo(), hswish_example_inputs(), path, dynamo=True, input_names=names,
                  output_names=["output"], dynamic_shapes=({0: batch}, {0: batch}),
                  custom_translation_table=table)
    return path


def _seed_plugin_translation():  # noqa: ANN202
    """A dynamo translation writing the seed's own form, ``Plugin(x, bias, name="HSwish", info=...)`` in
    the default domain, exactly as the legacy exporter writes it from the seed's ``symbolic``."""
    from graphfix.plugins.export import onnxscript_op

    plugin = onnxscript_op("", "Plugin", 2, 1, {"name": "HSwish", "info": INFO})

    def hswish_translation(x, bias):  # noqa: ANN001, ANN202
        return plugin(x, bias, name="HSwish", info=INFO)

    return hswish_translation


def export_upsample(path: Path, exporter: str) -> Path:
    """UpsampleAdd exported as ``custom::UpsampleAdd(x, skip, scale=2, gain=0.5)``. Legacy: a symbolic
    registered for the torch.library op; dynamo: a custom translation table entry. Batch dynamic."""
    import torch

    from graphfix.plugins.export import CustomOpExport, legacy_symbolics, translation_table

    spec = CustomOpExport(torch_ops()["upsample_add"], "UpsampleAdd", domain="custom", stock=False,
                          attributes_from_args={2: "scale", 3: "gain"})
    names = ["x", "skip"]
    if exporter == "legacy":
        with legacy_symbolics([spec], opset=17):
            _quiet_export(_torch_upsample(), upsample_example_inputs(), path, dynamo=False, input_names=names,
                          output_names=["y"], opset_version=17,
                          dynamic_axes={"x": {0: "batch"}, "skip": {0: "batch"}, "y": {0: "batch"}})
        return path
    batch = torch.export.Dim("batch")
    _quiet_export(_torch_upsample(), upsample_example_inputs(), path, dynamo=True, input_names=names,
                  output_names=["y"], dynamic_shapes=({0: batch}, {0: batch}),
                  custom_translation_table=translation_table([spec]))
    return path


def _quiet_export(model, args, path: Path, **kwargs) -> None:  # noqa: ANN001
    import contextlib
    import io
    import warnings

    import torch

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), **kwargs)


def cnn_with_plugin(path: Path, exporter: str = "legacy") -> Path:
    """A mid-size CNN (3x224x224 in, ~1.2 M parameters, 13 convolutions) with one seed-style HSwish
    ``Plugin`` after the second stage ([N, 64, 56, 56]); dynamic batch. Returns the path."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class HSwishImplementation(torch.autograd.Function):
        @staticmethod
        def symbolic(g, input, bias):  # noqa: A002
            return g.op("Plugin", input, bias, name_s="HSwish", info_s=INFO)

        @staticmethod
        def forward(ctx, i, bias):  # noqa: ANN001
            return i * F.relu6(i + 3) / 6

    def block(cin: int, cout: int, stride: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU())
            self.stage1 = block(32, 48, 2)
            self.stage2 = block(48, 64, 1)
            self.bias = nn.Parameter(torch.full((3, 3, 3, 3), BIAS_VALUE))
            self.stage3 = block(64, 128, 2)
            self.stage4 = block(128, 160, 2)
            self.stage5 = block(160, 192, 2)
            self.head = nn.Linear(192, 100)

        def forward(self, x):  # noqa: ANN001
            x = self.stage2(self.stage1(self.stem(x)))
            x = HSwishImplementation.apply(x, self.bias)
            x = self.stage5(self.stage4(self.stage3(x)))
            return self.head(x.mean(dim=(2, 3)))

    torch.manual_seed(0)
    net = Net().eval()
    example = torch.randn(2, 3, 224, 224)
    _quiet_export(net, (example,), path, dynamo=False, input_names=["x"], output_names=["logits"],
                  opset_version=17, dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    cnn_with_plugin.module = net  # type: ignore[attr-defined] - the bench compares against it
    return path
