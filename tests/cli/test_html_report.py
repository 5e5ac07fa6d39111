"""The HTML report (graphfix/cli/html.py): structure from real fixes, fallbacks, and a headless Chromium render."""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import pytest
from graphs import RESIZE_SIZES, VIEW_SIZE0, parse, save
from onnx import TensorProto, helper, numpy_helper

import graphfix

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "detector_legacy.onnx"


def _html_module():
    try:
        from graphfix.cli import html  # the package layout after the restructure
    except ImportError:  # graphfix/cli.py is still a module: load the file itself
        name = "graphfix_cli_html_under_test"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, ROOT / "graphfix" / "cli" / "html.py")
        html = importlib.util.module_from_spec(spec)
        sys.modules[name] = html
        spec.loader.exec_module(html)
    return html


H = _html_module()
HAS_DOT = shutil.which("dot") is not None
HAS_GRANDALF = importlib.util.find_spec("grandalf") is not None
# Without Graphviz `dot` and grandalf the report lists each region as tables of nodes and edges.
DRAWN = HAS_DOT or HAS_GRANDALF


# -- a small DOM for the checks ------------------------------------------------------------------------


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element] = []
        self.text_parts: list[str] = []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        return "".join(self.text_parts) + "".join(child.text() for child in self.children)

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        return [e for e in self.iter() if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
                and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]


_VOID = {"meta", "br", "img", "link", "input", "hr", "col", "source"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in _VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.text_parts.append(data)


def dom(page: str) -> Element:
    builder = _Builder()
    builder.feed(page)
    builder.close()
    return builder.root


def assert_self_contained(root: Element) -> None:
    for element in root.iter():
        for key in ("src", "href", "xlink:href", "action", "data"):
            value = element.attrs.get(key, "")
            assert not value.lower().startswith(("http:", "https:", "//", "ftp:")), (element.tag, key, value)
        assert element.tag not in ("link", "iframe", "img", "object", "embed"), element.tag
        if element.tag == "script":
            assert "src" not in element.attrs
    text = root.text()
    assert "@import" not in text and "url(http" not in text


# -- fixtures ------------------------------------------------------------------------------------------


def fix_and_report(source: Path, tmp_path: Path, **render: str) -> tuple[object, str]:
    result = graphfix.fix(str(source), str(tmp_path / "fixed.onnx"))
    original = ir.load(str(source))  # fix() edits the model it loaded: the report reads the file again
    data = H.fix_report_input(original, result.model, result, file=str(source), atol=1e-5, rtol=1e-4)
    return result, H.render_html(data, **render)


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, str]:
    return fix_and_report(SAMPLE, tmp_path_factory.mktemp("sample"))


def regions(root: Element) -> list[Element]:
    return root.find_all("article", cls="region")


def figure(region: Element, side: str) -> Element:
    found = region.find_all("figure", data_side=side)
    assert len(found) == 1, f"{len(found)} {side} figures"
    return found[0]


def labels(picture: Element) -> set[str]:
    """The strings drawn in a picture (one per SVG <text>, or per table cell without a layout library)."""
    return {t.text().strip() for t in picture.find_all("text") + picture.find_all("td")}


def assert_drawn(picture: Element) -> None:
    """One SVG per picture when a layout library is installed, else the table form."""
    if DRAWN:
        assert picture.attrs["data-layout"] in ("dot", "grandalf") and len(picture.find_all("svg")) == 1
    else:
        assert picture.attrs["data-layout"] == "table" and picture.find_all("table")


def region_for(root: Element, title: str) -> Element:
    matches = [r for r in regions(root) if r.find_all("h4")[0].text() == title]
    assert len(matches) == 1, [r.find_all("h4")[0].text() for r in regions(root)]
    return matches[0]


# -- the fix report ------------------------------------------------------------------------------------


