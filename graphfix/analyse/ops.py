"""What the analysis knows about ONNX operators: which inputs carry shapes, which outputs depend on data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import onnx_ir as ir

if TYPE_CHECKING:
    from graphfix.analyse.analysis import Analysis

STANDARD_DOMAINS = ("", "ai.onnx")

# Inputs of each op that carry shapes (or sizes, indices along axes) rather than data.
SHAPE_INPUTS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,),
    "Expand": (1,),
    "Tile": (1,),
    "ConstantOfShape": (0,),
    "Slice": (1, 2, 3, 4),
    "Range": (0, 1, 2),
    "Squeeze": (1,),
    "Unsqueeze": (1,),
    "Pad": (1, 3),
    "TopK": (1,),
    "Resize": (1, 2, 3),
    "Upsample": (1,),
    "Split": (1,),
    "ReduceSum": (1,),
    "ReduceMean": (1,),
    "ReduceMax": (1,),
    "ReduceMin": (1,),
    "ReduceProd": (1,),
    "ReduceL2": (1,),
    "OneHot": (1,),
    "CumSum": (1,),
    "Trilu": (1,),
    "CenterCropPad": (1,),
}

# Ops whose output shape depends on tensor values, not on input shapes.
DATA_DEPENDENT_OPS = frozenset({"NonZero", "Unique", "NonMaxSuppression", "Compress", "Loop", "If", "Scan",
                                "StringSplit", "TfIdfVectorizer"})

# Ops whose output's leading dim is set by a constant shape input (that input's index): where a batch
# baked into a constant enters the graph.
SHAPED_BY_INPUT: dict[str, int] = {"Expand": 1, "Tile": 1, "ConstantOfShape": 0, "Reshape": 1}


def is_standard(node: ir.Node) -> bool:
    """Whether ``node`` is in the default ONNX domain."""
    return node.domain in STANDARD_DOMAINS


def iter_shape_inputs(analysis: Analysis) -> Iterator[tuple[ir.Node, int, ir.Value]]:
    """Every (node, input index, value) where a standard op takes a shape-carrying input, in
    topological order."""
    for node in analysis.order:
        if not is_standard(node):
            continue
        for index in SHAPE_INPUTS.get(node.op_type, ()):
            if index < len(node.inputs):
                value = node.inputs[index]
                if value is not None:
                    yield node, index, value
