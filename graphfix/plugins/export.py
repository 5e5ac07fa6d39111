"""Exporting custom ops from PyTorch straight into the stock TensorRT plugin form, with either exporter.

The stock form (``graphfix.plugins.stock``) is what TensorRT's own ONNX parser maps to a plugin: op type =
plugin name, a custom domain, ``plugin_version`` and ``plugin_namespace`` attributes, the plugin's
configuration as further attributes, every tensor (weights too) an input::

    trt.plugins::HSwish(input1, bias, info='{"alpha": 3.5}', plugin_version="1", plugin_namespace="")

Legacy (TorchScript) exporter, the seed's ``autograd.Function``: call ``symbolic`` from its ``symbolic``::

    @staticmethod
    def symbolic(g, input, bias):
        return graphfix.plugins.export.symbolic(g, "HSwish", input, bias, info=json.dumps({...}))

Both exporters, a ``torch.library`` custom op: describe it once with ``CustomOpExport`` and

- legacy: ``with legacy_symbolics([spec]): torch.onnx.export(..., dynamo=False)`` registers a
  symbolic for the op for the duration of the export (``torch.onnx.register_custom_op_symbolic``);
- dynamo: ``torch.onnx.export(..., dynamo=True, custom_translation_table=translation_table([spec]))``.

How the dynamo side writes a custom-domain node with string attributes (onnxscript 0.7, torch 2.13):
``onnxscript.values.Opset("trt.plugins", 1).HSwish`` raises AttributeError, since attribute access looks
the op up in ONNX's schema registry; and a bare ``onnxscript.values.Op(opset, "HSwish")`` fails inside the
exporter with "OpSchema not found", since torch's tracer (``_building.OpRecorder.eval``) needs a schema
to tell inputs from attributes. So ``onnxscript_op`` builds an ``onnx.defs.OpSchema`` for the node
(inputs, outputs, and one attribute per configuration value, typed from the Python value) without
registering it anywhere, and wraps it in ``onnxscript.values.Op``; the translation function calls it
with the tensors and the attribute values as keywords. The exporter drops keyword arguments the schema
does not declare, so every attribute must be in the schema. The translation function's own signature
(``__signature__`` plus ``__annotations__``) tells the exporter which FX arguments are tensors and which
are attributes (``torch/onnx/_internal/exporter/_schemas.py: op_signature_from_function``).
torch 2.8+ also offers ``torch.onnx.ops.symbolic("domain::Op", inputs, attrs, dtype=, shape=)`` inside
``forward``, for code that can change the model itself.

The batch stays dynamic: the node's output shape comes from the op's fake (meta) implementation
(dynamo) or stays symbolic (legacy), and ``graphfix.export`` declares the batch axes as usual.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphfix.plugins.stock import DEFAULT_NAMESPACE, DEFAULT_VERSION, STOCK_DOMAIN

# Every tensor type a custom op input may have (the schema must allow what the model feeds it).
_TENSOR_TYPES = [f"tensor({t})" for t in ("float", "float16", "double", "bfloat16", "int8", "int16", "int32",
                                          "int64", "uint8", "uint16", "uint32", "uint64", "bool")]


def stock_attributes(attributes: Mapping[str, Any], *, namespace: str = DEFAULT_NAMESPACE,
                     version: str = DEFAULT_VERSION) -> dict[str, Any]:
    """The node's attributes in the stock form: the configuration plus ``plugin_version`` and
    ``plugin_namespace`` (kept when the configuration already sets them)."""
    merged = dict(attributes)
    merged.setdefault("plugin_version", version)
    merged.setdefault("plugin_namespace", namespace)
    return merged


def _suffix(name: str, value: Any) -> str:
    """TorchScript's ``g.op`` keyword for an attribute: ``name_s``, ``name_i``, ``name_f`` or ``name_t``."""
    if isinstance(value, str) or (isinstance(value, (list, tuple)) and value and isinstance(value[0], str)):
        return f"{name}_s"
    if isinstance(value, (bool, int, np.integer)) or (
            isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, np.integer)) for v in value)):
        return f"{name}_i"
    if isinstance(value, (float, np.floating)) or isinstance(value, (list, tuple)):
        return f"{name}_f"
    return f"{name}_t"  # a tensor


def _legacy_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        import torch

        return torch.from_numpy(value)
    return value