def test_every_finding_is_listed_with_its_safety_and_severity(sample_report: tuple[object, str]) -> None:
    result, page = sample_report
    root = dom(page)
    rows = root.find_all("tr", cls="finding")
    findings = [*result.applied, *result.remaining]
    assert len(findings) == 4 and len(rows) == len(findings)
    for finding, row in zip(findings, rows):
        assert row.attrs["data-code"] == finding.code
        assert finding.node_name in row.text() and finding.message in row.text()
        assert row.find_all("td", cls="severity")[0].text() == "warning"
        assert row.find_all("td", cls="fix")[0].text() == "yes"  # safe fixes
        assert row.find_all("td", cls="status")[0].text() == "fixed"
    assert_self_contained(root)


def test_op_table_has_every_op_with_its_counts(sample_report: tuple[object, str]) -> None:
    result, page = sample_report
    rows = {r.attrs["data-op"]: r for r in dom(page).find_all("tr", cls="op-row")}
    assert set(rows) == set(result.ops_before) | set(result.ops_after)
    for op, row in rows.items():
        cells = [c.text() for c in row.find_all("td")]
        assert cells[1:3] == [str(result.ops_before[op]), str(result.ops_after[op])], op
    assert rows["Shape"].find_all("td")[2].text() == "0" and "fewer" in rows["Shape"].classes


def test_verification_statistics_per_output_and_batch(sample_report: tuple[object, str]) -> None:
    result, page = sample_report
    root = dom(page)
    rows = root.find_all("tr", cls="output-row")
    expected = {(o.output, o.batch) for o in result.verification.outputs}
    assert {(r.attrs["data-output"], int(r.attrs["data-batch"])) for r in rows} == expected
    assert expected == {("boxes", 1), ("logits", 1), ("boxes", 3), ("logits", 3)}
    assert all("pass" in r.classes for r in rows)
    section = root.find_all("section", cls="verification")[0].text()
    assert "PASSED" in section and "ONNX Runtime" in section and "atol 1e-05" in section


def test_one_before_and_one_after_picture_per_rewritten_region(sample_report: tuple[object, str]) -> None:
    result, page = sample_report
    root = dom(page)
    assert [r.find_all("h4")[0].text() for r in regions(root)] == [f"{f.code} {f.node_name}" for f in result.applied]
    for region in regions(root):
        for side in ("before", "after"):
            assert_drawn(figure(region, side))


def test_pictures_show_removed_chain_and_written_values(sample_report: tuple[object, str]) -> None:
    _, page = sample_report
    root = dom(page)
    reshape = region_for(root, "GF101 /Reshape_2")
    before, after = figure(reshape, "before").text(), figure(reshape, "after").text()
    for name in ("/Shape_6", "/Gather_5", "/Unsqueeze_6", "/Concat_5", "/Reshape_2"):
        assert name in before, name
    assert "/Shape_6" not in after and "/Concat_5" not in after
    assert "[-1, 256]" in after and "graphfix/" in after  # the Reshape target graphfix wrote
    assert "[-1, 256]" in reshape.find_all("p", cls="region-facts")[0].text()
    resize = region_for(root, "GF201 /Resize")
    assert "[1, 1, 2, 2]" in figure(resize, "after").text()
    assert "Slice" in figure(resize, "before").text() and "Slice" not in figure(resize, "after").text()


def test_the_models_are_not_changed_by_building_the_report(tmp_path: Path) -> None:
    result = graphfix.fix(str(SAMPLE), str(tmp_path / "fixed.onnx"))
    original = ir.load(str(SAMPLE))
    before = (ir.serde.serialize_model(original).SerializeToString(),
              ir.serde.serialize_model(result.model).SerializeToString())
    H.fix_report_input(original, result.model, result, file="x")
    assert (ir.serde.serialize_model(original).SerializeToString(),
            ir.serde.serialize_model(result.model).SerializeToString()) == before


