"""Fix plans: what a fix writes, as plain data. Rules make them; only the editor applies them
(:class:`graphfix.fixing.editor.Editor`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx_ir as ir

from graphfix.analyse.operands import input_index, input_value, is_required, operand
from graphfix.ir.graphutil import node_label


@dataclass(frozen=True)
class SetInputs:
    """Replace inputs of a node by constants (None drops an optional input)."""

    node: ir.Node
    inputs: Mapping[int, np.ndarray | None]
    # Verify the rewrite at this batch size (the export batch) rather than at the default probes.
    check_batch: int | None = None

    def describe(self) -> str:
        parts = []
        for index, array in sorted(self.inputs.items()):
            parts.append(f"input {index} := " + ("(removed)" if array is None else format_array(array)))
        return f"{node_label(self.node)}: " + ", ".join(parts)


@dataclass(frozen=True)
class SetAttributes:
    """Set attributes of a node from arrays: a 1-D int array becomes an INTS attribute, a 1-D float one
    FLOATS, a 0-D one INT or FLOAT (None removes the attribute). For operands an older opset keeps as
    attributes: Squeeze-11's ``axes``, Slice-1's ``starts``/``ends``, Split-11's ``split``."""

    node: ir.Node
    attributes: Mapping[str, np.ndarray | None]

    def describe(self) -> str:
        parts = []
        for name, array in sorted(self.attributes.items()):
            parts.append(f"attribute {name} := " + ("(removed)" if array is None else format_array(array)))
        return f"{node_label(self.node)}: " + ", ".join(parts)


def operand_plan(node: ir.Node, values: Mapping[str, np.ndarray], opset: int) -> SetInputs | SetAttributes:
    """Write constant operands by their schema names where ``node``'s operator has them at ``opset``: as
    inputs (Squeeze-13's ``axes``) or as attributes (Squeeze-11's). All must be of one kind.

    Raises:
        ValueError: an operand the schema at ``opset`` does not have, or a mix of inputs and attributes.
    """
    inputs: dict[int, np.ndarray | None] = {}
    attributes: dict[str, np.ndarray | None] = {}
    for name, array in values.items():
        where = operand(node, name, opset)
        if where.index is not None:
            inputs[where.index] = array
        elif where.attribute:
            attributes[name] = array
        else:
            raise ValueError(f"{node.op_type} at opset {opset} has no operand {name!r}")
    if inputs and attributes:
        raise ValueError(f"{node.op_type} at opset {opset} mixes inputs and attributes in one plan")
    return SetInputs(node, inputs) if inputs else SetAttributes(node, attributes)


def declared_dim(dim: int | ir.SymbolicDim) -> int | str | None:
    """A declared dim as plan data: its size, its symbol's name, or None for an unnamed dynamic dim."""
    return dim if isinstance(dim, int) else dim.value


@dataclass(frozen=True)
class SetDims:
    """Set the declared dims of a graph input or output (ints pin, strings name a dynamic dim, None
    leaves it dynamic and unnamed)."""

    value: ir.Value
    dims: tuple[int | str | None, ...]

    def describe(self) -> str:
        return f"{self.value.name}: [{', '.join('?' if d is None else str(d) for d in self.dims)}]"


BatchEntry = int | tuple[str, int] | tuple[str, int, int, int]
"""An entry of a :class:`BatchShape`: a constant, ``("batch", k)`` for k times the batch, or
``("mod", k, c, m)`` for ``(k * batch + c) mod m`` (a pad to an even batch: ``("mod", 1, 0, 2)``)."""


