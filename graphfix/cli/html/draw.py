"""The HTML report's pictures: a ``Subgraph`` as inline SVG, laid out by Graphviz ``dot``, else grandalf,
else listed as tables."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from graphfix.cli.html.data import (
    COMPACT_EDGE_LABELS,
    DOT_TIMEOUT,
    MAX_PICTURE_NODES,
    Layout,
    PictureEdge,
    PictureNode,
    Subgraph,
)

# -- pictures ----------------------------------------------------------------------------------------

_FILL = {("op", ""): "#e8eef7", ("op", "removed"): "#fde3e1", ("op", "added"): "#d9f2dd",
         ("constant", ""): "#fbf3d5", ("constant", "removed"): "#fde3e1", ("constant", "added"): "#bfe8c6",
         ("input", ""): "#ffffff", ("input", "added"): "#d9f2dd", ("output", ""): "#ffffff",
         ("output", "added"): "#d9f2dd"}
_STROKE = {"": "#4a5a75", "removed": "#c0392b", "added": "#1e8a3a"}


class Drawer:
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