def test_tiny_graphs_regions_and_edge_shapes(tmp_path: Path) -> None:
    source = save(parse(VIEW_SIZE0), tmp_path / "view.onnx")
    _result, page = fix_and_report(source, tmp_path)
    root = dom(page)
    (region,) = regions(root)
    before, after = figure(region, "before"), figure(region, "after")
    assert {"Shape", "Gather", "Unsqueeze", "Concat", "Reshape"} <= labels(before)
    assert "Shape" not in labels(after) and "Reshape" in labels(after) and "[-1, 256]" in after.text()
    assert "float [N, 4, 8, 8]" in labels(before)  # edges carry the tensor's type and shape
    resize_source = save(parse(RESIZE_SIZES), tmp_path / "resize.onnx")
    _, page = fix_and_report(resize_source, tmp_path)
    (region,) = regions(dom(page))
    assert "[1, 1, 2, 2]" in figure(region, "after").text()


def test_pinned_input_and_output_dims_are_regions(tmp_path: Path) -> None:
    source = save(parse("""
agraph (float[N, 3, H, W] x) => (float[N, 3, H, W] y) {
    y = Relu(x)
}
"""), tmp_path / "dynamic.onnx")
    result = graphfix.fix(str(source), str(tmp_path / "fixed.onnx"), input_shapes={"x": [1, 3, 32, 32]})
    data = H.fix_report_input(ir.load(str(source)), result.model, result, file=str(source))
    root = dom(H.render_html(data))
    assert [r.find_all("h4")[0].text() for r in regions(root)] == ["GF301 x", "GF301 y"]  # y fixed in 2 rounds
    for name in ("x", "y"):
        region = region_for(root, f"GF301 {name}")
        assert "float [N, 3, H, W]" in figure(region, "before").text()
        assert "float [N, 3, 32, 32]" in figure(region, "after").text() and "Relu" in labels(figure(region, "after"))


def test_dynamo_export_region(tmp_path: Path) -> None:
    result, page = fix_and_report(ROOT / "samples" / "detector_dynamo.onnx", tmp_path)
    (region,) = regions(dom(page))
    assert region.find_all("h4")[0].text() == f"GF201 {result.applied[0].node_name}"
    assert "[1, 1, 2, 2]" in figure(region, "after").text()
    assert "Shape" in labels(figure(region, "before")) and "Shape" not in labels(figure(region, "after"))


def test_failed_verification_is_shown_as_failed() -> None:
    class Output:
        def __init__(self, batch: int, passed: bool) -> None:
            self.output, self.batch, self.max_abs, self.max_rel, self.passed = "y", batch, 0.5, 0.25, passed

    class Verification:
        passed, batches, message = False, (1, 3), "output 'y' differs at batch 3"
        outputs = (Output(1, True), Output(3, False))
        reference = "the original at its export batch"

    summary = H.verification_summary(Verification())
    section = H.ModelSection("m.onnx", (), ops=(H.OpRow("Shape", 1, 0),), verification=summary)
    root = dom(H.render_html(H.ReportInput("fix", (section,), "0")))
    rows = {int(r.attrs["data-batch"]): r for r in root.find_all("tr", cls="output-row")}
    assert "fail" in rows[3].classes and "pass" in rows[1].classes
    text = root.find_all("section", cls="verification")[0].text()
    assert "FAILED" in text and "differs at batch 3" in text and "the original at its export batch" in text
    assert "0.5" in rows[3].text()


# -- lint form, fallbacks, size ------------------------------------------------------------------------


def test_lint_form_lists_findings_of_several_models_without_pictures(tmp_path: Path) -> None:
    clean = parse("""
agraph (float[N, 4] x) => (float[N, 4] y) {
    y = Relu(x)
}
""")
    reports = [graphfix.lint(str(SAMPLE)), graphfix.lint(str(save(clean, tmp_path / "clean.onnx")))]
    root = dom(H.render_html(H.lint_report_input(reports)))
    assert [row.find_all("a")[0].text() for row in root.find_all("tr", cls="summary-row")] == [r.file for r in reports]
    rows = root.find_all("tr", cls="finding")
    assert len(rows) == len(reports[0].findings) == 4
    assert {r.attrs["data-code"] for r in rows} == {f.code for f in reports[0].findings}
    assert not root.find_all("svg") and not root.find_all("tr", cls="op-row") and not regions(root)
    assert "No findings." in root.find_all("section", cls="model")[1].text()
    assert_self_contained(root)