@dataclass(frozen=True)
class BatchShape:
    """Replace a node's input by the shortest run-time form of a batch-dependent shape vector:
    ``Concat(Shape(source)[0:1] * k, constants...)``, where ``source`` is a graph input whose dim 0 is the
    batch. Each entry is a :data:`BatchEntry`. With ``expand``, the input becomes that constant expanded
    to the vector (``Expand(expand, Concat(...))``: a ``torch.full((b, ...))`` made with a Python batch);
    with ``scalar``, the one entry is written as a scalar (a Range limit);
    ``check_batch`` is the export batch when the plan repairs a batch baked at export time."""

    node: ir.Node
    index: int
    source: ir.Value
    entries: tuple[BatchEntry, ...]
    expand: np.ndarray | None = None
    check_batch: int | None = None
    scalar: bool = False  # a one-entry vector written as a scalar (a Range limit)

    def node_count(self, opset: int) -> int:
        """How many nodes the plan adds (Shape, Slice before opset 15, one Mul per factor, the Add and Mod
        of each modulo entry, Concat, Expand)."""
        multipliers = {e[1] for e in self.entries if isinstance(e, tuple) and len(e) == 2 and e[1] != 1}
        modulos = {e for e in self.entries if isinstance(e, tuple) and len(e) == 4}
        arithmetic = sum(1 + (e[1] != 1) + (e[2] != 0) for e in modulos if len(e) == 4)
        return (1 + (opset < 15) + len(multipliers) + arithmetic + (len(self.entries) > 1)
                + (self.expand is not None) + self.scalar)

    def describe(self) -> str:
        parts = []
        batch = f"{self.source.name}.shape[0]"
        for entry in self.entries:
            if isinstance(entry, tuple) and len(entry) == 4:
                term = batch + (f"*{entry[1]}" if entry[1] != 1 else "") + (f" + {entry[2]}" if entry[2] else "")
                parts.append(f"({term}) % {entry[3]}")
            elif isinstance(entry, tuple):
                parts.append(batch + (f"*{entry[1]}" if entry[1] != 1 else ""))
            else:
                parts.append(str(entry))
        shown = f"[{', '.join(parts)}]"
        if self.expand is not None:
            shown = f"a {list(self.expand.shape)} constant expanded to {shown}"
        elif self.scalar:
            shown = f"the scalar {shown[1:-1]}"
        return f"{node_label(self.node)}: input {self.index} := {shown}"


@dataclass(frozen=True)
class ExpandOutput:
    """Expand output 0 of ``node`` to the batch: an ``Expand`` after it whose shape is the shortest
    ``Concat(Shape(source)[0:1] * k, constants...)`` (entries as in :class:`BatchShape`), read by every
    consumer of the output instead. A batch-1 tensor given to every sample (``t.expand(bs, ...)``)."""

    node: ir.Node
    source: ir.Value
    entries: tuple[BatchEntry, ...]

    def describe(self) -> str:
        shape = BatchShape(self.node, 0, self.source, self.entries).describe().split(":= ", 1)[1]
        return f"{node_label(self.node)}: output 0 := Expand(output 0, {shape})"


@dataclass(frozen=True)
class ReplaceOp:
    """Give a node another op type and domain, keeping its inputs, outputs and name: ``drop`` removes
    attributes, ``attributes`` adds string attributes the node does not have yet (those it has win), and
    the domain is imported when the model does not import it. A tensorRT_Pro ``Plugin`` node becoming the
    stock TensorRT plugin form (``graphfix.plugins.stock``) is one."""

    node: ir.Node
    op_type: str
    domain: str
    attributes: tuple[tuple[str, str], ...] = ()
    drop: tuple[str, ...] = ()
    note: str = ""  # shown after the plan (a warning)
    before: str = ""  # what the node was when planned, e.g. "Plugin(name='HSwish')"
    kept: tuple[str, ...] = ()  # the attributes kept as they are

    def describe(self) -> str:
        added = [f"{key}={value!r}" for key, value in self.attributes]
        if self.kept:
            added.append(f"keeps {', '.join(self.kept)}")
        text = (f"{node_label(self.node)}: {self.before or self.node.op_type} := {self.domain}::{self.op_type}"
                + (f" ({', '.join(added)})" if added else ""))
        return text + (f"; warning: {self.note}" if self.note else "")


@dataclass(frozen=True)
class ConvertOpset:
    """Convert the whole model from default-domain opset ``source`` to ``target``
    (:func:`graphfix.fixing.opset.convert_opset`: onnx's version converter and graphfix's adapters)."""

    source: int
    target: int

    def describe(self) -> str:
        return f"model: opset {self.source} -> {self.target} (onnx's version converter and graphfix's adapters)"


