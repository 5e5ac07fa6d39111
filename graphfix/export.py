"""Export a PyTorch module to ONNX with only the batch dynamic, through either torch exporter.

``graphfix.export.export(model, args, path, exporter="dynamo" | "legacy", ...)`` wraps
``torch.onnx.export`` so that both exporters are driven the same way:

- one dynamic axis named ``"batch"`` on dim 0 of every tensor input (``dynamic_batch=True``), plus any
  extra named axes from ``dynamic_dims`` (``{"x": {2: "height", 3: "width"}}``);
- legacy (TorchScript) exporter: ``dynamo=False`` with ``dynamic_axes``;
- dynamo exporter: ``dynamo=True`` with ``dynamic_shapes`` made of ``torch.export.Dim`` objects (one shared
  ``Dim("batch")``). If ``torch.export`` refuses a named Dim (the model specialises it, e.g. a Python int
  that bakes the batch), the export is retried with the string form (torch turns it into ``Dim.DYNAMIC``
  and renames the axis afterwards) and then with ``Dim.AUTO`` (which never refuses, it specialises);
- in both exporters the requested graph-input axes always come out symbolic (``dim_param``) with the
  requested names: when an exporter specialised one of them (the model bakes that size in), the
  input is re-declared dynamic, exactly what the legacy exporter's ``dynamic_axes`` does. Such a graph
  only runs at the export-time size; finding that is graphfix's job (GF103), not the exporter's;
- the exporters' progress prints, warnings and log lines are silenced;
- the file is written atomically through the one writer (:func:`graphfix.ir.saving.staged`): the export
  goes to a private temporary directory beside ``path`` under the final file name (so the external-data
  location recorded inside the ``.onnx``, ``<name>.data`` for the dynamo exporter, is already right),
  then the external-data files and finally the ``.onnx`` are moved into place. A failed export leaves
  nothing behind;
- the re-declared input axes are edited through the editor on onnx-ir, never on protos.

torch is optional for graphfix users, so it is imported inside the functions only
(:func:`graphfix.deps.require`).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import os
import pathlib
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import onnx_ir as ir

from graphfix.deps import require
from graphfix.fixing.editor import Editor
from graphfix.ir.saving import staged
from graphfix.plugins.export import CustomOpExport, legacy_symbolics, translation_table

__all__ = ["export", "BATCH_DIM_NAME"]

BATCH_DIM_NAME = "batch"

# Loggers whose warnings the exporters emit on every call ("torchvision is not installed", export
# guards, onnxscript optimiser notes). Raised to ERROR for the duration of an export only.
_NOISY_LOGGERS = ("torch", "torch.onnx", "torch.export", "torch._export", "torch._dynamo",
                  "torch.fx.experimental.symbolic_shapes", "onnxscript", "onnx_ir")

_log = logging.getLogger(__name__)


def export(
    model: Any,
    args: Any,
    path: str | os.PathLike[str],
    *,
    exporter: Literal["legacy", "dynamo"] = "dynamo",
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_batch: bool = True,
    dynamic_dims: Mapping[str, Mapping[int, str]] | None = None,
    opset: int | None = None,
    custom_ops: Sequence[CustomOpExport] = (),
) -> pathlib.Path:
    """Export ``model`` called with positional ``args`` to the ONNX file ``path`` and return its path.

    ``model`` is a ``torch.nn.Module``. ``input_names`` default to the names of ``model.forward``'s
    parameters. ``dynamic_dims`` maps an input name to ``{axis: dim_name}`` for dynamic axes besides the
    batch (which is ``dynamic_batch``). ``opset=None`` lets torch choose. ``custom_ops`` says how each
    ``torch.library`` custom op of the model is written (:class:`graphfix.plugins.export.CustomOpExport`):
    the stock TensorRT plugin form (``trt.plugins::Op`` with ``plugin_version``/``plugin_namespace``), by
    a ``symbolic`` for the legacy exporter and a custom translation table (onnxscript) for dynamo.

    Raises:
        MissingDependencyError: torch is not installed.
        ValueError: The arguments are inconsistent.
        WriteError: The file cannot be written (nothing is).
        Exception: The exporters' own errors propagate unchanged.
    """
    torch = require("torch", "graphfix.export")

    if exporter not in ("legacy", "dynamo"):
        raise ValueError(f"exporter must be 'legacy' or 'dynamo', not {exporter!r}")
    if not isinstance(args, tuple):
        args = (args,)
    path = pathlib.Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give the path of the .onnx file to write")
    path.parent.mkdir(parents=True, exist_ok=True)

    tensor_positions = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
    names = _input_names(model, args, input_names)
    axes = _requested_axes(args, names, tensor_positions, dynamic_batch, dynamic_dims)

    if getattr(model, "training", False):
        # Both exporters warn about training mode; dropout/batch-norm in training mode is never what a
        # TensorRT engine wants, so export in eval mode and restore the caller's mode afterwards.
        model.eval()
        restore_training = True
    else:
        restore_training = False

    try:
        with staged(path) as stage:
            tmp_path = stage.path  # final name: external-data locations are relative to it
            with _quiet():
                if exporter == "legacy":
                    with legacy_symbolics(custom_ops):
                        _export_legacy(model, args, tmp_path, names, output_names, axes, opset)
                else:
                    _export_dynamo(model, args, tmp_path, names, output_names, axes, opset, stage.folder,
                                   translation_table(custom_ops) if custom_ops else None)
            # Weights first, the .onnx last: whoever sees the new .onnx also sees its weights.
            for rel in sorted(_declare_dynamic_inputs(tmp_path, axes)):
                if os.path.isabs(rel) or ".." in pathlib.PurePath(rel).parts or not (stage.folder / rel).is_file():
                    continue  # not a file this export wrote
                stage.add_companion(rel)
    finally:
        if restore_training:
            model.train()
    return path


# --------------------------------------------------------------------------------------------------
# arguments


def _input_names(model: Any, args: tuple[Any, ...], input_names: Sequence[str] | None) -> list[str]:
    """Graph input names, one per positional argument (the forward signature when not given)."""
    if input_names is not None:
        names = list(input_names)
        if len(names) != len(args):
            raise ValueError(f"input_names has {len(names)} names for {len(args)} positional arguments")
        return names
    try:
        params = [p for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if len(params) >= len(args):
        return [p.name for p in params[: len(args)]]
    return [f"input_{i}" for i in range(len(args))]


def _requested_axes(
    args: tuple[Any, ...],
    names: list[str],
    tensor_positions: list[int],
    dynamic_batch: bool,
    dynamic_dims: Mapping[str, Mapping[int, str]] | None,
) -> dict[str, dict[int, str]]:
    """``{input name: {axis: dim name}}`` for every tensor input that has a dynamic axis."""
    axes: dict[str, dict[int, str]] = {}
    tensor_names = {names[i]: args[i] for i in tensor_positions}
    for name, tensor in tensor_names.items():
        if dynamic_batch and tensor.dim() > 0:
            axes.setdefault(name, {})[0] = BATCH_DIM_NAME
    for name, extra in (dynamic_dims or {}).items():
        if name not in tensor_names:
            raise ValueError(f"dynamic_dims names {name!r}, which is not a tensor input ({list(tensor_names)})")
        rank = tensor_names[name].dim()
        for axis, dim_name in extra.items():
            if not -rank <= axis < rank:
                raise ValueError(f"dynamic_dims[{name!r}] axis {axis} is out of range for rank {rank}")
            axes.setdefault(name, {})[axis % rank] = str(dim_name)
    return axes


# --------------------------------------------------------------------------------------------------
# the two exporters


def _export_legacy(
    model: Any,
    args: tuple[Any, ...],
    f: pathlib.Path,
    names: list[str],
    output_names: Sequence[str] | None,
    axes: dict[str, dict[int, str]],
    opset: int | None,
) -> None:
    torch = require("torch", "graphfix.export")
    kwargs: dict[str, Any] = {}
    if opset is not None:
        kwargs["opset_version"] = opset
    torch.onnx.export(
        model, args, str(f), dynamo=False, verbose=False,
        input_names=names, output_names=list(output_names) if output_names else None,
        dynamic_axes=axes or None, **kwargs,
    )


def _export_dynamo(
    model: Any,
    args: tuple[Any, ...],
    f: pathlib.Path,
    names: list[str],
    output_names: Sequence[str] | None,
    axes: dict[str, dict[int, str]],
    opset: int | None,
    artifacts_dir: pathlib.Path,
    table: dict[Any, Callable[..., Any]] | None = None,
) -> None:
    torch = require("torch", "graphfix.export")
    extra: dict[str, Any] = {"custom_translation_table": table} if table else {}

    def attempt(dynamic_shapes: tuple[Any, ...] | None) -> None:
        torch.onnx.export(
            model, args, str(f), dynamo=True, verbose=False,
            input_names=names, output_names=list(output_names) if output_names else None,
            dynamic_shapes=dynamic_shapes, opset_version=opset, **extra,
            # Error reports and dumps (if torch ever writes them) land in the temporary directory.
            artifacts_dir=str(artifacts_dir),
        )

    if not axes:
        attempt(None)
        return

    # 1. Named Dims, one object per name, so every input's dim 0 is the *same* "batch" symbol.
    dims: dict[str, Any] = {}

    def named(dim_name: str) -> Any:
        if dim_name not in dims:
            # Dim names must be identifiers; _declare_dynamic_inputs restores the requested name.
            ident = dim_name if dim_name.isidentifier() else f"dim{len(dims)}_" + re.sub(r"\W", "_", dim_name)
            dims[dim_name] = torch.export.Dim(ident)
        return dims[dim_name]

    # dynamic_shapes is given positionally (a tuple matching args), so it does not depend on the
    # forward parameter names, which need not match the graph input names.
    def shapes(make: Callable[[str], Any]) -> tuple[Any, ...]:
        return tuple({ax: make(dn) for ax, dn in axes[n].items()} if n in axes else None for n in names)

    # 2. The string form: torch uses Dim.DYNAMIC and renames the axes itself. 3. Dim.AUTO never fails
    # on specialisation; what it specialises is re-declared dynamic by _declare_dynamic_inputs.
    attempts: tuple[tuple[str, Callable[[], tuple[Any, ...]]], ...] = (
        ("named Dim", lambda: shapes(named)),
        ("string (Dim.DYNAMIC)", lambda: shapes(lambda dn: dn)),
        ("Dim.AUTO", lambda: shapes(lambda dn: torch.export.Dim.AUTO)),
    )
    first_error: BaseException | None = None
    for label, make_shapes in attempts:
        try:
            attempt(make_shapes())
            if first_error is not None:
                _log.info("dynamo export succeeded with %s dynamic shapes after: %s", label,
                          _first_line(first_error))
            return
        except Exception as exc:  # noqa: BLE001 - re-raised below unless it is a shape-constraint error
            if not _is_constraint_error(exc):
                raise
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def _is_constraint_error(exc: BaseException) -> bool:
    """True when ``exc`` (or its cause chain) says torch.export could not keep a Dim dynamic."""
    markers = ("Constraints violated", "specialized", "specialize", "dynamic_shapes", "Dim(",
               "guard", "not all values of", "Dim.DYNAMIC", "Dim.AUTO")
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if type(e).__name__ in ("UserError", "ConstraintViolationError"):
            return True
        text = str(e)
        if any(m.lower() in text.lower() for m in markers):
            return True
        e = e.__cause__ or e.__context__
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


# --------------------------------------------------------------------------------------------------
# post-processing


def _declare_dynamic_inputs(onnx_path: pathlib.Path, axes: dict[str, dict[int, str]]) -> set[str]:
    """Give each requested input axis its requested dim name; return the external-data files.

    Exporters may specialise an axis (a number) or name it differently (``s0``); both are made the
    requested name, and a renamed symbol is renamed everywhere in the graph so that equal symbols stay
    equal. The weights are not loaded (onnx-ir memory-maps them) and their external-data references are
    kept as they are; the edit goes through the editor.
    """
    model = ir.load(onnx_path)
    editor = Editor(model)
    by_name = {value.name: value for value in model.graph.inputs}
    rename: dict[str, str] = {}
    changed = False
    for input_name, requested in axes.items():
        value = by_name.get(input_name)
        if value is None or value.shape is None:
            continue
        dims: list[int | str | None] = [d if isinstance(d, int) else d.value for d in value.shape]
        for axis, dim_name in requested.items():
            if axis >= len(dims) or dims[axis] == dim_name:
                continue
            current = dims[axis]
            if isinstance(current, str) and current:
                rename.setdefault(current, dim_name)
            else:
                _log.warning("%s: the exporter specialised %s axis %d to %s; declared dynamic as %r anyway "
                             "(the graph bakes that size in)", onnx_path.name, input_name, axis,
                             current if current is not None else 0, dim_name)
            dims[axis] = dim_name
            changed = True
        editor.set_shape(value, dims)
    if rename:
        # dynamo dim names can be expressions of the symbols ("2*((height - 1)//2) + 2"): rename tokens.
        token = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(rename, key=len, reverse=True)) + r")\b")
        for value in _shaped_values(editor):
            shape = value.shape
            if shape is None or not any(isinstance(d, ir.SymbolicDim) and d.value for d in shape):
                continue
            editor.set_shape(value, [d if isinstance(d, int) else
                                     (token.sub(lambda match: rename[match.group(1)], d.value) if d.value else None)
                                     for d in shape])
    if changed:
        ir.save(model, onnx_path)  # only the graph: external data stays where it is, as it is
    return _external_locations(editor)


def _shaped_values(editor: Editor) -> Iterator[ir.Value]:
    """Graph inputs and outputs and every node output (value_info), subgraphs included."""
    for graph in editor.graphs():
        yield from graph.inputs
        yield from graph.outputs
        for node in graph:
            yield from node.outputs


def _external_locations(editor: Editor) -> set[str]:
    locations: set[str] = set()
    for graph in editor.graphs():
        tensors: list[object] = [value.const_value for value in graph.initializers.values()]
        for node in graph:
            for attribute in node.attributes.values():
                if attribute.type is ir.AttributeType.TENSOR:
                    tensors.append(attribute.as_tensor())
                elif attribute.type is ir.AttributeType.TENSORS:
                    tensors.extend(attribute.as_tensors())
        locations.update(str(t.location) for t in tensors if isinstance(t, ir.ExternalTensor))
    return locations


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters: prints, Python warnings and torch/onnxscript log lines below ERROR."""
    saved = {}
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = logger.level
        if logger.getEffectiveLevel() < logging.ERROR:
            logger.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
