"""Building the HTML report's input from graphfix objects: findings, op counts, verification, and the
regions a fix rewrote (the original's and the fixed model's subgraphs)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx_ir as ir

from graphfix.cli.html.data import (
    CREATED_PREFIX,
    MAX_SHOWN_ELEMENTS,
    FindingRow,
    ModelSection,
    OpRow,
    OutputCheck,
    PictureEdge,
    PictureNode,
    Region,
    ReportInput,
    Subgraph,
    VerificationSummary,
)


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