def test_lint_form_shows_files_that_could_not_be_read(tmp_path: Path) -> None:
    class Broken:
        file, findings, error, nodes, seconds = "broken.onnx", [], "broken.onnx: not an ONNX model", 0, 0.0

    root = dom(H.render_html(H.lint_report_input([Broken()])))
    assert "not an ONNX model" in root.find_all("section", id="summary")[0].text()
    assert "could not be checked" in root.find_all("p", cls="headline")[0].text()


@pytest.mark.skipif(not HAS_GRANDALF, reason="grandalf is not installed (pip install grandalf)")
def test_without_dot_the_page_says_so_and_grandalf_draws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(H.shutil, "which", lambda name: None)
    _, page = fix_and_report(SAMPLE, tmp_path)
    root = dom(page)
    assert "Graphviz `dot` was not found" in root.find_all("p", id="layout-note")[0].text()
    for region in regions(root):
        for side in ("before", "after"):
            picture = figure(region, side)
            assert picture.attrs["data-layout"] == "grandalf" and len(picture.find_all("svg")) == 1
    assert "[-1, 256]" in figure(region_for(root, "GF101 /Reshape_2"), "after").text()
    assert_self_contained(root)


def test_table_layout_lists_nodes_and_edges(tmp_path: Path) -> None:
    _, page = fix_and_report(SAMPLE, tmp_path, layout="table")
    root = dom(page)
    assert not root.find_all("svg")
    after = figure(region_for(root, "GF101 /Reshape_2"), "after")
    assert after.attrs["data-layout"] == "table" and "[-1, 256]" in after.text()


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz `dot` is not installed (apt-get install graphviz)")
def test_dot_draws_the_pictures(sample_report: tuple[object, str]) -> None:
    root = dom(sample_report[1])
    layouts = {f.attrs["data-layout"] for f in root.find_all("figure", cls="picture")}
    assert layouts == {"dot"}
    assert not root.find_all("p", id="layout-note")


