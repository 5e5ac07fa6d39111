"""The HTML report: one self-contained page for ``graphfix lint --format html`` and ``graphfix fix --report``.

The page has the summary, every finding, the op counts before and after, the verification statistics per
output and batch, and, for every rewritten region, a picture of the subgraph before and after the fix.
Nothing is fetched when the page is opened: CSS, the pictures (inline SVG) and the little script that
toggles their zoom are all in the file.

Pictures are laid out by Graphviz ``dot`` (the ``graphviz`` package writes the DOT source; the ``dot``
program lays it out and draws the SVG). ``dot`` is a system program (``apt-get install graphviz``,
``brew install graphviz``, ``conda install graphviz``); when it is missing the pictures are laid out by
grandalf, a pure-Python Sugiyama layout, and the page says so. When neither is available the regions are
listed as tables of nodes and edges.

Input is plain data (the dataclasses below) so that rendering never touches a model:

- ``fix_report_input(original, fixed, result, file=...)`` builds it from the original and the fixed
  ``onnx_ir.Model`` and a ``FixResult`` (duck-typed: ``.applied``, ``.remaining``, ``.ops_before``,
  ``.ops_after``, ``.verification``, optionally ``.user_edits``, ``.written``, ``.seconds``);
- ``lint_report_input(reports)`` builds it from lint ``Report`` objects (``.file``, ``.findings``,
  ``.error``, ``.nodes``, ``.seconds``);
- ``render_html(report_input) -> str`` renders the page.

A region is what one applied finding touched: the nodes it names (``Finding.node`` and ``Finding.chain``)
as they were in the original, and, in the fixed model, those of them that survived plus the nodes and
initializers graphfix wrote for them (named with the prefix ``graphfix/``).
"""

from __future__ import annotations

import datetime as _dt
import html
import logging
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx_ir as ir

# Names graphfix gives to the nodes and initializers it creates (graphfix.editor).
CREATED_PREFIX = "graphfix/"
# Constants with at most this many elements are drawn with their values.
MAX_SHOWN_ELEMENTS = 16
# Above this many nodes a picture keeps edge labels short (shapes only; names stay in the tooltips).
COMPACT_EDGE_LABELS = 40
# Above this many nodes a region is listed as a table instead of drawn.
MAX_PICTURE_NODES = 600
# Seconds one ``dot`` run may take before the picture falls back to grandalf.
DOT_TIMEOUT = 60.0

Layout = str  # "auto" | "dot" | "grandalf" | "table"


# -- the report input ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PictureNode:
    """One box in a region picture.

    ``kind`` is ``"op"`` (a node; ``label`` is its op type), ``"constant"`` (an initializer or a
    ``Constant`` node's value; ``detail`` is its value, e.g. ``[-1, 256]``, or its dtype and shape when
    large), ``"input"`` (a tensor the region reads from outside it) or ``"output"`` (a tensor the region
    hands to the rest of the graph). ``status`` is ``"removed"`` (in the original, not in the fixed
    model), ``"added"`` (created by graphfix) or ``""``.
    """

    id: str
    kind: str
    label: str
    name: str
    detail: str = ""
    status: str = ""


@dataclass(frozen=True)
class PictureEdge:
    """A tensor flowing from one picture node to another; ``shape`` as ``float [batch, 3, 64, 64]``."""

    source: str
    target: str
    tensor: str
    shape: str = ""


@dataclass(frozen=True)
class Subgraph:
    nodes: tuple[PictureNode, ...] = ()
    edges: tuple[PictureEdge, ...] = ()

    @property
    def op_count(self) -> int:
        return sum(1 for node in self.nodes if node.kind == "op")

    def count(self, kind: str, status: str) -> int:
        return sum(1 for node in self.nodes if node.kind == kind and node.status == status)


@dataclass(frozen=True)
class Region:
    """What one applied finding rewrote: the subgraph before (original) and after (fixed model)."""

    title: str
    code: str
    node: str | None
    changes: tuple[str, ...]
    before: Subgraph
    after: Subgraph

    @property
    def written(self) -> tuple[PictureNode, ...]:
        """The constants graphfix wrote into this region."""
        return tuple(n for n in self.after.nodes if n.kind == "constant" and n.status == "added")


@dataclass(frozen=True)
class FindingRow:
    code: str
    name: str
    node: str | None
    op_type: str | None
    message: str
    fixable: bool
    safety: str | None  # "safe", "unsafe", "needs-shape", "needs-dynamic-batch"; None when not fixable
    severity: str  # SARIF's level: "warning" or "note"
    status: str  # "found" (lint), "fixed" or "remains" (fix)
    fix: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpRow:
    op: str
    before: int
    after: int


@dataclass(frozen=True)
class OutputCheck:
    """One output at one batch size: max absolute and relative error of the fixed model."""

    output: str
    batch: int
    max_abs: float
    max_rel: float
    passed: bool


@dataclass(frozen=True)
class VerificationSummary:
    passed: bool
    batches: tuple[int, ...]
    outputs: tuple[OutputCheck, ...]
    message: str
    reference: str  # what the fixed model was compared with
    tolerances: str = ""  # e.g. "atol 1e-05, rtol 0.0001"


@dataclass(frozen=True)
class ModelSection:
    """Everything the page says about one model. ``ops``, ``verification`` and ``regions`` are empty for
    lint."""

    file: str
    findings: tuple[FindingRow, ...]
    error: str | None = None
    nodes: int | None = None
    ops: tuple[OpRow, ...] = ()
    verification: VerificationSummary | None = None
    verification_note: str = ""  # why there is no verification (skipped, nothing changed)
    regions: tuple[Region, ...] = ()
    user_edits: tuple[str, ...] = ()
    written: tuple[str, ...] = ()
    seconds: float | None = None


@dataclass(frozen=True)
class ReportInput:
    command: str  # "lint" or "fix"
    models: tuple[ModelSection, ...]
    version: str = ""
    created: str = field(default_factory=lambda: _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))


# -- building the input from graphfix objects ----------------------------------------------------------


def severity(finding: Any) -> str:
    """The finding's level: its rule's severity, as SARIF reports it (``graphfix.cli.report.to_sarif``)."""
    from graphfix.errors import UsageError
    from graphfix.linting.registry import rule_by_code

    try:
        return rule_by_code(str(finding.code)).severity.value
    except UsageError:  # a finding of a rule this graphfix does not know
        return "warning"


def finding_row(finding: Any, status: str) -> FindingRow:
    plans = tuple(plan.describe() for plan in getattr(finding, "fix", ()) if hasattr(plan, "describe"))
    return FindingRow(
        code=finding.code, name=finding.name, node=finding.node_name, op_type=finding.op_type,
        message=finding.message, fixable=bool(finding.fixable),
        safety=_enum_text(finding.safety) if finding.fixable else None,
        severity=severity(finding), status=status, fix=plans)


