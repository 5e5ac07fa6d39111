"""Reference implementations of custom operators, so graphfix can run and verify models that use them.

A reference is a plain Python function: it takes the node's inputs as numpy arrays, in order (an omitted
optional input is ``None``), and its attributes as keyword arguments, and returns the output array or a
tuple of them, one per node output::

    import numpy as np

    def HSwish(x, bias, info):                 # info: the node's string attribute, e.g. '{"alpha": 3.5}'
        return x * np.clip(x + 3, 0, 6) / 6

    graphfix.plugins.register_op("HSwish", HSwish)

Attribute values arrive as Python values: INT ``int``, FLOAT ``float``, STRING ``str``, INTS/FLOATS/STRINGS
lists, TENSOR a numpy array. A function that does not take ``**kwargs`` receives only the attributes its
signature names, so ``def HSwish(x, bias)`` ignores ``info``.

Which node a reference serves:

- a tensorRT_Pro-style ``Plugin`` node (``Plugin(name="HSwish", info=...)``, any domain) is looked up by
  its ``name`` attribute, and registrations of that name in any domain match it: the ``Plugin`` op's own
  domain says nothing about the plugin;
- any other custom node by its op type, in its domain or registered without a domain (``domain=None``,
  the default, matches every domain).

The attributes that only address a plugin are not passed to the reference: ``name`` of a ``Plugin``
node, and ``plugin_version``/``plugin_namespace``/``aot`` of the stock TensorRT form. So one reference
serves the seed's ``Plugin(name="HSwish", info=...)`` and its rewrite ``trt.plugins::HSwish(info=...)``.

Output shapes come from what the reference returns on the analysis probes
(``graphfix.plugins.infer_shapes``) unless a shape function is registered: ``shape_fn(*input_shapes,
**attributes)`` returns one shape (a tuple of ints) or a list of them, one per output.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import inspect
import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
from onnx import numpy_helper

from graphfix.errors import GraphfixError, UsageError

# The op type of tensorRT_Pro's plugin node and the attribute that names the plugin.
PLUGIN_OP = "Plugin"
PLUGIN_NAME_ATTRIBUTE = "name"
# Attributes of the stock TensorRT form that address a plugin rather than configure it (onnx-tensorrt's
# FallbackPluginImporter reads plugin_version/plugin_namespace; ``aot`` picks a Python plugin's AOT
# implementation; tensorrt_plugin_shape_input_indices marks shape inputs of a V3 plugin).
ADDRESSING_ATTRIBUTES = frozenset({"plugin_version", "plugin_namespace", "aot",
                                   "tensorrt_plugin_shape_input_indices"})

Reference = Callable[..., Any]
ShapeFunction = Callable[..., Any]


@dataclass(frozen=True)
class NodeView:
    """What a reference needs to know about a node, from either onnx-ir or a protobuf NodeProto.

    ``attributes`` hold Python values (see the module docstring); ``op`` is the name a reference is
    looked up by: a ``Plugin`` node's ``name`` attribute, otherwise the op type.
    """

    op_type: str
    domain: str
    name: str
    attributes: Mapping[str, Any]
    num_outputs: int
    # Names of the node's outputs ("" for an omitted optional output).
    output_names: tuple[str, ...] = ()

    @property
    def plugin_name(self) -> str | None:
        """The ``name`` of a tensorRT_Pro-style ``Plugin`` node (None for any other node)."""
        if self.op_type != PLUGIN_OP:
            return None
        value = self.attributes.get(PLUGIN_NAME_ATTRIBUTE)
        return value if isinstance(value, str) and value else None

    @property
    def op(self) -> str:
        return self.plugin_name or self.op_type

    @property
    def label(self) -> str:
        return self.name or f"{self.op_type}({self.output_names[0] if self.output_names else '?'})"

    def reference_attributes(self) -> dict[str, Any]:
        """The attributes a reference receives: everything but what only addresses the plugin."""
        dropped = ADDRESSING_ATTRIBUTES | ({PLUGIN_NAME_ATTRIBUTE} if self.plugin_name else set())
        return {key: value for key, value in self.attributes.items() if key not in dropped}

    @classmethod
    def of(cls, node: ir.Node | onnx.NodeProto | NodeView) -> NodeView:
        if isinstance(node, NodeView):
            return node
        if isinstance(node, onnx.NodeProto):
            return cls(node.op_type, node.domain, node.name,
                       {a.name: _proto_attribute(a) for a in node.attribute}, len(node.output),
                       tuple(node.output))
        return cls(node.op_type, node.domain, node.name or "",
                   {name: _ir_attribute(attr) for name, attr in node.attributes.items()}, len(node.outputs),
                   tuple(o.name or "" for o in node.outputs))


def _ir_attribute(attr: ir.Attr) -> Any:
    if attr.is_ref():
        return None  # a reference to a function attribute: only meaningful inside a function body
    kind = attr.type
    value = attr.value
    if kind == ir.AttributeType.TENSOR:
        return np.asarray(value.numpy())
    if kind == ir.AttributeType.TENSORS:
        return [np.asarray(t.numpy()) for t in value]
    if kind in (ir.AttributeType.INTS, ir.AttributeType.FLOATS, ir.AttributeType.STRINGS):
        return list(value)
    if kind == ir.AttributeType.INT:
        return int(value)
    if kind == ir.AttributeType.FLOAT:
        return float(value)
    return value


def _proto_attribute(attr: onnx.AttributeProto) -> Any:
    value = onnx.helper.get_attribute_value(attr)
    if attr.type == onnx.AttributeProto.STRING:
        return value.decode("utf-8", errors="replace")
    if attr.type == onnx.AttributeProto.STRINGS:
        return [v.decode("utf-8", errors="replace") for v in value]
    if attr.type == onnx.AttributeProto.TENSOR:
        return numpy_helper.to_array(value)
    if attr.type == onnx.AttributeProto.TENSORS:
        return [numpy_helper.to_array(v) for v in value]
    if attr.type in (onnx.AttributeProto.INTS, onnx.AttributeProto.FLOATS):
        return list(value)
    return value


@dataclass(frozen=True)
class CustomOp:
    """One registered reference: the op it serves, the function and where it came from."""

    op_type: str
    fn: Reference
    domain: str | None = None  # None: every domain
    shape_fn: ShapeFunction | None = None
    source: str = ""  # "file.py" or the function's module, for messages and the plugin scaffold

    @property
    def label(self) -> str:
        return f"{self.domain}::{self.op_type}" if self.domain else self.op_type


class ReferenceError(GraphfixError):
    """A reference implementation failed or returned something that does not fit the node."""


@dataclass
class Registry:
    """Reference implementations by (domain, op). ``graphfix.plugins.default_registry`` is the one
    ``register_op`` fills; pass your own to keep registrations apart."""

    ops: dict[tuple[str | None, str], CustomOp] = field(default_factory=dict)
    # Modules loaded from --custom-ops files, kept alive for their functions' globals.
    modules: list[Any] = field(default_factory=list)

    def register(self, op_type: str, fn: Reference, *, domain: str | None = None,
                 shape_fn: ShapeFunction | None = None, source: str = "") -> CustomOp:
        """Register ``fn`` as the reference of ``op_type`` (in ``domain``, or every domain when None).

        Raises ``UsageError`` when ``fn`` or ``shape_fn`` is not callable or ``op_type`` is empty.
        A second registration of the same (domain, op) replaces the first.
        """
        if not op_type or not isinstance(op_type, str):
            raise UsageError(f"register_op: op_type must be a non-empty string, not {op_type!r}")
        if not callable(fn):
            raise UsageError(f"register_op({op_type!r}): the reference must be callable, "
                             f"not {type(fn).__name__}")
        if shape_fn is not None and not callable(shape_fn):
            raise UsageError(f"register_op({op_type!r}): shape_fn must be callable")
        domain = _normal_domain(domain) if domain is not None else None
        op = CustomOp(op_type, fn, domain, shape_fn, source or getattr(fn, "__module__", "") or "")
        self.ops[(domain, op_type)] = op
        return op

    def lookup(self, node: ir.Node | onnx.NodeProto | NodeView) -> CustomOp | None:
        """The reference serving ``node``, or None (see the module docstring for the matching rule)."""
        view = NodeView.of(node)
        domain = _normal_domain(view.domain)
        found = self.ops.get((domain, view.op)) or self.ops.get((None, view.op))
        if found is None and view.plugin_name:
            found = next((op for (_, name), op in self.ops.items() if name == view.plugin_name), None)
        return found

    def __contains__(self, node: object) -> bool:
        return self.lookup(node) is not None  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.ops)

    def run(self, node: ir.Node | onnx.NodeProto | NodeView,
            inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        """Run the reference of ``node`` on ``inputs``; one numpy array per node output.

        Raises ``ReferenceError`` naming the node when there is no reference, when it raises, or when
        it returns the wrong number of outputs or something that is not an array.
        """
        view = NodeView.of(node)
        op = self.lookup(view)
        if op is None:
            raise ReferenceError(f"no reference implementation for {view.op} (node {view.label!r})")
        kwargs = _accepted(op.fn, view.reference_attributes())
        try:
            result = op.fn(*inputs, **kwargs)
        except Exception as error:
            where = op.source or op.fn.__qualname__
            raise ReferenceError(f"the reference of {view.op} ({where}) failed on node {view.label!r}: "
                                 f"{type(error).__name__}: {_first_line(error)}") from error
        return _outputs(result, view, op)

    def shapes(self, node: ir.Node | onnx.NodeProto | NodeView,
               input_shapes: Sequence[tuple[int, ...] | None]) -> list[tuple[int, ...]] | None:
        """Output shapes from the registered shape function, or None when there is none."""
        view = NodeView.of(node)
        op = self.lookup(view)
        if op is None or op.shape_fn is None:
            return None
        kwargs = _accepted(op.shape_fn, view.reference_attributes())
        try:
            result = op.shape_fn(*input_shapes, **kwargs)
        except Exception as error:
            raise ReferenceError(f"the shape function of {view.op} failed on node {view.label!r}: "
                                 f"{type(error).__name__}: {_first_line(error)}") from error
        shapes = [result] if _is_shape(result) else list(result)
        if len(shapes) != view.num_outputs or not all(_is_shape(s) for s in shapes):
            raise ReferenceError(f"the shape function of {view.op} returned {result!r} for node "
                                 f"{view.label!r}, expected {view.num_outputs} shape(s) as tuples of ints")
        return [tuple(int(d) for d in s) for s in shapes]


def _is_shape(value: object) -> bool:
    return isinstance(value, (tuple, list)) and all(isinstance(d, (int, np.integer)) for d in value)


def _accepted(fn: Callable[..., Any], attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes ``fn`` can take: all of them with ``**kwargs``, else those it names."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: pass everything
        return dict(attributes)
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return dict(attributes)
    named = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {key: value for key, value in attributes.items() if key in named}


def _outputs(result: Any, view: NodeView, op: CustomOp) -> list[np.ndarray]:
    items = list(result) if isinstance(result, (tuple, list)) else [result]
    if len(items) != view.num_outputs:
        raise ReferenceError(f"the reference of {view.op} returned {len(items)} output(s) for node "
                             f"{view.label!r}, which has {view.num_outputs}")
    arrays = []
    for index, item in enumerate(items):
        if hasattr(item, "detach") and hasattr(item, "cpu"):  # a torch tensor
            item = item.detach().cpu().numpy()
        if not isinstance(item, (np.ndarray, np.generic, int, float, bool)):
            raise ReferenceError(f"the reference of {view.op} returned a {type(item).__name__} as output "
                                 f"{index} of node {view.label!r}; return numpy arrays")
        arrays.append(np.asarray(item))
    return arrays


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def _normal_domain(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


# -- the default registry and --custom-ops files ---------------------------------------------------

default_registry = Registry()

# The registry the pipeline runs custom ops through (analysis, verification, precision, compile, run):
# ``graphfix.fix(..., custom_ops=...)`` and the CLI's --custom-ops set it for the call with ``using``.
_active: contextvars.ContextVar[Registry | None] = contextvars.ContextVar("graphfix_custom_ops", default=None)


def active_registry() -> Registry:
    """The registry set by the innermost ``using`` (default: ``default_registry``)."""
    return _active.get() or default_registry


@contextlib.contextmanager
def using(registry: Registry | None) -> Iterator[Registry]:
    """Run the block with ``registry`` as the active one (None: keep the current one)."""
    chosen = registry if registry is not None else active_registry()
    token = _active.set(chosen)
    try:
        yield chosen
    finally:
        _active.reset(token)


def registry_from(custom_ops: Registry | Iterable[str | os.PathLike[str]] | None) -> Registry | None:
    """A registry from the library's ``custom_ops=`` (a Registry, or --custom-ops files), None for None.

    Files are loaded into a new registry that falls back on ``default_registry``'s registrations.
    """
    if custom_ops is None or isinstance(custom_ops, Registry):
        return custom_ops
    registry = Registry(dict(default_registry.ops))
    for path in custom_ops:
        load_custom_ops(path, None, registry)
    return registry


def register_op(op_type: str, fn: Reference, *, domain: str | None = None,
                shape_fn: ShapeFunction | None = None, registry: Registry | None = None) -> CustomOp:
    """Register ``fn`` as the reference implementation of ``op_type`` (``graphfix.register_op``).

    ``domain=None`` matches every domain; a tensorRT_Pro ``Plugin`` node is matched by its ``name``.
    ``shape_fn(*input_shapes, **attributes)`` gives output shapes without running ``fn``.
    """
    return (registry if registry is not None else default_registry).register(
        op_type, fn, domain=domain, shape_fn=shape_fn)


SHAPE_SUFFIX = "_shape"
_module_ids = itertools.count()


def load_custom_ops(path: str | os.PathLike[str], model_ops: Iterable[str] | None = None,
                    registry: Registry | None = None) -> list[str]:
    """Import ``--custom-ops FILE.py`` and register its functions; returns the op names registered.

    With ``model_ops`` (``custom_op_names(model)``), every top-level function defined in the file whose
    name is one of them is registered for it; without, every public top-level function is. A function
    named ``<Op>_shape`` is registered as ``<Op>``'s shape function. Functions the file imports from
    elsewhere are not registered. Raises ``UsageError`` for a missing file or one that is not ``.py``,
    and ``GraphfixError`` with the file's own error when importing it fails.
    """
    registry = registry if registry is not None else default_registry
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--custom-ops {file}: no such file")
    if file.suffix != ".py":
        raise UsageError(f"--custom-ops {file}: expected a Python file (.py) of reference functions")
    name = f"graphfix_custom_ops_{next(_module_ids)}_{file.stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise UsageError(f"--custom-ops {file}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(name, None)
        where = ""
        frames = [f for f in inspect.trace() if Path(f.filename) == file.resolve() or f.filename == str(file)]
        if frames:
            where = f" (line {frames[-1].lineno})"
        raise GraphfixError(f"--custom-ops {file}: importing it failed{where}: "
                            f"{type(error).__name__}: {_first_line(error)}") from error
    registry.modules.append(module)
    functions = {key: value for key, value in vars(module).items()
                 if inspect.isfunction(value) and value.__module__ == name and not key.startswith("_")}
    wanted = set(model_ops) if model_ops is not None else None
    registered = []
    for key, fn in functions.items():
        if key.endswith(SHAPE_SUFFIX) and key[: -len(SHAPE_SUFFIX)] in functions:
            continue
        if wanted is not None and key not in wanted:
            continue
        registry.register(key, fn, shape_fn=functions.get(key + SHAPE_SUFFIX), source=str(file))
        registered.append(key)
    return registered
