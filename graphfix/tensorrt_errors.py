"""TensorRT parser and builder errors a rule explains, declared by the rule as data (``tensorrt_errors``).

The same shape as ``graphfix.linting.TensorRTError`` of the pipeline layout: a regular expression searched
in TensorRT's text, the failing node's op types, and a priority (lowest wins when several rules match).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TensorRTError:
    """A TensorRT ONNX-parser or builder error that a rule's finding explains."""

    message: str  # searched in TensorRT's text (case insensitive)
    ops: frozenset[str] = frozenset()  # the failing node's op must be one of these (empty: any op)
    # When TensorRT names no op: this must also be in the text for the pattern to apply (None: it applies
    # only when ``ops`` is empty).
    unknown_op: str | None = None
    priority: int = 50

    def matches(self, op_type: str | None, text: str) -> bool:
        if re.search(self.message, text, re.IGNORECASE) is None:
            return False
        if op_type:
            return not self.ops or op_type in self.ops
        if not self.ops:
            return True
        return self.unknown_op is not None and re.search(self.unknown_op, text, re.IGNORECASE) is not None