def lint_report_input(reports: Sequence[Any], *, version: str | None = None) -> ReportInput:
    """The page for ``graphfix lint --format html``: findings of one or more models, no pictures."""
    sections = tuple(
        ModelSection(file=str(report.file), findings=tuple(finding_row(f, "found") for f in report.findings),
                     error=report.error, nodes=getattr(report, "nodes", None) or None,
                     seconds=getattr(report, "seconds", None))
        for report in reports)
    return ReportInput("lint", sections, _version(version))


def fix_report_input(
    original: ir.Model,
    fixed: ir.Model,
    result: Any,
    *,
    file: str,
    reference: str | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    infer_shapes: bool = True,
    verification_note: str | None = None,
    version: str | None = None,
) -> ReportInput:
    """The page for ``graphfix fix --report FILE`` from the original model, the fixed one and the
    ``FixResult``.

    ``original`` must be the model as it was read (``graphfix.fix`` edits the model it loads, so load the
    file again, or keep a copy); neither model is changed. ``reference`` says what verification compared
    with (default: ``result.verification.reference`` when present, else the original in ONNX Runtime).
    ``infer_shapes`` runs ONNX shape inference (large initializers left out) so edges show shapes.
    ``verification_note`` says why there is no verification when the default guess is wrong (e.g. "--diff:
    nothing was verified or written").
    """
    verification = result.verification
    summary = None
    note = ""
    if verification is not None:
        summary = verification_summary(verification, reference=reference, atol=atol, rtol=rtol)
    elif verification_note:
        note = verification_note
    elif not (result.applied or getattr(result, "user_edits", None)):
        note = "nothing changed, so there was nothing to verify"
    else:
        note = "verification was skipped (--no-verify); the fixed model passed onnx.checker"
    findings = tuple(finding_row(f, "fixed") for f in result.applied) + tuple(
        finding_row(f, "remains") for f in result.remaining)
    ops = tuple(OpRow(op, int(result.ops_before.get(op, 0)), int(result.ops_after.get(op, 0)))
                for op in sorted(set(result.ops_before) | set(result.ops_after),
                                 key=lambda o: (-(result.ops_before.get(o, 0) - result.ops_after.get(o, 0)), o)))
    section = ModelSection(
        file=file, findings=findings, nodes=sum(result.ops_before.values()), ops=ops, verification=summary,
        verification_note=note, regions=tuple(build_regions(original, fixed, result.applied, infer_shapes=infer_shapes)),
        user_edits=tuple(getattr(result, "user_edits", ()) or ()),
        written=tuple(str(p) for p in getattr(result, "written", ()) or ()),
        seconds=getattr(result, "seconds", None))
    return ReportInput("fix", (section,), _version(version))


def verification_summary(
    verification: Any, *, reference: str | None = None, atol: float | None = None, rtol: float | None = None
) -> VerificationSummary:
    """From a ``graphfix.verify.Verification`` (duck-typed: ``passed``, ``batches``, ``outputs`` of
    ``OutputError``, ``message``, optionally ``reference``)."""
    reference = reference or getattr(verification, "reference", None) or (
        "the original model in ONNX Runtime (CPU), on the same seeded random inputs, through "
        "Polygraphy's Comparator")
    tolerances = ", ".join(part for part in (f"atol {atol:g}" if atol is not None else "",
                                             f"rtol {rtol:g}" if rtol is not None else "") if part)
    outputs = tuple(OutputCheck(o.output, int(o.batch), float(o.max_abs), float(o.max_rel), bool(o.passed))
                    for o in verification.outputs)
    return VerificationSummary(bool(verification.passed), tuple(int(b) for b in verification.batches), outputs,
                               verification.message or "", reference, tolerances)


def build_regions(
    original: ir.Model, fixed: ir.Model, findings: Iterable[Any], *, infer_shapes: bool = True
) -> list[Region]:
    """One region per finding that names nodes, graph inputs or graph outputs (see the module docstring);
    findings about the same place (fixed again in a later round) share one region."""
    findings = list(findings)
    if not findings:
        return []
    before_shapes = _inferred_shapes(original) if infer_shapes else {}
    after_shapes = _inferred_shapes(fixed) if infer_shapes else {}
    before_graph = _GraphIndex(original.graph, before_shapes)
    after_graph = _GraphIndex(fixed.graph, after_shapes)
    regions: list[Region] = []
    for finding in findings:
        names = [*getattr(finding, "chain", ()), *([finding.node_name] if finding.node_name else [])]
        inputs = [plan.value.name for plan in getattr(finding, "fix", ())
                  if getattr(plan, "value", None) is not None and hasattr(plan, "dims")]
        before_nodes = [before_graph.nodes[n] for n in dict.fromkeys(names) if n in before_graph.nodes]
        after_nodes = [after_graph.nodes[n] for n in dict.fromkeys(names) if n in after_graph.nodes]
        after_nodes += after_graph.created_upstream(after_nodes)
        if inputs:  # declared dims of graph inputs or outputs changed: show them and the nodes next to them
            before_nodes += before_graph.touching(inputs)
            after_nodes += after_graph.touching(inputs)
        if not before_nodes and not after_nodes and not inputs:
            continue
        before = before_graph.subgraph(before_nodes, other=after_graph, side="before", focus=inputs)
        after = after_graph.subgraph(after_nodes, other=before_graph, side="after", focus=inputs)
        changes = tuple(plan.describe() for plan in getattr(finding, "fix", ()) if hasattr(plan, "describe"))
        node = finding.node_name
        title = f"{finding.code} {node}" if node else f"{finding.code} {', '.join(inputs)}"
        same = next((i for i, r in enumerate(regions) if r.title == title), None)
        if same is not None:  # the same place fixed again in a later round: one picture, all the changes
            regions[same] = Region(title, finding.code, node, regions[same].changes + changes, before, after)
            continue
        regions.append(Region(title, finding.code, node, changes, before, after))
    return regions


def _version(version: str | None) -> str:
    if version is not None:
        return version
    from graphfix import __version__

    return __version__


def _enum_text(value: object) -> str:
    return str(getattr(value, "value", value))


def node_label(node: ir.Node) -> str:
    """The name findings use for a node (as ``graphfix.graphutil.node_label``)."""
    if node.name:
        return node.name
    first = node.outputs[0].name if node.outputs else "?"
    return f"{node.op_type}({first})"