def symbolic(g: Any, op_type: str, *inputs: Any, domain: str = STOCK_DOMAIN, namespace: str = DEFAULT_NAMESPACE,
             version: str = DEFAULT_VERSION, outputs: int = 1, **attributes: Any) -> Any:
    """Write ``domain::op_type(*inputs, **attributes, plugin_version=, plugin_namespace=)`` from a legacy
    exporter ``symbolic`` (``g`` is its graph context). Attribute types follow the Python values: str,
    int, float, lists of them, numpy arrays (TENSOR). Returns the output value(s), as ``g.op`` does."""
    kwargs = {_suffix(name, value): _legacy_value(value)
              for name, value in stock_attributes(attributes, namespace=namespace, version=version).items()}
    return g.op(f"{domain}::{op_type}", *inputs, outputs=outputs, **kwargs)


@dataclass(frozen=True)
class CustomOpExport:
    """How a ``torch.library`` custom op is written to ONNX by both exporters.

    ``torch_op``: the op (what ``torch.library.custom_op`` returns, ``torch.ops.ns.name`` or its
    ``.default``). ``op_type``/``domain``: the node written (the TensorRT plugin name, default domain
    ``trt.plugins``). ``attributes``: constant attributes on every node (e.g. ``info=json.dumps(...)``).
    ``attributes_from_args``: positions of the op's non-tensor arguments and the attribute each becomes
    (``{2: "scale"}``). ``stock``: add ``plugin_version``/``plugin_namespace`` (the stock TensorRT form).
    """

    torch_op: Any
    op_type: str
    domain: str = STOCK_DOMAIN
    attributes: Mapping[str, Any] = field(default_factory=dict)
    attributes_from_args: Mapping[int, str] = field(default_factory=dict)
    num_outputs: int = 1
    stock: bool = True
    namespace: str = DEFAULT_NAMESPACE
    version: str = DEFAULT_VERSION

    def node_attributes(self, from_args: Mapping[str, Any] | None = None) -> dict[str, Any]:
        attributes = {**self.attributes, **(from_args or {})}
        if self.stock:
            attributes = stock_attributes(attributes, namespace=self.namespace, version=self.version)
        return attributes

    @property
    def overload(self) -> Any:
        """The ``OpOverload`` the dynamo exporter's translation table is keyed by."""
        import torch

        op = getattr(self.torch_op, "_opoverload", self.torch_op)  # torch.library.custom_op's CustomOpDef
        if isinstance(op, torch._ops.OpOverloadPacket):
            op = op.default
        return op

    @property
    def qualified_name(self) -> str:
        """``namespace::name`` of the torch op, as ``register_custom_op_symbolic`` wants it."""
        return str(self.overload.name()).split(".")[0]

    def arguments(self) -> list[str]:
        """Names of the torch op's arguments, in order."""
        return [argument.name for argument in self.overload._schema.arguments]


@contextlib.contextmanager
def legacy_symbolics(specs: Sequence[CustomOpExport], opset: int = 9) -> Iterator[None]:
    """Register a symbolic per op for the legacy exporter for the duration of the block. A symbolic
    registered at ``opset`` serves every export at that opset or a later one (the default, 9, covers
    every opset the legacy exporter writes; checked at 11, 17 and 20)."""
    import torch

    registered = []
    try:
        for spec in specs:
            torch.onnx.register_custom_op_symbolic(spec.qualified_name, _legacy_symbolic(spec), opset)
            registered.append(spec.qualified_name)
        yield
    finally:
        for name in registered:
            torch.onnx.unregister_custom_op_symbolic(name, opset)


def _legacy_symbolic(spec: CustomOpExport) -> Callable[..., Any]:
    def emit(g: Any, *args: Any) -> Any:
        tensors = [arg for index, arg in enumerate(args) if index not in spec.attributes_from_args]
        from_args = {name: _constant(args[index]) for index, name in spec.attributes_from_args.items()
                     if index < len(args)}
        attributes = spec.node_attributes(from_args)
        kwargs = {_suffix(name, value): _legacy_value(value) for name, value in attributes.items()}
        return g.op(f"{spec.domain}::{spec.op_type}", *tensors, outputs=spec.num_outputs, **kwargs)

    return emit


def _constant(value: Any) -> Any:
    """A TorchScript constant argument as a Python value."""
    node = value.node() if hasattr(value, "node") else None
    if node is None or node.kind() not in ("onnx::Constant", "prim::Constant"):
        if isinstance(value, (int, float, str, bool, list, tuple)):
            return value
        raise ValueError(f"attribute argument {value} is not a constant; it must be a Python value")
    if node.kind() == "prim::Constant" and node.hasAttribute("value"):
        kind = node.kindOf("value")
        return getattr(node, kind)("value")
    tensor = node.t("value")
    array = tensor.numpy()
    return array.item() if array.ndim == 0 else array.tolist()


