"""GF902 analysis-incomplete

## What it finds
A place where graphfix's shape analysis could not finish: an op with no ONNX schema, a custom op whose
reference failed on the probes, a local function, a shape inference error, or a graph input without a declared shape.

## Why it hurts TensorRT
Not a TensorRT problem by itself, but the shapes after this point are unknown to graphfix, so its
other rules cannot check or fix what follows. A custom op without a reference implementation is not
reported here but by GF402, which says both ways out (``--custom-ops``, ``--plugins``); with a reference,
the analysis runs it and sees through it.

## Example
```text
y = Relu(x)          # x: a graph input declared without a shape
```

## Fixed
Give input shapes with ``--input-shape``, or check the node; graphfix reports this and does not rewrite
it. A rule that crashed is reported as GF999 (please report those).
"""

from __future__ import annotations

from collections.abc import Iterator

import onnx_ir as ir

from graphfix.ir import node_label
from graphfix.linting import Context, Finding, FixAvailability, Rule, Severity, TensorRTError
from graphfix.plugins.nodes import is_custom


class AnalysisIncomplete(Rule):
    code = "GF902"
    name = "analysis-incomplete"
    summary = "shape analysis could not see through a node"
    fix_availability = FixAvailability.NEVER
    severity = Severity.NOTE
    # The plugin rules (GF401 for a Plugin node, GF402 for other custom ops) explain these first; this
    # is the fallback when they are not selected.
    tensorrt_errors = (
        TensorRTError(r"plugin not found|no importer registered|could not find plugin|getplugincreator"
                      r"|plugin creator", priority=90),
        TensorRTError(r"", ops=frozenset({"Plugin"}), priority=90),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        analysis = ctx.analysis
        for name in analysis.unshaped_inputs:
            yield self.finding(f"input {name!r} has no declared shape; give one with --input-shape", None,
                               reason="no input shape")
        explained = analysis.batch.explained_failures
        seen: set[ir.Node] = set()
        functions = {(f.domain, f.name) for f in ctx.model.functions.values()}
        for issue in analysis.issues:
            if issue.kind == "data-dependent" or issue.node in seen:
                continue
            if issue.node in explained:
                seen.add(issue.node)
                ctx.skip(issue.node, "its failure at other batch sizes follows from a baked batch, reported "
                                     "where the batch is baked")
                continue
            seen.add(issue.node)
            if issue.kind == "unknown-op" and is_custom(issue.node, functions):
                # GF402 reports a custom op with no reference, with both ways out (a reference, a plugin);
                # with a reference the analysis sees through it and there is no issue to report.
                ctx.skip(issue.node, "a custom op without a reference: the custom-op rule reports it")
                continue
            if issue.probe is not None and issue.probe == analysis.dim_probe:
                # Fails only when a dynamic non-batch dim moves: a size frozen at export, not the batch.
                moved = analysis.probes[issue.probe].dims
                names = ", ".join(f"{k.removeprefix('sym:')} {analysis.probes[0].dims[k]} -> {v}" for k, v in moved.items()
                                  if analysis.probes[0].dims.get(k) != v)
                yield self.finding(f"{issue.node.op_type} {node_label(issue.node)!r} fails when a dynamic non-batch "
                                   f"dim changes ({names}) but not at other batch sizes: a non-batch dim (H, W or "
                                   "a length) was frozen at export (int() of x.shape[2] or similar): "
                                   f"{issue.message}; pin it with --input-shape or re-export with sizes taken "
                                   "from x.shape", issue.node, reason="frozen non-batch dim")
                continue
            at = f" at batch {analysis.probes[issue.probe].batch}" if issue.probe is not None else ""
            yield self.finding(f"{issue.node.op_type} {node_label(issue.node)!r}{at}: {issue.message}",
                               issue.node, reason=issue.kind)
