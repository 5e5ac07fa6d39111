"""Explicit Squeeze axes from the shape analysis: a helper any rule can use (GF502 for TensorRT's importer,
GF101 for shape inputs computed at run time).

A Squeeze without axes removes every dim of size 1, decided at run time from the input's shape. With
only the batch dynamic, the dims that are 1 at every probe are the ones the model means; the batch
itself is 1 only at batch 1, where the axis-less Squeeze also drops it (verification at batch 1 shows
whether anything downstream sees that).
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from graphfix.analysis import Analysis, Kind
from graphfix.engine import SetInputs
from graphfix.rewrites import Rewrite


def squeeze_axes(analysis: Analysis, node: ir.Node) -> Rewrite:
    """The constant axes input of an axis-less Squeeze (int64, ascending), or the reason there is none."""
    if node.op_type != "Squeeze" or not node.inputs or node.inputs[0] is None:
        return Rewrite(None, "not a Squeeze with an input")
    if analysis.opset < 13:
        return Rewrite(None, f"before opset 13 Squeeze's axes are an attribute (opset {analysis.opset}); "
                             "re-export with x.squeeze(dim)")
    source = node.inputs[0]
    facts = analysis.facts.get(source)
    if facts is None or any(s is None for s in facts.shapes):
        return Rewrite(None, "the Squeeze input's shape is not known")
    ranks = {len(s) for s in facts.shapes}  # type: ignore[arg-type]
    if len(ranks) != 1:
        return Rewrite(None, "the Squeeze input's rank changes with the batch")
    axes: list[int] = []
    for axis in range(ranks.pop()):
        kind = analysis.dim_kind(source, axis)
        if kind is Kind.UNKNOWN:
            return Rewrite(None, f"dim {axis} of the Squeeze input is not known")
        if kind is Kind.CONSTANT and facts.shapes[0][axis] == 1:  # type: ignore[index]
            axes.append(axis)
    if not axes:
        return Rewrite(None, "no dim of the Squeeze input is 1 at every batch size")
    return Rewrite(np.array(axes, dtype=np.int64))


def squeeze_axes_plan(analysis: Analysis, node: ir.Node) -> tuple[SetInputs | None, str | None]:
    """The plan that gives an axis-less Squeeze its axes input, or the reason it cannot."""
    rewrite = squeeze_axes(analysis, node)
    if rewrite.value is None:
        return None, rewrite.reason
    return SetInputs(node, {1: rewrite.value}), None