def _inferred_shapes(model: ir.Model) -> dict[str, str]:
    """Type and shape text per value name from ONNX shape inference, run on a clone of the model.

    The clone shares the tensors (nothing is copied), and onnx-ir's ShapeInferencePass leaves large
    initializers out of what it hands to ONNX, so weights are not read. ``Model.clone`` needs onnx-ir
    0.1.14; without it the pictures show only the shapes the model declares.
    """
    if not hasattr(model, "clone"):
        return {}
    from onnx_ir.passes.common import ShapeInferencePass

    logger = logging.getLogger("onnx_ir")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        clone = model.clone()
        ShapeInferencePass(check_type=False, strict_mode=False, data_prop=True)(clone)
        return {name: text for name, value in ir.convenience.create_value_mapping(clone.graph).items()
                if name and (text := _value_type_text(value))}
    except Exception:  # noqa: BLE001 - no shapes is fine for a picture
        return {}
    finally:
        logger.setLevel(level)


def _value_type_text(value: ir.Value) -> str:
    dtype = value.dtype.name.lower() if value.dtype is not None else ""
    if value.shape is None:
        return dtype
    dims = ", ".join(str(d) if isinstance(d, int) else _dim_name(d.value) for d in value.shape)
    return f"{dtype} [{dims}]".strip()


def _dim_name(name: str | None) -> str:
    # ONNX shape inference names the dims it cannot resolve unk__N: to a reader they are unknown.
    return "?" if not name or name.startswith("unk__") else name


def format_values(array: np.ndarray) -> str:
    flat = np.asarray(array).reshape(-1)
    if flat.dtype.kind == "f":
        text = ", ".join(f"{float(v):g}" for v in flat[:MAX_SHOWN_ELEMENTS])
    elif flat.dtype.kind in "iub":
        text = ", ".join(str(int(v)) for v in flat[:MAX_SHOWN_ELEMENTS])
    else:
        text = ", ".join(str(v) for v in flat[:MAX_SHOWN_ELEMENTS])
    more = ", ..." if flat.size > MAX_SHOWN_ELEMENTS else ""
    return f"{text}" if np.asarray(array).ndim == 0 else f"[{text}{more}]"


def _tensor_text(tensor: Any) -> str:
    """Values of a small tensor, dtype and shape of a large one (never read)."""
    shape = tuple(int(d) for d in tensor.shape) if tensor.shape is not None else ()
    size = int(np.prod(shape)) if shape else 1
    dtype = tensor.dtype.name.lower() if getattr(tensor, "dtype", None) is not None else ""
    if size <= MAX_SHOWN_ELEMENTS:
        try:
            return format_values(tensor.numpy())
        except Exception:  # noqa: BLE001, S110 - unreadable external data: described below instead
            pass
    return f"{dtype} [{', '.join(map(str, shape))}]"


def _constant_node_text(node: ir.Node) -> str | None:
    for key in ("value", "value_int", "value_ints", "value_float", "value_floats", "sparse_value"):
        attribute = node.attributes.get(key)
        if attribute is None:
            continue
        value = attribute.value
        if key in ("value", "sparse_value"):
            return _tensor_text(value)
        return format_values(np.asarray(value))
    return None


class _GraphIndex:
    """Lookups on one graph for building region pictures."""

    def __init__(self, graph: ir.Graph, shapes: Mapping[str, str]) -> None:
        self.graph = graph
        self.shapes = shapes
        self.nodes: dict[str, ir.Node] = {node_label(node): node for node in graph}
        self.initializers = {name for name in graph.initializers}
        self.outputs = set(graph.outputs)
        self.inputs = set(graph.inputs)

    def created_upstream(self, nodes: Sequence[ir.Node]) -> list[ir.Node]:
        """Nodes graphfix created that feed ``nodes``, directly or through each other."""
        found: dict[ir.Node, None] = {}
        stack = list(nodes)
        seen = set(nodes)
        while stack:
            node = stack.pop()
            for value in node.inputs:
                producer = value.producer() if value is not None else None
                if producer is not None and producer not in seen and (producer.name or "").startswith(CREATED_PREFIX):
                    seen.add(producer)
                    found[producer] = None
                    stack.append(producer)
        return list(found)

    def touching(self, names: Sequence[str], limit: int = 8) -> list[ir.Node]:
        """The nodes that read these graph inputs or produce these graph outputs."""
        inputs = {value.name: value for value in self.graph.inputs}
        outputs = {value.name: value for value in self.graph.outputs}
        found: dict[ir.Node, None] = {}
        for name in names:
            if name in inputs:
                for use in list(inputs[name].uses())[:limit]:
                    found[use.node] = None
            producer = outputs[name].producer() if name in outputs else None
            if producer is not None:
                found[producer] = None
        return list(found)

    def _edge_text(self, value: ir.Value) -> str:
        return self.shapes.get(value.name or "", "") or _value_type_text(value)

    def subgraph(self, nodes: Sequence[ir.Node], *, other: _GraphIndex, side: str, focus: Sequence[str]) -> Subgraph:
        members = list(dict.fromkeys(nodes))
        constants_ops = {n for n in members if n.op_type == "Constant" and not n.inputs}
        ops = [n for n in members if n not in constants_ops]
        member_set = set(ops)
        picture: dict[str, PictureNode] = {}
        edges: list[PictureEdge] = []
        ids: dict[object, str] = {}

        def new_id(key: object) -> str:
            if key not in ids:
                ids[key] = f"n{len(ids)}"
            return ids[key]

        def status_of(name: str, created: bool, present_elsewhere: bool) -> str:
            if side == "after":
                return "added" if created else ""
            return "" if present_elsewhere else "removed"

        for node in ops:
            label = node_label(node)
            node_id = new_id(node)
            picture[node_id] = PictureNode(
                node_id, "op", node.op_type, label,
                status=status_of(label, label.startswith(CREATED_PREFIX), label in other.nodes))
        focus_set = set(focus)
        for node in ops:
            for value in node.inputs:
                if value is None:
                    continue
                producer = value.producer()
                text = self._edge_text(value)
                if producer is not None and producer in member_set:
                    edges.append(PictureEdge(ids[producer], ids[node], value.name or "", text))
                    continue
                source = self._source_node(value, producer, new_id, picture, other, side, focus_set)
                edges.append(PictureEdge(source, ids[node], value.name or "", text))
        for node in ops:
            for value in node.outputs:
                outside = [use.node for use in value.uses() if use.node not in member_set]
                if not outside and value not in self.outputs:
                    continue
                key = ("out", value.name)
                out_id = new_id(key)
                if out_id not in picture:
                    consumers = ", ".join(node_label(n) for n in outside[:3]) + (", ..." if len(outside) > 3 else "")
                    detail = ("graph output" if value in self.outputs else f"to {consumers}")
                    changed = (value.name or "") in focus_set
                    if changed:  # declared dims set by the fix: show them
                        detail += f" {_value_type_text(value)}"
                    picture[out_id] = PictureNode(out_id, "output", value.name or "", value.name or "", detail,
                                                  "added" if changed and side == "after" else "")
                edges.append(PictureEdge(ids[node], out_id, value.name or "", self._edge_text(value)))
        return Subgraph(tuple(picture.values()), tuple(edges))

    def _source_node(
        self, value: ir.Value, producer: ir.Node | None, new_id: Callable[[object], str], picture: dict[str, PictureNode],
        other: _GraphIndex, side: str, focus: set[str],
    ) -> str:
        name = value.name or ""
        created = name.startswith(CREATED_PREFIX)
        if producer is not None and producer.op_type == "Constant" and not producer.inputs:
            node_id = new_id(("const", name))
            if node_id not in picture:
                label = node_label(producer)
                status = ("added" if created else "") if side == "after" else ("" if label in other.nodes else "removed")
                picture[node_id] = PictureNode(node_id, "constant", "Constant", name,
                                               _constant_node_text(producer) or "", status)
            return node_id
        if producer is None and value.const_value is not None and name in self.initializers:
            node_id = new_id(("const", name))
            if node_id not in picture:
                status = ("added" if created else "") if side == "after" else (
                    "" if name in other.initializers else "removed")
                picture[node_id] = PictureNode(node_id, "constant", "initializer", name,
                                               _tensor_text(value.const_value), status)
            return node_id
        node_id = new_id(("in", name))
        if node_id not in picture:
            if producer is not None:
                detail = f"from {node_label(producer)}"
            elif value in self.inputs:
                detail = "graph input"
            else:
                detail = ""
            shape = _value_type_text(value) if name in focus else ""
            picture[node_id] = PictureNode(node_id, "input", name, name, f"{detail} {shape}".strip(),
                                           "added" if (name in focus and side == "after") else "")
        return node_id


