"""How a GF5xx finding reads: the node, what it has, what the target TensorRT does with it, what to do, and the
support-table entry it comes from (``[Resize/attribute-value/mode]``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphfix.targets._support import (
    AttributeAbsent,
    AttributeDefaultDiffers,
    AttributeIgnored,
    AttributeRequires,
    AttributeValue,
    InputAbsent,
    InputConstant,
    InputStaticShape,
    OperatorVersion,
    OutputAbsent,
    Rank,
    SplitEqualParts,
    SqueezeAxesRequiredForDynamic,
)
from graphfix.targets.check import Violation
from graphfix.targets.sites import show

# -- wording --------------------------------------------------------------------------------------------

_EFFECT = {
    "error": "TensorRT {v}'s parser rejects it",
    "silent": "TensorRT {v} imports it but computes something else",
    "documented": "TensorRT {v}'s operator matrix (operators.md) says it is not supported",
}


def explain(violation: Violation, version: str, advice: str = "") -> str:
    """One line: the node, what it has, what TensorRT ``version`` does with it, and what to do."""
    node = violation.site.node
    r = violation.restriction
    head = f"{node.op_type} {violation.site.label!r}: {violation.problem}"
    if r is None:
        return f"{head}; {advice}" if advice else head
    rule = r.text
    if not violation.decided:
        body = (f"could not be decided statically whether TensorRT {version} accepts it ({rule}); "
                "check it with trtexec or polygraphy on the target")
    else:
        body = _EFFECT.get(r.effect, "TensorRT {v} rejects it").format(v=version) + f" ({rule})"
        if r.effect == "documented":
            body += "; the parser source read does not enforce it, so TensorRT may still build it"
    tail = f"; {advice}" if advice and violation.decided else ""
    return f"{head}; {body}{tail} [{r.id}]"


def advice_for(violation: Violation) -> str:
    """What to do about a violation, by restriction kind."""
    r = violation.restriction
    if r is None:
        return ""
    if violation.fix_value is not None:
        return f"graphfix fix writes the constant {show(np.asarray(violation.fix_value).tolist())}"
    if isinstance(r, InputConstant):
        return "compute it from constants, or pin the dims it depends on (--input-shape)" \
            if r.constant == "build-time" else "make it a constant (an initializer)"
    if isinstance(r, (AttributeValue, AttributeRequires)):
        return f"use a supported {r.attribute} in the model code, or a TensorRT version that supports it"
    if isinstance(r, (AttributeIgnored, AttributeAbsent)):
        return f"leave {r.attribute} unset (or at its default), or convert to an opset before it existed"
    if isinstance(r, OutputAbsent):
        return f"do not produce {r.name} (remove the output; it is only needed for training)"
    if isinstance(r, InputAbsent):
        return f"drop the {r.name} input (graphfix fix converts opset-18 forms down for TensorRT 8.6)"
    if isinstance(r, SqueezeAxesRequiredForDynamic):
        return "give the dim: x.squeeze(1), not x.squeeze()"
    if isinstance(r, SplitEqualParts):
        return "pass the split sizes explicitly (torch.split with a list)"
    if isinstance(r, (Rank, InputStaticShape)):
        return "reshape around the node, or pin the dim with --input-shape"
    if isinstance(r, OperatorVersion):
        return "export with an older opset, or use a newer TensorRT"
    if isinstance(r, AttributeDefaultDiffers):
        return f"set {r.attribute}={r.onnx_default} explicitly"
    op = violation.site.node.op_type
    if op == "If":
        return ("make both branches give the same ranks (in torch, squeeze/reshape with explicit dims the exporter "
                "knows, so no If is recorded)")
    if op == "Einsum":
        return "expand the operand to the full size first, or write the product with matmul"
    return "rewrite this part of the model, or use a TensorRT version that supports it"




def versions_importing(op_type: str) -> list[str]:
    """The table versions whose parser imports ``op_type`` (oldest first)."""
    from graphfix.targets import iter_tables

    return [table.version for table in iter_tables() if table.imports(op_type)]


def error_finding_kwargs(violation: Violation) -> dict[str, Any]:
    """``severity`` for a finding made from ``violation``: undecided ones are information."""
    return {"severity": "error" if violation.decided else "info"}