def long_chain_model(links: int) -> onnx.ModelProto:
    """``x.view(x.size(0), f(x.size(1) * x.size(2) * x.size(3)))`` where f is 3 * links scalar ops that
    leave the value unchanged: a region of 11 + 3 * links nodes."""
    nodes, initializers = [], []

    def const(name: str, value: object) -> str:
        initializers.append(numpy_helper.from_array(np.array(value, dtype=np.int64), name))
        return name

    nodes.append(helper.make_node("Shape", ["x"], ["s"], name="/Shape"))
    for i in range(4):
        nodes.append(helper.make_node("Gather", ["s", const(f"i{i}", i)], [f"d{i}"], name=f"/Gather_{i}", axis=0))
    nodes.append(helper.make_node("Mul", ["d1", "d2"], ["m0"], name="/Mul_0"))
    nodes.append(helper.make_node("Mul", ["m0", "d3"], ["m1"], name="/Mul_1"))
    acc = "m1"
    for k in range(links):
        nodes.append(helper.make_node("Add", [acc, const(f"k{k}", k + 1)], [f"a{k}"], name=f"/chain/Add_{k}"))
        nodes.append(helper.make_node("Sub", [f"a{k}", f"k{k}"], [f"b{k}"], name=f"/chain/Sub_{k}"))
        nodes.append(helper.make_node("Mul", [f"b{k}", const(f"one{k}", 1)], [f"c{k}"], name=f"/chain/Mul_{k}"))
        acc = f"c{k}"
    nodes.append(helper.make_node("Unsqueeze", ["d0", const("ax0", [0])], ["u0"], name="/Unsqueeze_0"))
    nodes.append(helper.make_node("Unsqueeze", [acc, const("ax1", [0])], ["u1"], name="/Unsqueeze_1"))
    nodes.append(helper.make_node("Concat", ["u0", "u1"], ["target"], name="/Concat", axis=0))
    nodes.append(helper.make_node("Reshape", ["x", "target"], ["y"], name="/Reshape"))
    graph = helper.make_graph(nodes, "long_chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 256])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.mark.parametrize("layout", ["auto", "grandalf"])
def test_a_200_node_region_is_drawn_whole(tmp_path: Path, layout: str) -> None:
    if layout == "grandalf" and not HAS_GRANDALF:
        pytest.skip("grandalf is not installed (pip install grandalf)")
    source = save(long_chain_model(63), tmp_path / "long.onnx")
    result, page = fix_and_report(source, tmp_path, layout=layout)
    assert result.ops_before.total() == 200 and result.ops_after.total() == 1
    (region,) = regions(dom(page))
    before = figure(region, "before")
    assert_drawn(before)
    text = before.text()
    assert all(f"/chain/Sub_{k}" in text for k in range(63))
    assert "before: 200 nodes (199 removed)" in region.find_all("p", cls="region-facts")[0].text()
    assert "[-1, 256]" in figure(region, "after").text()


# -- rendering in a real browser -----------------------------------------------------------------------


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def read_png(path: Path) -> tuple[int, int, np.ndarray]:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) into an H x W x C array."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, header = 8, [], None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        offset += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 3 if color == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8).reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), dtype=np.int32)
    prev = np.zeros(width * channels, dtype=np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        row = np.zeros_like(line)
        if kind == 0:
            row = line
        elif kind == 2:
            row = (line + prev) & 255
        elif kind in (1, 3, 4):  # these depend on the pixel to the left: decode pixel by pixel
            for x in range(width * channels):
                a = row[x - channels] if x >= channels else 0
                b, c = prev[x], (prev[x - channels] if x >= channels else 0)
                if kind == 1:
                    predictor = a
                elif kind == 3:
                    predictor = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
                row[x] = (line[x] + predictor) & 255
        out[y], prev = row, row
    return width, height, out.reshape(height, width, channels)[:, :, :3]


@pytest.mark.skipif(_browser() is None, reason="no Chromium/Chrome installed (apt-get install chromium)")
@pytest.mark.skipif(not DRAWN, reason="no layout library (Graphviz dot or grandalf) to draw the pictures")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    source = save(parse(VIEW_SIZE0), tmp_path / "view.onnx")
    _, page = fix_and_report(source, tmp_path)
    (tmp_path / "report.html").write_text(page, encoding="utf-8")
    shot = tmp_path / "shot.png"
    profile = tempfile.mkdtemp(prefix="graphfix-chromium-")
    try:
        subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", "--hide-scrollbars", "--window-size=1200,1600",
                        f"--screenshot={shot}", (tmp_path / "report.html").as_uri()],
                       check=True, capture_output=True, timeout=120, env={**os.environ, "HOME": profile})
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    width, height, pixels = read_png(shot)
    assert (width, height) == (1200, 1600)
    flat = pixels.reshape(-1, 3)
    assert (flat.min(axis=1) < 128).mean() > 0.002, "no text was drawn"
    # The pictures' fills: removed nodes (#fde3e1) in "before", the written constant (#bfe8c6) in "after".
    removed = np.all(np.abs(flat - [0xFD, 0xE3, 0xE1]) <= 2, axis=1).sum()
    written = np.all(np.abs(flat - [0xBF, 0xE8, 0xC6]) <= 2, axis=1).sum()
    assert removed > 5000, f"{removed} pixels of removed nodes: the before picture was not drawn"
    assert written > 1000, f"{written} pixels of the written constant: the after picture was not drawn"
