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

Modules: :mod:`.data` (the input dataclasses), :mod:`.build` (building it from graphfix objects),
:mod:`.draw` (the pictures), :mod:`.page` (the page).
"""

from __future__ import annotations

import shutil  # the layout falls back when shutil.which("dot") finds nothing (tests patch it here)

from graphfix.cli.html.build import (
    build_regions,
    finding_row,
    fix_report_input,
    format_values,
    lint_report_input,
    node_label,
    severity,
    verification_summary,
)
from graphfix.cli.html.data import (
    CREATED_PREFIX,
    MAX_PICTURE_NODES,
    MAX_SHOWN_ELEMENTS,
    FindingRow,
    Layout,
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
from graphfix.cli.html.draw import dot_source
from graphfix.cli.html.page import render_html

__all__ = [
    "CREATED_PREFIX", "MAX_PICTURE_NODES", "MAX_SHOWN_ELEMENTS", "FindingRow", "Layout", "ModelSection", "OpRow",
    "OutputCheck", "PictureEdge", "PictureNode", "Region", "ReportInput", "Subgraph", "VerificationSummary",
    "build_regions", "dot_source", "finding_row", "fix_report_input", "format_values", "lint_report_input",
    "node_label", "render_html", "severity", "shutil", "verification_summary",
]
