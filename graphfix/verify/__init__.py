"""Stage 7, verify: the fixed model must compute what the original computes.

Takes the original and the fixed model (files), the original's input interface
(:func:`input_specs`), the batch sizes (:func:`verification_batches`) and tolerances; gives a
:class:`Verification` from the one comparator (:mod:`graphfix.compare`), ONNX Runtime on both sides,
seeded random inputs that are valid for integer inputs (:func:`integer_ranges`).

Must never: blame the fixed model when the original cannot run (the message names the original, the batch
and the node), compare at a batch size the original cannot run at (it is left out and reported), or pass
a repaired baked batch on its export batch alone (it is verified per sample at 1, 3 and the export batch).
"""

from graphfix.verify.inputs import (
           DEFAULT_DYNAMIC_DIM,
           InputSpec,
           input_shapes_for,
           input_specs,
           integer_ranges,
)
from graphfix.verify.policy import DEFAULT_ATOL, DEFAULT_RTOL, Verification, verification_batches, verify
from graphfix.verify.ties import SORT_LIKE, tie_outputs

__all__ = ["DEFAULT_ATOL", "DEFAULT_DYNAMIC_DIM", "DEFAULT_RTOL", "InputSpec", "Verification", "input_shapes_for",
           "input_specs", "integer_ranges", "SORT_LIKE", "tie_outputs", "verification_batches", "verify"]