# -- rendering ---------------------------------------------------------------------------------------


def render_html(report: ReportInput, *, layout: Layout = "auto") -> str:
    """The whole page as one string (UTF-8 HTML, no external resources).

    ``layout``: ``"auto"`` (``dot`` when it is installed, else grandalf, else tables), or one of
    ``"dot"``, ``"grandalf"``, ``"table"`` to force it (``"dot"`` raises ``RuntimeError`` when ``dot``
    is missing).
    """
    drawer = _Drawer(layout)
    title = f"graphfix {report.command} report: " + ", ".join(m.file for m in report.models[:3]) + (
        ", ..." if len(report.models) > 3 else "")
    body = [(f"<header><h1>graphfix {html.escape(report.command)} report</h1>"
            f"<p class=\"meta\">graphfix {html.escape(report.version)} &middot; {html.escape(report.created)}"
            f"{' &middot; pictures: ' + html.escape(drawer.describe()) if _has_regions(report) else ''}</p></header>")]
    body.append(_summary(report))
    if drawer.note and _has_regions(report):
        body.append(f"<p class=\"note\" id=\"layout-note\">{html.escape(drawer.note)}</p>")
    for index, model in enumerate(report.models):
        body.append(_model_section(model, index, report.command, drawer))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"generator\" content=\"graphfix\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def _has_regions(report: ReportInput) -> bool:
    return any(model.regions for model in report.models)


def _summary(report: ReportInput) -> str:
    rows = []
    totals = {"findings": 0, "fixed": 0, "remains": 0}
    for index, model in enumerate(report.models):
        fixed = sum(1 for f in model.findings if f.status == "fixed")
        remains = sum(1 for f in model.findings if f.status == "remains")
        totals["findings"] += len(model.findings)
        totals["fixed"] += fixed
        totals["remains"] += remains
        codes = ", ".join(f"{code} &times;{count}" for code, count in
                          sorted(_counts(f.code for f in model.findings).items()))
        if model.error:
            status = f"<span class=\"bad\">error</span>: {html.escape(model.error)}"
        elif report.command == "lint":
            status = ("<span class=\"good\">clean</span>" if not model.findings else
                      f"{len(model.findings)} finding{'s' if len(model.findings) != 1 else ''} ({codes})")
        else:
            status = f"{fixed} fixed, {remains} remaining" + (f" ({codes})" if codes else "")
        cells = [f"<td><a href=\"#model-{index}\">{html.escape(model.file)}</a></td>", f"<td>{status}</td>"]
        if report.command == "fix":
            before = sum(op.before for op in model.ops)
            after = sum(op.after for op in model.ops)
            cells.append(f"<td class=\"num\">{before} &rarr; {after}</td>")
            cells.append(f"<td>{_verification_badge(model)}</td>")
            cells.append(f"<td class=\"num\">{len(model.regions)}</td>")
        elif model.nodes:
            cells.append(f"<td class=\"num\">{model.nodes}</td>")
        else:
            cells.append("<td class=\"num\"></td>")
        rows.append(f"<tr class=\"summary-row\">{''.join(cells)}</tr>")
    header = ("<tr><th>model</th><th>result</th><th>nodes</th><th>verification</th><th>regions</th></tr>"
              if report.command == "fix" else "<tr><th>model</th><th>result</th><th>nodes</th></tr>")
    files = len(report.models)
    errors = sum(1 for m in report.models if m.error)
    line = (f"{files} model{'s' if files != 1 else ''}, {totals['findings']} finding"
            f"{'s' if totals['findings'] != 1 else ''}")
    if report.command == "fix":
        line += f", {totals['fixed']} fixed, {totals['remains']} remaining"
    if errors:
        line += f", {errors} could not be checked"
    return (f"<section id=\"summary\"><h2>Summary</h2><p class=\"headline\">{line}</p>"
            f"<table class=\"summary\"><thead>{header}</thead><tbody>{''.join(rows)}</tbody></table></section>")


