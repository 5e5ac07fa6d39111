"""Rendering the HTML report: the page, its sections and tables, its CSS and script."""

from __future__ import annotations

import html
from collections.abc import Iterable

from graphfix.cli.html.data import Layout, ModelSection, ReportInput
from graphfix.cli.html.draw import Drawer

# -- rendering ---------------------------------------------------------------------------------------


def render_html(report: ReportInput, *, layout: Layout = "auto") -> str:
    """The whole page as one string (UTF-8 HTML, no external resources).

    ``layout``: ``"auto"`` (``dot`` when it is installed, else grandalf, else tables), or one of
    ``"dot"``, ``"grandalf"``, ``"table"`` to force it (``"dot"`` raises ``RuntimeError`` when ``dot``
    is missing).
    """
    drawer = Drawer(layout)
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


def _model_section(model: ModelSection, index: int, command: str, drawer: Drawer) -> str:
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


def _regions_section(model: ModelSection, index: int, drawer: Drawer) -> str:
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
