"""``graphfix plugin MODEL --op HSwish -o hswish_plugin.py``: a TensorRT Python plugin for a custom op.

The file uses ``tensorrt.plugin`` ("quickly deployable plugins", TensorRT 10.6 and later), a pure-Python
module of the tensorrt wheel. Every name it uses exists in NVIDIA/TensorRT
``python/packaging/bindings_wheel/tensorrt/plugin/``: ``register``, ``impl``, ``autotune`` (``_lib.py``),
``TensorDesc``, ``Tensor`` (``_tensor.py``), ``from_shape_expr`` (``_top_level.py``),
``AutoTuneCombination`` (``_autotune.py``); see ``QDP_NAMES``. The rules the module enforces and the file
follows (``_validate.py``): tensor arguments annotated ``TensorDesc`` come first, then attributes annotated
``int``/``float``/``str``/``bool``/``bytes`` or ``numpy.typing.NDArray[dtype]``; no defaults; attribute
names ``outputs``, ``stream`` and ``tactic`` are reserved; the namespace may not be empty, ``trt``,
``tensorrt`` or ``std`` and may not contain a dot; ``impl`` takes the inputs, the attributes it needs (those
are serialized into the engine), ``outputs`` and ``stream``; annotations must be real types, so the file
does not use ``from __future__ import annotations``.

What the file holds for the op:

- ``@trtp.register("<namespace>::<Op>")``: one ``TensorDesc`` per node input (initializers too: TensorRT's
  parser passes them as constant inputs), the node's attributes with the types TensorRT's parser gives
  them (INT -> int, FLOAT -> float, STRING -> str, INTS -> NDArray[int32], FLOATS -> NDArray[float32],
  TENSOR -> NDArray of its dtype), and the output descriptor: shape expressions derived from running the
  registered reference at three probe shapes (``graphfix.plugins.shapes.symbolic_output_shapes``), else
  from the model's declared output shapes, else a marked TODO;
- ``@trtp.autotune``: FP32 and FP16 for every float input and output (dependent: all FP32 or all FP16);
- ``@trtp.impl``: wraps TensorRT's buffers as torch CUDA tensors on TensorRT's stream, runs the registered
  reference (numpy, on host copies, in float32) and copies the results into the outputs. It is correct and
  slow: replace its body with torch ops or a Triton kernel for speed;
- a top-level guard: without ``tensorrt`` (or with a TensorRT older than 10.6) importing the file raises
  an ImportError that says so, and nothing else.

For a TensorRT older than 10.6 (``trt_version``), the report and the file's docstring list what a C++
plugin must declare instead: the creator's name, version and namespace, its inputs, and the
PluginFields the ONNX parser builds from the node's attributes (onnx-tensorrt ``loadFields``, used by
``FallbackPluginImporter``, the same in 8.6 GA and 10.1 GA): see ``FIELD_TYPES``.
"""

from __future__ import annotations

import inspect
import keyword
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir

from graphfix.errors import UsageError
from graphfix.plugins.nodes import ModelLike, as_ir, custom_nodes
from graphfix.plugins.registry import NodeView, Registry, _accepted, active_registry, default_registry
from graphfix.plugins.shapes import OutputShape, numpy_dtype, symbolic_output_shapes

MIN_PYTHON_PLUGIN_VERSION = (10, 6)
DEFAULT_PLUGIN_NAMESPACE = "graphfix"
# tensorrt.plugin refuses these namespaces (_validate.py RESERVED_NAMESPACES) and attribute names
# (DISALLOWED_ATTR_NAMES).
RESERVED_NAMESPACES = frozenset({"", "trt", "tensorrt", "std"})
RESERVED_ATTRIBUTES = frozenset({"outputs", "stream", "tactic"})
# Every tensorrt.plugin name the scaffold may write (checked by the tests against the generated files).
QDP_NAMES = frozenset({"register", "impl", "autotune", "TensorDesc", "Tensor", "AutoTuneCombination",
                       "from_shape_expr"})
