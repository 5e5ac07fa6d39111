"""GF501 operator-not-imported

## What it finds
An ONNX operator that the target TensorRT version's ONNX parser has no importer for (``Unique``,
``BitwiseAnd`` and ``Col2Im`` before 10.x, ``Gelu`` and ``Mish`` in 8.6, the sequence and string
operators everywhere), an operator whose version the model's opset selects but the importer does not
implement (opset-21 ``GroupNormalization`` in 8.6), and, on TensorRT 8.6, a call to a local function
(the parser imports functions from 10.0). The target version is ``--trt-version`` (``8.6``, ``10``,
``10.12``, ``11``), else the installed TensorRT's, else the newest support table; the summary line
names it. The check is static: TensorRT is not needed.

## Why it hurts TensorRT
The parser looks a node up by its op type. Without an importer it treats the node as a plugin, finds
none, and the parse fails ("No importer registered for op: X ... Plugin not found"). Nodes of a custom
domain take that plugin path on purpose: they are not GF501 but GF506 ("needs a TensorRT plugin").

## Example
```text
y = Gelu(x)                      # opset 20; TensorRT 8.6 imports no Gelu
```

## Fixed
```text
y = Mul(Mul(x, 0.5), Add(Erf(Div(x, 1.414...)), 1))    # what graphfix fix writes for opset 17 (GF504)
```
graphfix does not rewrite operators one by one. Where the model's opset is above what the target
parses, GF504's fix converts the whole model down (onnx's version converter plus graphfix's adapters,
which write Gelu and Mish in older operators); otherwise the finding says which TensorRT versions
import the operator, so you can change the model code or the target.

## Reading a finding
```text
model.onnx: /act/Gelu GF501 Gelu '/act/Gelu': TensorRT 8.6 has no importer for Gelu (...); it is
imported from TensorRT 10.0 ...; graphfix fix converts the model to opset 17 (GF504) ... [table trt-8.6]
```
Every GF5xx finding names the node (its name, or its op and first output; ``(in function 'f')`` or
``(in the then_branch of If 'x')`` for nodes of a function body or a subgraph), what the node has, what
the named TensorRT version does with it (the parser rejects it; it imports it but computes something
else; its operator matrix says it is unsupported), what to do, and in brackets the support-table entry
it comes from: ``[Resize/attribute-value/mode]`` is a restriction id of
``graphfix/targets/tables/trt-<version>.json``, where its ``cite`` says which line of onnx-tensorrt
states it. ``info`` findings (``--format json``: ``"severity": "info"``) are information: a restriction
the graph alone cannot decide, or INT64 values TensorRT narrows itself; they never make lint exit 1.
``graphfix rules`` lists the tables and the version a run checks.

## Fix safety
No fix of its own (see GF504).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator

import onnx.defs

from graphfix.ir.graphutil import node_label
from graphfix.linting import Context, Finding, FixAvailability, Rule, TensorRTError
from graphfix.targets import is_default_domain
from graphfix.targets._support import OperatorVersion
from graphfix.targets.check import violations
from graphfix.targets.sites import local_function_calls, sites
from graphfix.targets.target import target_for
from graphfix.targets.wording import explain, versions_importing



@functools.cache
def _onnx_operator_names() -> frozenset[str]:
    return frozenset(s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain in ("", "ai.onnx"))


class OnnxOperators(Collection[str]):
    """Every operator of the ONNX default domain, answered by ``onnx.defs.has``: listing the schemas when
    the rule is imported would cost every ``graphfix lint`` 15-40 ms of start-up for a set only TensorRT
    error matching reads."""

    def __contains__(self, op_type: object) -> bool:
        return isinstance(op_type, str) and bool(onnx.defs.has(op_type))

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(_onnx_operator_names()))

    def __len__(self) -> int:
        return len(_onnx_operator_names())

    def __bool__(self) -> bool:
        return True  # never empty, known without listing the schemas


_ONNX_OPS = OnnxOperators()


class OperatorNotImported(Rule):
    code = "GF501"
    name = "operator-not-imported"
    summary = "an operator (or operator version) the target TensorRT version's ONNX parser does not import"
    fix_availability = FixAvailability.NEVER
    checks_trt_target = True
    tensorrt_errors = (
        TensorRTError(r"no importer registered for op|plugin not found|getPluginCreator could not find",
                      ops=_ONNX_OPS, priority=-5),  # before GF902's generic plugin text
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        from graphfix.analyse.opset import DECOMPOSED_OPS

        target = target_for(ctx)
        table, version = target.table, target.version
        analysis = ctx.analysis
        if not table.dispatch.get("local_functions", False) and ctx.model.functions:
            for node, function in local_function_calls(ctx.model):
                yield self.finding(
                    f"{node.op_type} {node_label(node)!r} calls local function {function.domain}::{function.name}; "
                    f"TensorRT {version}'s parser imports no local functions (from 10.0 on it does) and "
                    "looks the node up as a plugin; inline the function (onnx.inliner.inline_local_functions) "
                    f"or target TensorRT 10+ [table trt-{table.version}: dispatch.local_functions]", node)
        converts = analysis.opset > table.opset.max
        for site in sites(analysis, table):
            node = site.node
            if not is_default_domain(node.domain) or node.op_type == "Plugin":
                continue  # the plugin path: GF506
            entry = table.operator(node.op_type)
            if entry is None or not entry.supported:
                later = [v for v in versions_importing(node.op_type) if v != table.version]
                where = "the operator matrix lists it as unsupported" if entry is not None else \
                    "it is not in the operator matrix"
                advice = (f"TensorRT {later[0]} and later import it" if later else
                          "no TensorRT version graphfix knows imports it: rewrite it in the model code or "
                          "write a TensorRT plugin for it")
                if converts and node.op_type in DECOMPOSED_OPS:
                    advice = (f"graphfix fix converts the model to opset {table.opset.max} (GF504), which writes "
                              f"{node.op_type} with operators TensorRT {version} imports; or: " + advice)
                yield self.finding(
                    f"{node.op_type} {site.label!r}: TensorRT {version} has no importer for {node.op_type} "
                    f"({where}); the parser looks it up as a plugin and fails; {advice} "
                    f"[table trt-{table.version}: operators.{node.op_type}]", node)
                continue
            for violation in violations(analysis, table, site):
                if isinstance(violation.restriction, OperatorVersion):
                    yield self.finding(explain(violation, version, "export with an older opset, or use a newer "
                                                                   "TensorRT"), node)