def _counts(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def _verification_badge(model: ModelSection) -> str:
    verification = model.verification
    if verification is None:
        return f"<span class=\"muted\">{html.escape(model.verification_note or 'not run')}</span>"
    if verification.passed:
        return f"<span class=\"good\">passed</span> at batch {', '.join(map(str, verification.batches))}"
    return f"<span class=\"bad\">FAILED</span> at batch {', '.join(map(str, verification.batches))}"


def _model_section(model: ModelSection, index: int, command: str, drawer: _Drawer) -> str:
    parts = [f"<section class=\"model\" id=\"model-{index}\"><h2>{html.escape(model.file)}</h2>"]
    if model.error:
        parts.append(f"<p class=\"error\">{html.escape(model.error)}</p>")
    facts = []
    if model.seconds is not None:
        facts.append(f"{model.seconds:.2f} s")
    if model.written:
        facts.append("wrote " + ", ".join(f"<code>{html.escape(p)}</code>" for p in model.written))
    if facts:
        parts.append(f"<p class=\"meta\">{' &middot; '.join(facts)}</p>")
    if model.user_edits:
        items = "".join(f"<li><code>{html.escape(edit)}</code></li>" for edit in model.user_edits)
        parts.append(f"<h3>Edits you asked for</h3><ul class=\"edits\">{items}</ul>")
    parts.append(_findings_table(model, index, command))
    if command == "fix":
        parts.append(_ops_table(model))
        parts.append(_verification_section(model))
        parts.append(_regions_section(model, index, drawer))
    parts.append("</section>")
    return "\n".join(parts)


def _findings_table(model: ModelSection, index: int, command: str) -> str:
    if not model.findings:
        return (f"<section class=\"findings\" id=\"findings-{index}\"><h3>Findings</h3>"
                f"<p class=\"good\">{'No findings.' if not model.error else 'Not checked.'}</p></section>")
    rows = []
    for finding in model.findings:
        fix = ("yes" if finding.safety == "safe" else f"with options ({finding.safety})") if finding.fixable else "no"
        status_cell = f"<td class=\"status {finding.status}\">{finding.status}</td>" if command == "fix" else ""
        plans = "".join(f"<div class=\"plan\"><code>{html.escape(p)}</code></div>" for p in finding.fix)
        rows.append(
            f"<tr class=\"finding sev-{finding.severity}\" data-code=\"{html.escape(finding.code)}\">"
            f"<td class=\"code\">{html.escape(finding.code)}<div class=\"muted\">{html.escape(finding.name)}</div></td>"
            f"<td><code>{html.escape(finding.node or '')}</code><div class=\"muted\">{html.escape(finding.op_type or '')}</div></td>"
            f"<td class=\"severity\">{finding.severity}</td><td class=\"fix\">{html.escape(fix)}</td>{status_cell}"
            f"<td class=\"message\">{html.escape(finding.message)}{plans}</td></tr>")
    status_head = "<th>status</th>" if command == "fix" else ""
    return (f"<section class=\"findings\" id=\"findings-{index}\"><h3>Findings ({len(model.findings)})</h3>"
            f"<table class=\"findings\"><thead><tr><th>code</th><th>node</th><th>severity</th><th>fix</th>"
            f"{status_head}<th>message</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>")


def _ops_table(model: ModelSection) -> str:
    if not model.ops:
        return ""
    rows = []
    for op in model.ops:
        delta = op.after - op.before
        cls = "fewer" if delta < 0 else "more" if delta > 0 else "same"
        rows.append(f"<tr class=\"op-row {cls}\" data-op=\"{html.escape(op.op)}\"><td>{html.escape(op.op)}</td>"
                    f"<td class=\"num\">{op.before}</td><td class=\"num\">{op.after}</td>"
                    f"<td class=\"num delta\">{'' if delta == 0 else f'{delta:+d}'}</td></tr>")
    before = sum(op.before for op in model.ops)
    after = sum(op.after for op in model.ops)
    rows.append(f"<tr class=\"total\"><td>total</td><td class=\"num\">{before}</td><td class=\"num\">{after}</td>"
                f"<td class=\"num delta\">{after - before:+d}</td></tr>")
    return ("<section class=\"ops\"><h3>Operators before and after</h3><table class=\"ops\"><thead><tr><th>op</th>"
            "<th>before</th><th>after</th><th>change</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>")


def _verification_section(model: ModelSection) -> str:
    verification = model.verification
    if verification is None:
        return (f"<section class=\"verification\"><h3>Verification</h3><p class=\"muted\">"
                f"{html.escape(model.verification_note or 'not run')}</p></section>")
    verdict = "<span class=\"good\">PASSED</span>" if verification.passed else "<span class=\"bad\">FAILED</span>"
    rows = []
    for check in sorted(verification.outputs, key=lambda c: (c.batch, c.output)):
        result = '<span class="good">pass</span>' if check.passed else '<span class="bad">fail</span>'
        rows.append(f"<tr class=\"output-row {'pass' if check.passed else 'fail'}\" data-output=\"{html.escape(check.output)}\" "
                    f"data-batch=\"{check.batch}\"><td><code>{html.escape(check.output)}</code></td>"
                    f"<td class=\"num\">{check.batch}</td><td class=\"num\">{check.max_abs:.3g}</td>"
                    f"<td class=\"num\">{check.max_rel:.3g}</td>"
                    f"<td>{result}</td></tr>")
    table = ("<table class=\"verification\"><thead><tr><th>output</th><th>batch</th><th>max abs error</th>"
             "<th>max rel error</th><th>result</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>") if rows else ""
    tolerance = f" Tolerances: {html.escape(verification.tolerances)}." if verification.tolerances else ""
    message = f"<p class=\"error\">{html.escape(verification.message)}</p>" if verification.message else ""
    return (f"<section class=\"verification\"><h3>Verification</h3><p>{verdict} at batch "
            f"{', '.join(map(str, verification.batches))}. Reference: <span class=\"reference\">"
            f"{html.escape(verification.reference)}</span>.{tolerance}</p>{message}{table}</section>")


def _regions_section(model: ModelSection, index: int, drawer: _Drawer) -> str:
    if not model.regions:
        return "<section class=\"regions\"><h3>Rewritten regions</h3><p class=\"muted\">No region was rewritten.</p></section>"
    parts = [(f"<section class=\"regions\"><h3>Rewritten regions ({len(model.regions)})</h3>"
             "<p class=\"legend\"><span class=\"key removed\">removed</span> <span class=\"key added\">written by "
             "graphfix</span> <span class=\"key kept\">unchanged</span> <span class=\"key constant\">constant</span>"
             " <span class=\"key boundary\">tensor from / to the rest of the graph</span>"
             " &middot; click a picture to switch between fit-to-width and full size</p>")]
    for number, region in enumerate(model.regions):
        before, after = region.before, region.after
        removed = before.count("op", "removed")
        written = ", ".join(f"<code>{html.escape(n.name)}</code> = <code class=\"value\">{html.escape(n.detail)}</code>"
                            for n in region.written)
        items = "".join(f"<li><code>{html.escape(c)}</code></li>" for c in region.changes)
        changes = f'<ul class="changes">{items}</ul>' if items else ""
        parts.append(
            f"<article class=\"region\" id=\"region-{index}-{number}\" data-code=\"{html.escape(region.code)}\">"
            f"<h4>{html.escape(region.title)}</h4>"
            f"<p class=\"region-facts\">before: {before.op_count} node{'s' if before.op_count != 1 else ''}"
            f" ({removed} removed) &rarr; after: {after.op_count} node{'s' if after.op_count != 1 else ''}"
            f"{', wrote ' + written if written else ''}</p>"
            f"{changes}<div class=\"pair\">"
            f"{drawer.figure(before, 'before')}{drawer.figure(after, 'after')}</div></article>")
    parts.append("</section>")
    return "\n".join(parts)


# -- pictures ----------------------------------------------------------------------------------------

_FILL = {("op", ""): "#e8eef7", ("op", "removed"): "#fde3e1", ("op", "added"): "#d9f2dd",
         ("constant", ""): "#fbf3d5", ("constant", "removed"): "#fde3e1", ("constant", "added"): "#bfe8c6",
         ("input", ""): "#ffffff", ("input", "added"): "#d9f2dd", ("output", ""): "#ffffff",
         ("output", "added"): "#d9f2dd"}
_STROKE = {"": "#4a5a75", "removed": "#c0392b", "added": "#1e8a3a"}


class _Drawer:
    """Turns a ``Subgraph`` into an inline SVG figure with the best layout available."""

    def __init__(self, layout: Layout) -> None:
        self.dot = shutil.which("dot") if layout in ("auto", "dot") else None
        if layout == "dot" and self.dot is None:
            raise RuntimeError("Graphviz `dot` is not installed")
        self.layout = "dot" if self.dot else layout if layout in ("grandalf", "table") else "grandalf"
        if self.layout == "grandalf" and not _has_grandalf():
            self.layout = "table"
        self.note = ""
        if layout == "auto" and self.layout != "dot":
            self.note = ("Graphviz `dot` was not found, so " + (
                "these pictures were laid out by grandalf" if self.layout == "grandalf" else
                "the regions are listed as tables") + ". Install Graphviz for clearer pictures "
                "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; conda install graphviz).")

    def describe(self) -> str:
        if self.layout == "dot":
            return f"Graphviz dot ({self.dot})"
        return "grandalf (pure-Python layout)" if self.layout == "grandalf" else "tables (no layout library)"

    def figure(self, graph: Subgraph, side: str) -> str:
        caption = f"{side} ({graph.op_count} node{'s' if graph.op_count != 1 else ''})"
        if not graph.nodes:
            return (f"<figure class=\"picture empty\" data-side=\"{side}\"><figcaption>{caption}</figcaption>"
                    "<p class=\"muted\">nothing</p></figure>")
        layout = self.layout if graph.op_count <= MAX_PICTURE_NODES else "table"
        svg = None
        if layout == "dot":
            svg = self._dot_svg(graph)
            if svg is None:
                layout = "grandalf" if _has_grandalf() else "table"
        if layout == "grandalf":
            svg = _grandalf_svg(graph)
        if svg is None:
            return (f"<figure class=\"picture table\" data-side=\"{side}\" data-layout=\"table\">"
                    f"<figcaption>{caption}</figcaption>{_table_picture(graph)}</figure>")
        grow = max(_svg_width(svg), 120.0)  # columns share the width in proportion to the pictures
        return (f"<figure class=\"picture fit\" data-side=\"{side}\" data-layout=\"{layout}\" "
                f"style=\"flex-grow: {grow:.0f}\">"
                f"<figcaption>{caption}</figcaption><div class=\"canvas\">{svg}</div></figure>")

    def _dot_svg(self, graph: Subgraph) -> str | None:
        try:
            result = subprocess.run([str(self.dot), "-Tsvg"], input=dot_source(graph).encode(),
                                    capture_output=True, timeout=DOT_TIMEOUT, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return _clean_svg(result.stdout.decode("utf-8", errors="replace"))


def dot_source(graph: Subgraph) -> str:
    """The DOT text of a picture (written with the ``graphviz`` package when it is installed)."""
    compact = graph.op_count > COMPACT_EDGE_LABELS
    graph_attr = {"rankdir": "TB", "nodesep": "0.25", "ranksep": "0.35", "bgcolor": "transparent",
                  "fontname": "Helvetica", "fontsize": "10"}
    node_attr = {"fontname": "Helvetica", "fontsize": "10", "penwidth": "1.2", "margin": "0.08,0.04"}
    edge_attr = {"fontname": "Helvetica", "fontsize": "8", "color": "#7a869a", "fontcolor": "#4d5666",
                 "arrowsize": "0.6"}
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None:
        dot = graphviz.Digraph(graph_attr=graph_attr, node_attr=node_attr, edge_attr=edge_attr)
        for node in graph.nodes:
            dot.node(node.id, **_dot_node_attributes(node))
        for edge in graph.edges:
            dot.edge(edge.source, edge.target, **_dot_edge_attributes(edge, compact))
        return str(dot.source)
    lines = ["digraph {"]
    for key, attrs in (("graph", graph_attr), ("node", node_attr), ("edge", edge_attr)):
        lines.append(f"  {key} [{_dot_attrs(attrs)}]")
    for node in graph.nodes:
        lines.append(f"  {node.id} [{_dot_attrs(_dot_node_attributes(node))}]")
    for edge in graph.edges:
        lines.append(f"  {edge.source} -> {edge.target} [{_dot_attrs(_dot_edge_attributes(edge, compact))}]")
    lines.append("}")
    return "\n".join(lines)


def _dot_attrs(attrs: Mapping[str, str]) -> str:
    parts = []
    for key, value in attrs.items():
        if value.startswith("<") and value.endswith(">"):
            parts.append(f"{key}={value}")
        else:
            parts.append(f"{key}=\"{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}\"")
    return " ".join(parts)


def _html_label(*lines: tuple[str, str]) -> str:
    """A Graphviz HTML-like label: (text, style) lines; style is "b", "small", "value" or ""."""
    rows = []
    for text, style in lines:
        text = html.escape(text, quote=False) or " "
        if style == "b":
            rows.append(f"<b>{text}</b>")
        elif style == "small":
            rows.append(f"<font point-size=\"8\" color=\"#4d5666\">{text}</font>")
        elif style == "value":
            rows.append(f"<font face=\"Courier\" point-size=\"10\"><b>{text}</b></font>")
        else:
            rows.append(text)
    return "<" + "<br/>".join(rows) + ">"


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[: limit // 2 - 1] + "…" + text[-(limit // 2 - 1):]


def _dot_node_attributes(node: PictureNode) -> dict[str, str]:
    fill = _FILL.get((node.kind, node.status), "#ffffff")
    stroke = _STROKE.get(node.status, _STROKE[""])
    style = "filled" + (",dashed" if node.status == "removed" else "") + (",bold" if node.status == "added" else "")
    tooltip = f"{node.label} {node.name} {node.detail}".strip()
    if node.kind == "op":
        label = _html_label((node.label, "b"), (_short(node.name), "small"))
        return {"shape": "box", "style": "rounded," + style, "fillcolor": fill, "color": stroke, "label": label,
                "tooltip": tooltip}
    if node.kind == "constant":
        label = _html_label((_short(node.name), "small"), ("= " + _short(node.detail, 60), "value"))
        return {"shape": "note", "style": style, "fillcolor": fill, "color": stroke, "label": label, "tooltip": tooltip}
    label = _html_label((_short(node.name), ""), (_short(node.detail, 60), "small")) if node.detail else \
        _html_label((_short(node.name), ""))
    return {"shape": "ellipse" if node.kind == "input" else "box", "style": style + ",rounded" if node.kind == "output" else style,
            "fillcolor": fill, "color": stroke if node.status else "#9aa5b8", "label": label, "tooltip": tooltip,
            "fontsize": "9"}


def _dot_edge_attributes(edge: PictureEdge, compact: bool) -> dict[str, str]:
    label = edge.shape if compact else "\n".join(p for p in (_short(edge.tensor, 40), edge.shape) if p)
    return {"label": label, "tooltip": f"{edge.tensor} {edge.shape}".strip()}


def _clean_svg(svg: str) -> str:
    """dot's SVG without the XML prolog, DOCTYPE and comments before the ``<svg>`` element."""
    start = svg.find("<svg")
    return svg[start:].strip() if start >= 0 else svg


def _svg_width(svg: str) -> float:
    """The natural width of an SVG in CSS pixels (dot writes points)."""
    match = re.search(r'<svg[^>]*?\swidth="([\d.]+)(pt|px)?"', svg)
    if not match:
        return 0.0
    return float(match.group(1)) * (4 / 3 if match.group(2) == "pt" else 1)


def _has_grandalf() -> bool:
    try:
        import grandalf  # noqa: F401
    except ImportError:
        return False
    return True


def _text_width(text: str, size: float) -> float:
    return 0.6 * size * len(text)  # Helvetica-ish average advance


def _node_box(node: PictureNode, folded: Sequence[PictureNode] = ()) -> tuple[float, float, list[tuple[str, str]]]:
    if node.kind == "op":
        lines = [(node.label, "b"), (_short(node.name), "small")]
    elif node.kind == "constant":
        lines = [(_short(node.name), "small"), ("= " + _short(node.detail, 60), "value")]
    else:
        lines = [(_short(node.name), "")] + ([(_short(node.detail, 60), "small")] if node.detail else [])
    lines += [(f"{_short(c.name, 28)} = {_short(c.detail, 40)}", "const") for c in folded]
    width = max(_text_width(text, 11 if style in ("b", "value") else 9) for text, style in lines) + 18
    return width, 14.0 * len(lines) + 10, lines


def _fold_constants(graph: Subgraph) -> tuple[Subgraph, dict[str, list[PictureNode]]]:
    """Constants that graphfix did not write, moved into the boxes of the nodes that read them.

    A Sugiyama layout ranks every source on the top layer, so constants drawn as their own boxes would
    pull long edges across the whole picture; dot ranks them next to their readers and needs no folding.
    """
    folded = {n.id: n for n in graph.nodes if n.kind == "constant" and n.status != "added"}
    into: dict[str, list[PictureNode]] = {}
    for edge in graph.edges:
        if edge.source in folded:
            into.setdefault(edge.target, []).append(folded[edge.source])
    nodes = tuple(n for n in graph.nodes if n.id not in folded)
    edges = tuple(e for e in graph.edges if e.source not in folded)
    return Subgraph(nodes, edges), into


def _grandalf_svg(graph: Subgraph) -> str | None:
    """Fallback picture: grandalf's Sugiyama layout, drawn as SVG here."""
    try:
        from grandalf.graphs import Edge, Graph, Vertex
        from grandalf.layouts import SugiyamaLayout
        from grandalf.routing import route_with_lines
    except ImportError:
        return None

    class _View:
        def __init__(self, w: float, h: float) -> None:
            self.w, self.h, self.xy = w, h, (0.0, 0.0)

    class _EdgeView:
        def __init__(self) -> None:
            self.points: list[tuple[float, float]] = []

        def setpath(self, points: list[tuple[float, float]]) -> None:
            self.points = points

    graph, folded = _fold_constants(graph)
    vertices = {}
    boxes = {}
    for node in graph.nodes:
        vertex = Vertex(node.id)
        width, height, lines = _node_box(node, folded.get(node.id, ()))
        vertex.view = _View(width, height)
        vertices[node.id] = vertex
        boxes[node.id] = (width, height, lines)
    edges = []
    for edge in graph.edges:
        if edge.source in vertices and edge.target in vertices:
            item = Edge(vertices[edge.source], vertices[edge.target], data=edge)
            item.view = _EdgeView()
            edges.append(item)
    layout_graph = Graph(list(vertices.values()), edges)
    offset = 0.0
    for component in layout_graph.C:
        sugiyama = SugiyamaLayout(component)
        sugiyama.xspace, sugiyama.yspace = 24, 48
        sugiyama.route_edge = route_with_lines
        sugiyama.init_all()
        sugiyama.draw(3)
        xs = [v.view.xy[0] - v.view.w / 2 for v in component.sV]
        shift = offset - min(xs)
        for vertex in component.sV:
            vertex.view.xy = (vertex.view.xy[0] + shift, vertex.view.xy[1])
        for item in component.sE:
            item.view.points = [(x + shift, y) for x, y in getattr(item.view, "points", [])]
        offset = max(v.view.xy[0] + v.view.w / 2 for v in component.sV) + 40
    all_v = list(vertices.values())
    bends = [point for item in edges for point in (item.view.points or [])]
    minx = min([v.view.xy[0] - v.view.w / 2 for v in all_v] + [x for x, _ in bends]) - 10
    maxx = max([v.view.xy[0] + v.view.w / 2 for v in all_v] + [x + 80 for x, _ in bends]) + 10
    miny = min([v.view.xy[1] - v.view.h / 2 for v in all_v] + [y for _, y in bends]) - 10
    maxy = max([v.view.xy[1] + v.view.h / 2 for v in all_v] + [y for _, y in bends]) + 10
    out = [(f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{maxx - minx:.0f}\" height=\"{maxy - miny:.0f}\" "
           f"viewBox=\"{minx:.0f} {miny:.0f} {maxx - minx:.0f} {maxy - miny:.0f}\" font-family=\"Helvetica,Arial,sans-serif\">"),
           ("<defs><marker id=\"gf-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" "
           "markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#7a869a\"/></marker></defs>")]
    for item in edges:
        points = item.view.points or [item.v[0].view.xy, item.v[1].view.xy]
        data: PictureEdge = item.data
        path = " L".join(f"{x:.1f},{y:.1f}" for x, y in points)
        label = data.shape  # names are in the tooltip: a Sugiyama layout leaves little room beside edges
        (x0, y0), (x1, y1) = points[-2], points[-1]
        out.append(f"<g class=\"edge\"><title>{html.escape(data.tensor)} {html.escape(data.shape)}</title>"
                   f"<path d=\"M{path}\" fill=\"none\" stroke=\"#7a869a\" marker-end=\"url(#gf-arrow)\"/>"
                   f"<text x=\"{(x0 + x1) / 2 + 4:.1f}\" y=\"{(y0 + y1) / 2:.1f}\" font-size=\"8\" fill=\"#4d5666\">"
                   f"{html.escape(label)}</text></g>")
    for node in graph.nodes:
        vertex = vertices[node.id]
        (x, y), (width, height, lines) = vertex.view.xy, boxes[node.id]
        fill = _FILL.get((node.kind, node.status), "#ffffff")
        stroke = _STROKE.get(node.status, _STROKE[""])
        dash = " stroke-dasharray=\"4,2\"" if node.status == "removed" else ""
        radius = "14" if node.kind in ("input", "output") else "4"
        out.append(f"<g class=\"node\"><title>{html.escape(node.label)} {html.escape(node.name)}</title>"
                   f"<rect x=\"{x - width / 2:.1f}\" y=\"{y - height / 2:.1f}\" width=\"{width:.1f}\" height=\"{height:.1f}\" "
                   f"rx=\"{radius}\" fill=\"{fill}\" stroke=\"{stroke}\"{dash}/>")
        top = y - height / 2 + 17
        for row, (text, style) in enumerate(lines):
            weight = " font-weight=\"bold\"" if style in ("b", "value") else ""
            size = 11 if style in ("b", "value") else 9
            family = " font-family=\"Courier,monospace\"" if style in ("value", "const") else ""
            out.append(f"<text x=\"{x:.1f}\" y=\"{top + 14 * row:.1f}\" text-anchor=\"middle\" font-size=\"{size}\""
                       f"{weight}{family}>{html.escape(text)}</text>")
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _table_picture(graph: Subgraph) -> str:
    names = {node.id: node for node in graph.nodes}
    rows = "".join(f"<tr class=\"{node.status}\"><td>{html.escape(node.kind)}</td><td>{html.escape(node.label)}</td>"
                   f"<td><code>{html.escape(node.name)}</code></td><td><code>{html.escape(node.detail)}</code></td></tr>"
                   for node in graph.nodes)
    edges = "".join(f"<tr><td><code>{html.escape(names[e.source].name)}</code></td><td><code>{html.escape(names[e.target].name)}"
                    f"</code></td><td><code>{html.escape(e.tensor)}</code></td><td>{html.escape(e.shape)}</td></tr>"
                    for e in graph.edges)
    return ("<table class=\"nodes\"><thead><tr><th>kind</th><th>op</th><th>name</th><th>value</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><table class=\"edges\"><thead><tr><th>from</th><th>to</th><th>tensor</th>"
            f"<th>shape</th></tr></thead><tbody>{edges}</tbody></table>")


_CSS = """
:root { --fg: #1d2330; --muted: #667085; --line: #d8dde6; --good: #1e8a3a; --bad: #c0392b; --bg2: #f6f8fb; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg); margin: 0 auto;
       padding: 16px 24px 48px; max-width: 1600px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; } h4 { font-size: 14px; margin: 0 0 4px; font-family: Menlo, Consolas, monospace; }
code { font: 12px Menlo, Consolas, monospace; background: var(--bg2); padding: 0 3px; border-radius: 3px; }
.meta, .muted { color: var(--muted); } .good { color: var(--good); font-weight: 600; } .bad { color: var(--bad); font-weight: 600; }
.error { color: var(--bad); } .note { background: #fff7e0; border: 1px solid #f1d58a; padding: 6px 10px; border-radius: 4px; }
.headline { font-size: 15px; font-weight: 600; }
table { border-collapse: collapse; margin: 4px 0 8px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: var(--bg2); font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.findings { width: 100%; } td.message { max-width: 900px; } .plan { margin-top: 2px; }
tr.sev-note td.code { color: var(--muted); } td.severity { white-space: nowrap; }
td.status.fixed { color: var(--good); font-weight: 600; } td.status.remains { color: #b26b00; font-weight: 600; }
tr.op-row.fewer td.delta { color: var(--good); } tr.op-row.more td.delta { color: var(--bad); } tr.total td { font-weight: 600; }
tr.output-row.fail td { background: #fdecea; }
.legend .key { display: inline-block; padding: 0 6px; border: 1px solid #4a5a75; border-radius: 3px; font-size: 12px; }
.key.removed { background: #fde3e1; border-color: #c0392b; border-style: dashed; } .key.added { background: #d9f2dd; border-color: #1e8a3a; }
.key.kept { background: #e8eef7; } .key.constant { background: #fbf3d5; } .key.boundary { background: #fff; border-color: #9aa5b8; border-radius: 9px; }
article.region { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; margin: 12px 0; }
.region-facts { margin: 0 0 4px; } ul.changes { margin: 2px 0 8px; padding-left: 18px; }
.pair { display: flex; gap: 12px; align-items: flex-start; }
figure.picture { margin: 0; border: 1px solid var(--line); border-radius: 4px; background: #fff; min-width: 22%;
                 flex: 1 1 0; }
figure.picture figcaption { font-weight: 600; padding: 4px 8px; background: var(--bg2); border-bottom: 1px solid var(--line); }
figure.picture[data-side="before"] figcaption { color: var(--bad); } figure.picture[data-side="after"] figcaption { color: var(--good); }
.canvas { overflow: auto; max-height: 80vh; padding: 6px; cursor: zoom-out; }
.canvas svg { display: block; margin: 0 auto; }
figure.fit .canvas svg { max-width: 100%; height: auto; } figure.fit .canvas { cursor: zoom-in; }
figure.picture.table { overflow: auto; max-height: 80vh; }
@media (max-width: 900px) { .pair { flex-direction: column; } figure.picture { width: 100%; } }
@media print { .canvas { max-height: none; overflow: visible; } }
"""

_SCRIPT = """
document.querySelectorAll('figure.picture .canvas').forEach(function (canvas) {
  canvas.addEventListener('click', function () { canvas.parentElement.classList.toggle('fit'); });
});
"""