# Every name of the tensorrt module itself the scaffold may write (checked against /work/shared/trt-api).
TRT_NAMES = frozenset({"float32", "float16", "int32", "int64", "int8", "bool", "__version__"})

# onnx-tensorrt loadFields: ONNX attribute type -> PluginFieldType (8.6 GA and 10.1 GA agree, BF16 tensors
# from 10.x). Tensor attributes by dtype; the others are refused by the parser.
FIELD_TYPES = {
    "INT": "kINT32 (narrowed from int64)", "FLOAT": "kFLOAT32", "STRING": "kCHAR",
    "INTS": "kINT32 array (narrowed from int64)", "FLOATS": "kFLOAT32 array",
    "STRINGS": "kCHAR (the strings concatenated with no separator)",
}
TENSOR_FIELD_TYPES = {
    np.dtype(np.float32): "kFLOAT32", np.dtype(np.int8): "kINT8", np.dtype(np.int16): "kINT16",
    np.dtype(np.int32): "kINT32", np.dtype(np.float16): "kFLOAT16", np.dtype(np.float64): "kFLOAT64",
}
_HOW = {"reference": "from the reference on probe shapes",
        "shape function": "from the registered shape function",
        "declared": "from the shapes the model declares", "unknown": "unknown"}
_QDP_TYPES = {onnx.TensorProto.FLOAT: "trt.float32", onnx.TensorProto.FLOAT16: "trt.float16",
              onnx.TensorProto.INT32: "trt.int32", onnx.TensorProto.INT64: "trt.int64",
              onnx.TensorProto.INT8: "trt.int8", onnx.TensorProto.BOOL: "trt.bool"}
_QDP_TYPE_NAMES = {np.dtype(np.float32): "FP32", np.dtype(np.float16): "FP16", np.dtype(np.int32): "INT32",
                   np.dtype(np.int64): "INT64", np.dtype(np.int8): "INT8", np.dtype(np.bool_): "BOOL"}


@dataclass(frozen=True)
class PluginInput:
    parameter: str  # inp0, inp1, ...
    onnx_name: str
    dtype: np.dtype
    dims: tuple[int | str | None, ...] | None
    initializer: bool


@dataclass(frozen=True)
class PluginAttribute:
    name: str
    onnx_type: str  # INT, FLOAT, STRING, INTS, ...
    annotation: str | None  # the tensorrt.plugin annotation, None when TensorRT cannot pass it
    field_type: str  # the PluginFieldType the ONNX parser builds
    value: Any


@dataclass
class ScaffoldReport:
    """What ``write_plugin_scaffold`` wrote and what the user must still do."""

    path: Path
    op: str
    plugin_id: str
    namespace: str
    model_namespace: str | None  # the node's plugin_namespace (None: no attribute, TensorRT reads "")
    inputs: list[PluginInput]
    attributes: list[PluginAttribute]
    outputs: list[OutputShape]
    notes: list[str] = field(default_factory=list)
    cpp_requirements: str | None = None

    @property
    def todo(self) -> bool:
        return any(o.dims is None for o in self.outputs)


