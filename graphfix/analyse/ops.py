"""What the analysis knows about ONNX operators: which outputs depend on data. Which operands carry
shapes, and where each is in a given opset, is :mod:`graphfix.analyse.operands`."""

from __future__ import annotations

from graphfix.analyse.operands import STANDARD_DOMAINS, is_standard, iter_shape_inputs

__all__ = ["DATA_DEPENDENT_OPS", "STANDARD_DOMAINS", "is_standard", "iter_shape_inputs"]

# Ops whose output shape depends on tensor values, not on input shapes.
DATA_DEPENDENT_OPS = frozenset({"NonZero", "Unique", "NonMaxSuppression", "Compress", "Loop", "If", "Scan",
                                "StringSplit", "TfIdfVectorizer"})