def onnxscript_op(domain: str, op_type: str, num_inputs: int, num_outputs: int,
                  attributes: Mapping[str, Any]) -> Any:
    """An onnxscript ``Op`` writing ``domain::op_type`` with these inputs and attribute names (typed
    from the values), usable in a dynamo custom translation function (see the module docstring)."""
    import onnx.defs
    from onnxscript import values

    kinds = {str: onnx.defs.OpSchema.AttrType.STRING, int: onnx.defs.OpSchema.AttrType.INT,
             bool: onnx.defs.OpSchema.AttrType.INT, float: onnx.defs.OpSchema.AttrType.FLOAT}

    def attr_type(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return onnx.defs.OpSchema.AttrType.TENSOR
        if isinstance(value, (list, tuple)):
            if value and all(isinstance(v, str) for v in value):
                return onnx.defs.OpSchema.AttrType.STRINGS
            if all(isinstance(v, (int, bool, np.integer)) for v in value):
                return onnx.defs.OpSchema.AttrType.INTS
            return onnx.defs.OpSchema.AttrType.FLOATS
        for kind, attr in kinds.items():
            if isinstance(value, kind):
                return attr
        if isinstance(value, np.integer):
            return onnx.defs.OpSchema.AttrType.INT
        return onnx.defs.OpSchema.AttrType.FLOAT

    schema = onnx.defs.OpSchema(
        op_type, domain, 1,
        inputs=[onnx.defs.OpSchema.FormalParameter(f"input{i}", f"T{i}") for i in range(num_inputs)],
        outputs=[onnx.defs.OpSchema.FormalParameter(f"output{i}", f"O{i}") for i in range(num_outputs)],
        type_constraints=[(f"T{i}", _TENSOR_TYPES, "") for i in range(num_inputs)]
        + [(f"O{i}", _TENSOR_TYPES, "") for i in range(num_outputs)],
        attributes=[onnx.defs.OpSchema.Attribute(name, attr_type(value), "")
                    for name, value in attributes.items()],
    )
    return values.Op(values.Opset(domain, 1), op_type, schema)


def _annotation(value: Any) -> Any:
    if isinstance(value, bool):
        return bool
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind
    if isinstance(value, (list, tuple)):
        return Sequence[str] if value and isinstance(value[0], str) else (
            Sequence[int] if all(isinstance(v, int) for v in value) else Sequence[float])
    return float


def translation_function(spec: CustomOpExport,
                         example_attributes: Mapping[str, Any] | None = None) -> Callable[..., Any]:
    """The dynamo translation of one op: tensors in, the stock-form node out (see ``CustomOpExport``)."""
    arguments = spec.arguments()
    attr_names = {index: name for index, name in spec.attributes_from_args.items()}
    # Attribute types for the schema: from the op's declared argument types.
    schema_args = spec.overload._schema.arguments
    typed: dict[str, Any] = {}
    for index, name in attr_names.items():
        kind = str(schema_args[index].type)
        typed[name] = {"int": 0, "float": 0.0, "str": "", "bool": False, "List[int]": [0], "int[]": [0],
                       "float[]": [0.0], "List[float]": [0.0]}.get(kind, 0.0)
    typed.update(example_attributes or {})
    constant = spec.node_attributes({})
    op = onnxscript_op(spec.domain, spec.op_type, len(arguments) - len(attr_names), spec.num_outputs,
                       {**constant, **typed})

    def translate(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        values = [bound.arguments[name] for name in arguments if name in bound.arguments]
        tensors = [v for index, v in enumerate(values) if index not in attr_names]
        from_args = {attr_names[index]: v for index, v in enumerate(values) if index in attr_names}
        return op(*tensors, **spec.node_attributes(from_args))

    parameters = []
    annotations: dict[str, Any] = {}
    for index, name in enumerate(arguments):
        parameters.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD))
        if index in attr_names:
            annotations[name] = _annotation(typed[attr_names[index]])
    signature = inspect.Signature(parameters)
    translate.__signature__ = signature  # type: ignore[attr-defined]
    translate.__annotations__ = annotations
    translate.__name__ = f"{spec.op_type}_translation"
    return translate


def translation_table(specs: Sequence[CustomOpExport]) -> dict[Any, Callable[..., Any]]:
    """``custom_translation_table`` for ``torch.onnx.export(..., dynamo=True)``."""
    return {spec.overload: translation_function(spec) for spec in specs}