def parse_trt_version(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    match = re.match(r"^\s*(\d+)(?:\.(\d+))?", str(text))
    if not match:
        raise UsageError(f"--trt-version {text!r}: expected MAJOR.MINOR, e.g. 10.8")
    return int(match.group(1)), int(match.group(2) or 0)


def supports_python_plugins(trt_version: str | None) -> bool:
    """True when ``tensorrt.plugin`` exists in this TensorRT version (10.6 and later; None: assume so)."""
    version = parse_trt_version(trt_version)
    return version is None or version >= MIN_PYTHON_PLUGIN_VERSION


def _onnx_type(value: Any, attr: ir.Attr | None) -> str:
    if attr is not None:
        return attr.type.name
    return type(value).__name__.upper()


def _attribute(name: str, value: Any, attr: ir.Attr | None) -> PluginAttribute:
    kind = _onnx_type(value, attr)
    if kind == "INT":
        return PluginAttribute(name, kind, "int", FIELD_TYPES[kind], value)
    if kind == "FLOAT":
        return PluginAttribute(name, kind, "float", FIELD_TYPES[kind], value)
    if kind == "STRING":
        return PluginAttribute(name, kind, "str", FIELD_TYPES[kind], value)
    if kind == "INTS":
        return PluginAttribute(name, kind, "npt.NDArray[np.int32]", FIELD_TYPES[kind], value)
    if kind == "FLOATS":
        return PluginAttribute(name, kind, "npt.NDArray[np.float32]", FIELD_TYPES[kind], value)
    if kind == "TENSOR":
        dtype = np.asarray(value).dtype
        field_type = TENSOR_FIELD_TYPES.get(dtype)
        if field_type is None:
            return PluginAttribute(name, kind, None, f"refused by the parser ({dtype} tensors are not plugin "
                                   "fields)", value)
        return PluginAttribute(name, kind, f"npt.NDArray[np.{dtype.name}]", field_type, value)
    if kind == "STRINGS":
        return PluginAttribute(name, kind, None, FIELD_TYPES[kind], value)
    return PluginAttribute(name, kind, None, "refused by the parser", value)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _node_for(model: ir.Model, op: str) -> ir.Node:
    nodes = [node for node in custom_nodes(model) if NodeView.of(node).op == op]
    if not nodes:
        known = sorted({NodeView.of(node).op for node in custom_nodes(model)})
        raise UsageError(f"--op {op}: the model has no custom node {op!r}"
                         + (f" (its custom ops: {', '.join(known)})" if known else " (it has no custom ops)"))
    counts = {(len(n.inputs), len(n.outputs)) for n in nodes}
    if len(counts) > 1:
        raise UsageError(f"--op {op}: its {len(nodes)} nodes differ in their numbers of inputs/outputs "
                         f"({sorted(counts)}); one plugin serves one signature")
    return nodes[0]


def _declared_dims(value: ir.Value | None) -> tuple[int | str | None, ...] | None:
    if value is None or value.shape is None:
        return None
    return tuple(d if isinstance(d, int) else (d.value or None) for d in value.shape)


def _declared_output_shapes(node: ir.Node, inputs: list[PluginInput]) -> list[OutputShape]:
    shapes = []
    for output in node.outputs:
        dims = _declared_dims(output)
        dtype = numpy_dtype(output.dtype) if output.dtype is not None else None
        if dims is None:
            shapes.append(OutputShape(None, dtype, "unknown"))
            continue
        exprs: list[str] | None = []
        for axis, dim in enumerate(dims):
            if isinstance(dim, int):
                exprs.append(str(dim))  # type: ignore[union-attr]
                continue
            source = next((f"{i.parameter}.shape_expr[{a}]" for i in inputs if i.dims
                           for a, d in enumerate(i.dims) if dim is not None and d == dim), None)
            if source is None:
                exprs = None
                break
            exprs.append(source)  # type: ignore[union-attr]
        shapes.append(OutputShape(tuple(exprs) if exprs is not None else None, dtype,
                                  "declared" if exprs is not None else "unknown"))
    return shapes


def _reference_location(registry: Registry, node: ir.Node) -> tuple[str | None, str | None, list[str] | None]:
    """(file, function name, attribute names it accepts) of the node's reference, when importable."""
    op = registry.lookup(node)
    if op is None:
        return None, None, None
    try:
        file = inspect.getsourcefile(op.fn)
    except TypeError:
        file = None
    name = getattr(op.fn, "__name__", None)
    if file is None or name is None or "<" in name or not Path(file).is_file():
        return None, None, None
    accepted = list(_accepted(op.fn, NodeView.of(node).reference_attributes()))
    return str(Path(file).resolve()), name, accepted


def write_plugin_scaffold(
    model: ModelLike,
    op: str,
    output_path: str | os.PathLike[str],
    registry: Registry | None = None,
    trt_version: str | None = None,
    *,
    namespace: str | None = None,
) -> ScaffoldReport:
    """Write a ``tensorrt.plugin`` plugin for the custom op ``op`` of ``model`` to ``output_path``.

    ``op`` is a ``Plugin`` node's ``name`` or a custom node's op type. ``registry`` (default
    ``default_registry``) supplies the reference the shapes are derived from and ``impl`` calls;
    ``trt_version`` ("8.6", "10.8") adds the C++ requirements when it predates Python plugins;
    ``namespace`` is the plugin namespace (default: the node's ``plugin_namespace`` when Python plugins
    may use it, else ``"graphfix"``). Raises ``UsageError`` for an unknown op or a bad namespace. The
    file is written atomically; the report says what is left to do (``notes``).
    """
    registry = registry if registry is not None else active_registry()
    ir_model = as_ir(model)
    node = _node_for(ir_model, op)
    view = NodeView.of(node)
    model_namespace = view.attributes.get("plugin_namespace") if view.plugin_name is None else None
    if namespace is None:
        namespace = model_namespace if model_namespace not in RESERVED_NAMESPACES and model_namespace and \
            "." not in model_namespace else DEFAULT_PLUGIN_NAMESPACE
    if namespace in RESERVED_NAMESPACES or "." in namespace or not namespace.isidentifier():
        raise UsageError(f"plugin namespace {namespace!r}: tensorrt.plugin needs a non-empty identifier "
                         "without dots, other than trt, tensorrt and std")
    if "." in op or not op.isidentifier() or keyword.iskeyword(op):
        raise UsageError(f"--op {op}: a TensorRT Python plugin name must be an identifier without dots")
    version = parse_trt_version(trt_version)

    inputs = []
    for index, value in enumerate(node.inputs):
        if value is None:
            raise UsageError(f"--op {op}: input {index} of node {view.label!r} is omitted; TensorRT plugins "
                             "take every input they declare")
        dtype = numpy_dtype(value.dtype) if value.dtype is not None else np.dtype(np.float32)
        inputs.append(PluginInput(f"inp{index}", value.name or f"input{index}", dtype, _declared_dims(value),
                                  value.const_value is not None))
    raw = {name: attr for name, attr in node.attributes.items()}
    attributes = [_attribute(name, value, raw.get(name)) for name, value in view.reference_attributes().items()]

    constants = {i: np.asarray(value.const_value.numpy()) for i, value in enumerate(node.inputs)
                 if value is not None and value.const_value is not None}
    outputs = symbolic_output_shapes(node, [i.dims for i in inputs], [i.dtype for i in inputs], registry,
                                     input_values=constants, input_names=[i.parameter for i in inputs])
    if outputs is None or any(o.dims is None for o in outputs):
        declared = _declared_output_shapes(node, inputs)
        outputs = [o if o.dims is not None else d for o, d in zip(outputs or declared, declared)]

    notes: list[str] = []
    if view.plugin_name is not None:
        notes.append(f"the model still has tensorRT_Pro's form (Plugin(name={op!r})): run `graphfix fix` first "
                     f"(GF401) so TensorRT's parser looks the plugin up by op type")
    if (model_namespace or "") != namespace:
        notes.append(f"the model's {op} nodes have plugin_namespace={model_namespace or ''!r}, this plugin is "
                     f"registered as {namespace}::{op}: set plugin_namespace={namespace!r} on them "
                     f"(graphfix.plugins.stock.set_plugin_namespace), or TensorRT's parser will not find it")
    for attribute in attributes:
        if attribute.annotation is None:
            notes.append(f"attribute {attribute.name!r} ({attribute.onnx_type}) cannot reach a Python plugin "
                         f"({attribute.field_type}); the file leaves it out")
        elif attribute.name in RESERVED_ATTRIBUTES or not attribute.name.isidentifier():
            notes.append(f"attribute {attribute.name!r} is a name tensorrt.plugin reserves or cannot take; "
                         "rename it in the model and the file")
    if any(o.dims is None for o in outputs):
        notes.append("the output shape is unknown (no reference, no declared shape): the file has a TODO in "
                     "its register function")
    reference_file, reference_name, accepted = _reference_location(registry, node)
    if reference_file is None:
        notes.append(f"no importable reference for {op}: impl raises NotImplementedError until you write it")
    cpp = None
    if version is not None and version < MIN_PYTHON_PLUGIN_VERSION:
        cpp = cpp_requirements(op, model_namespace or "", inputs, attributes, outputs, version)
        notes.append(f"TensorRT {version[0]}.{version[1]} predates tensorrt.plugin (10.6): this file needs "
                     "10.6 or later; on that version write a C++ plugin (see the file's docstring)")

    usable = [a for a in attributes if a.annotation is not None and a.name not in RESERVED_ATTRIBUTES
              and a.name.isidentifier()]
    path = Path(output_path)
    text = _render(op, namespace, view, inputs, usable, outputs, reference_file, reference_name, accepted, cpp,
                   notes, ir_model, path.name)
    _write_atomic(path, text)
    return ScaffoldReport(path, op, f"{namespace}::{op}", namespace, model_namespace, inputs, attributes,
                          outputs, notes, cpp)


def cpp_requirements(op: str, namespace: str, inputs: list[PluginInput], attributes: list[PluginAttribute],
                     outputs: list[OutputShape], version: tuple[int, int]) -> str:
    """What a C++ plugin for this node must declare for TensorRT's ONNX parser (FallbackPluginImporter)."""
    interface = "IPluginV2DynamicExt with an IPluginCreator" if version < (10, 0) else \
        "IPluginV3 (IPluginV3OneCore/Build/Runtime) with an IPluginCreatorV3One, or IPluginV2DynamicExt"
    lines = [
        f"TensorRT {version[0]}.{version[1]} has no tensorrt.plugin (Python plugins need 10.6 or later). "
        "A C++ plugin for this node must:",
        f"- register a creator named {op!r}, version '1', namespace {namespace!r} (REGISTER_TENSORRT_PLUGIN; "
        "load the library with --plugins lib.so before parsing);",
        f"- implement {interface}, with {len(inputs)} input(s) and {len(outputs)} output(s);",
        "- declare these fields in getFieldNames(): the parser fills only declared fields, from the node's "
        "attributes of the same name, and ignores the others:",
    ]
    for attribute in attributes:
        lines.append(f"    {attribute.name}: {attribute.field_type} (ONNX {attribute.onnx_type}, value "
                     f"{_short(attribute.value)})")
    if not attributes:
        lines.append("    (none: the node has no configuration attributes)")
    lines.append("- take every input as a tensor, weights included (the parser turns initializers into "
                 "constant input tensors, where tensorRT_Pro handed them over as weights):")
    for item in inputs:
        lines.append(f"    input {item.parameter[3:]}: {item.onnx_name} {item.dtype} "
                     f"{list(item.dims) if item.dims is not None else '?'}"
                     + (" (an initializer)" if item.initializer else ""))
    for index, output in enumerate(outputs):
        dims = ", ".join(d.replace("inp", "inputs[").replace(".shape_expr[", "].d[") for d in output.dims) \
            if output.dims else "TODO"
        lines.append(f"- getOutputDimensions for output {index}: [{dims}]")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = repr(_plain(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _write_atomic(path: Path, text: str) -> None:
    import tempfile

    if path.is_dir():
        raise UsageError(f"-o {path}: is a directory; give the .py file to write")
    if not path.parent.is_dir():
        raise UsageError(f"-o {path}: the folder {path.parent} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _render(op: str, namespace: str, view: NodeView, inputs: list[PluginInput],
            attributes: list[PluginAttribute], outputs: list[OutputShape], reference_file: str | None,
            reference_name: str | None, accepted: list[str] | None, cpp: str | None, notes: list[str],
            model: ir.Model, file_name: str) -> str:
    from graphfix import __version__

    plugin_id = f"{namespace}::{op}"
    base = re.sub(r"\W", "_", op).lower()
    tensor_params = ", ".join(f"{i.parameter}: trtp.TensorDesc" for i in inputs)
    attr_params = "".join(f", {a.name}: {a.annotation}" for a in attributes)
    impl_attrs = [a for a in attributes if accepted is None or a.name in accepted]
    impl_params = ", ".join(f"{i.parameter}: trtp.Tensor" for i in inputs) + \
        "".join(f", {a.name}: {a.annotation}" for a in impl_attrs)
    returns = ("trtp.TensorDesc" if len(outputs) == 1
               else f"Tuple[{', '.join(['trtp.TensorDesc'] * len(outputs))}]")

    doc = [f"TensorRT plugin {plugin_id}, written by graphfix {__version__} for the custom op {op} of",
           f"{model.graph.name or 'the model'} (node {view.label!r}).",
           "",
           "Needs TensorRT 10.6 or later (the tensorrt.plugin module) and, for impl, torch with CUDA. Load it",
           "before TensorRT parses the model (`graphfix compile MODEL --plugins THIS_FILE`), and import it in",
           "every process that builds or runs the engine: the engine calls back into impl.",
           "",
           f"ONNX node -> plugin: op type {op!r}, plugin_namespace {namespace!r}, plugin_version '1'.",
           "Inputs (TensorRT passes initializers as constant input tensors):"]
    for i in inputs:
        dims = "?" if i.dims is None else "[" + ", ".join("?" if d is None else str(d) for d in i.dims) + "]"
        doc.append(f"    {i.parameter}: {i.onnx_name} {i.dtype} {dims}"
                   + (" (initializer)" if i.initializer else ""))
    doc.append("Attributes (ONNX type -> PluginField the parser builds -> Python type here):")
    for a in attributes:
        doc.append(f"    {a.name}: {a.onnx_type} -> {a.field_type} -> {a.annotation}")
    if not attributes:
        doc.append("    (none)")
    for index, o in enumerate(outputs):
        doc.append(f"Output {index}: " + (f"[{', '.join(o.dims)}]" if o.dims else "TODO") + f" ({_HOW[o.how]})")
    if notes:
        doc.append("")
        doc.append("To do:")
        doc.extend(f"- {note}" for note in notes)
    if cpp:
        doc.append("")
        doc.extend(cpp.splitlines())
    # The body may quote anything the model holds (info strings): no triple quotes, backslashes doubled.
    doc_text = '"""' + "\n".join(line.replace("\\", "\\\\").replace('"""', "'''") for line in doc) + '\n"""'

    lines = [doc_text, "",
             "# No `from __future__ import annotations`: tensorrt.plugin reads the annotations as types.",
             "from typing import List, Tuple", "",
             "try:",
             "    import tensorrt as trt",
             "    import tensorrt.plugin as trtp",
             "except ImportError as _error:",
             "    raise ImportError(",
             f'        "{file_name}: this TensorRT plugin needs TensorRT 10.6 or later with its "',
             '        "Python package (import tensorrt.plugin failed: " + str(_error) + "). "',
             '        "Install TensorRT, or "',
             '        "use the file only where TensorRT runs."',
             "    ) from _error",
             "",
             "import numpy as np",
             "import numpy.typing as npt", "",
             f"PLUGIN_ID = {plugin_id!r}",
             f"REFERENCE_FILE = {reference_file!r}  # the reference graphfix verified the model with",
             f"REFERENCE_FUNCTION = {reference_name!r}", "",
             "_reference = None", "", "",
             "def _load_reference():",
             '    """The registered reference (numpy), imported from REFERENCE_FILE once."""',
             "    global _reference",
             "    if _reference is None:",
             "        if REFERENCE_FILE is None:",
             f"            raise NotImplementedError(\"{op}: no reference implementation was registered \"",
             "                                      \"when this file was written; write impl\")",
             "        import importlib.util",
             "",
             f"        spec = importlib.util.spec_from_file_location(\"{base}_reference\", REFERENCE_FILE)",
             "        module = importlib.util.module_from_spec(spec)",
             "        spec.loader.exec_module(module)",
             "        _reference = getattr(module, REFERENCE_FUNCTION)",
             "    return _reference", "", ""]

    # register
    lines.append("@trtp.register(PLUGIN_ID)")
    lines.append(_def(f"{base}_desc", tensor_params + attr_params, returns))
    descs = []
    for index, o in enumerate(outputs):
        dtype = _desc_dtype(o.dtype, inputs)
        if o.dims is None:
            lines.append(f"    # TODO(graphfix): output {index}'s shape is unknown: write it with shape")
            lines.append("    # expressions of the inputs, e.g. (inp0.shape_expr[0], inp0.shape_expr[1] * 2).")
            lines.append("    # A placeholder follows.")
            lines.append(f"    out{index} = inp0.like()" if dtype == "inp0.dtype" else
                         f"    out{index} = trtp.from_shape_expr(inp0.shape_expr, dtype={dtype})")
        else:
            lines.append(f"    out{index} = trtp.from_shape_expr(({', '.join(o.dims)},), dtype={dtype})")
        descs.append(f"out{index}")
    lines.append(f"    return {descs[0] if len(descs) == 1 else '(' + ', '.join(descs) + ')'}")
    lines += ["", ""]

    # autotune
    io = []
    for i in inputs:
        io.append("FP32|FP16" if i.dtype.kind == "f" else _QDP_TYPE_NAMES.get(i.dtype, "FP32"))
    for o in outputs:
        floating = o.dtype is None or o.dtype.kind == "f"
        io.append("FP32|FP16" if floating else _QDP_TYPE_NAMES.get(o.dtype, "FP32"))
    lines.append("@trtp.autotune(PLUGIN_ID)")
    lines.append(_def(f"{base}_autotune", f"{tensor_params}, outputs: Tuple[trtp.TensorDesc]",
                      "List[trtp.AutoTuneCombination]"))
    lines.append("    # Float I/O in FP32 or in FP16 (dependent: all of them one or the other), linear layout.")
    lines.append(f"    return [trtp.AutoTuneCombination({', '.join(io)!r}, \"LINEAR\")]")
    lines += ["", ""]

    # impl
    names = ", ".join(i.parameter for i in inputs)
    kwargs = ", ".join(f"{a.name}={a.name}" for a in impl_attrs)
    lines.append("@trtp.impl(PLUGIN_ID)")
    lines.append(_def(f"{base}_impl", f"{impl_params}, outputs: Tuple[trtp.Tensor], stream: int", "None"))
    lines.append("    # The reference, through torch: TensorRT's buffers as CUDA tensors on TensorRT's")
    lines.append("    # stream, the reference on float32 host copies, the results copied back. Correct, not")
    lines.append("    # fast: replace it with torch ops or a Triton kernel on the CUDA tensors.")
    lines.append("    import torch")
    lines.append("")
    lines.append("    reference = _load_reference()")
    lines.append("    with torch.cuda.stream(torch.cuda.ExternalStream(stream)):")
    lines.append(f"        tensors = [torch.as_tensor(t, device=\"cuda\") for t in ({names},)]")
    lines.append("        host = [(t.float() if t.is_floating_point() else t).cpu().numpy() for t in tensors]")
    lines.append(f"        results = reference(*host{', ' + kwargs if kwargs else ''})")
    lines.append("        results = results if isinstance(results, (tuple, list)) else (results,)")
    lines.append("        for output, result in zip(outputs, results):")
    lines.append("            target = torch.as_tensor(output, device=\"cuda\")")
    lines.append("            target.copy_(torch.from_numpy(np.ascontiguousarray(result)).to(target.dtype))")
    lines.append("")
    return "\n".join(lines)


def _def(name: str, parameters: str, returns: str) -> str:
    """A ``def`` line, one parameter per line when it would be long."""
    line = f"def {name}({parameters}) -> {returns}:"
    if len(line) <= 100:
        return line
    body = "".join(f"    {p.strip()},\n" for p in parameters.split(", "))
    return f"def {name}(\n{body}) -> {returns}:"


def _desc_dtype(dtype: np.dtype | None, inputs: list[PluginInput]) -> str:
    """The output dtype as the register function writes it: the first input's when equal (so FP16 builds
    keep the output in FP16), else the explicit TensorRT type."""
    if dtype is None or (inputs and dtype == inputs[0].dtype):
        return "inp0.dtype"
    onnx_type = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    return _QDP_TYPES.get(onnx_type, "trt.float32")