@dataclass(frozen=True)
class NarrowDouble:
    """Compute the model's internal DOUBLE tensors in FLOAT, as TensorRT does
    (:func:`graphfix.fixing.narrowing.narrow_double`); kept only when verification shows no change."""

    count: int  # how many DOUBLE tensors

    def describe(self) -> str:
        return f"model: {self.count} DOUBLE tensor{'s' if self.count != 1 else ''} computed in FLOAT, as TensorRT does"


@dataclass(frozen=True)
class InlineBranch:
    """Replace an If by the branch its condition always takes: the branch's nodes move into the If's graph
    (its Constant nodes become initializers; names that would clash are renamed; nodes may keep reading
    outer-scope values), and the branch's outputs take over the If's outputs, names included (a graph
    output keeps its name). ``ranks`` are the taken branch's output ranks as the analysis knows them (None:
    unknown): a declared output shape of another rank (the other branch's) is dropped."""

    node: ir.Node
    branch: str  # "then_branch" or "else_branch"
    ranks: tuple[int | None, ...] = ()
    ops: tuple[str, ...] = ()  # the branch's op types (Constants aside), as planned: shown by describe

    @classmethod
    def of(cls, node: ir.Node, branch: str, ranks: tuple[int | None, ...] = ()) -> InlineBranch:
        """The plan for ``node``'s ``branch`` (its op types read now: the branch is emptied when applied)."""
        graph = node.attributes[branch].as_graph()
        return cls(node, branch, ranks, tuple(n.op_type for n in graph if n.op_type != "Constant"))

    def describe(self) -> str:
        ops = self.ops
        shown = ", ".join(ops[:6]) + (", ..." if len(ops) > 6 else "")
        return f"{node_label(self.node)}: If := its {self.branch} ({shown or 'no nodes'})"


FixPlan = (SetInputs | SetAttributes | SetDims | BatchShape | ExpandOutput | ConvertOpset | NarrowDouble | ReplaceOp
           | InlineBranch)


def resize_scales_plan(node: ir.Node, scales: np.ndarray, opset: int, check_batch: int | None = None) -> SetInputs:
    """A Resize or Upsample driven by constant ``scales``, written where the operator's schema at ``opset``
    has them (Resize-10 and Upsample-9: input 1; Resize-11 on: input 2, its ``sizes`` input dropped, and an
    empty ``roi`` where opsets 11 and 12 require one)."""
    at = input_index(node, "scales", opset)
    if at is None:
        raise ValueError(f"{node.op_type} at opset {opset} takes no scales input")
    inputs: dict[int, np.ndarray | None] = {at: scales}
    sizes_at = input_index(node, "sizes", opset)
    if sizes_at is not None and input_value(node, "sizes", opset) is not None:
        inputs[sizes_at] = None
    roi_at = input_index(node, "roi", opset)
    if roi_at is not None and is_required(node, "roi", opset) and input_value(node, "roi", opset) is None:
        inputs[roi_at] = np.zeros(0, dtype=np.float32)
    return SetInputs(node, inputs, check_batch=check_batch)


def strided_gather_plans(gather: ir.Node, flatten: ir.Node, per_sample: int, row: np.ndarray,
                         check_batch: int) -> tuple[SetInputs, SetInputs, SetAttributes]:
    """A Gather from a tensor flattened to ``[-1]`` by ``flatten``, made per image: the tensor flattened to
    ``[-1, per_sample]`` (the batch kept) and ``row`` (one image's flat indices) gathered along axis 1."""
    return (SetInputs(flatten, {1: np.array([-1, per_sample], dtype=np.int64)}, check_batch=check_batch),
            SetInputs(gather, {1: np.asarray(row)}, check_batch=check_batch),
            SetAttributes(gather, {"axis": np.array(1, dtype=np.int64)}))


def format_array(array: np.ndarray) -> str:
    """``[1, 2, 3]`` (floats with %g), at most 16 entries."""
    flat = np.asarray(array).reshape(-1)
    if flat.dtype.kind == "f":
        text = ", ".join(f"{float(v):g}" for v in flat[:16])
    else:
        text = ", ".join(str(int(v)) for v in flat[:16])
    return f"[{text}{', ...' if flat.size > 16 else ''}]"
