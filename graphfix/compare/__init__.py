"""Stage 10, compare (and the core of verify and of the precision check): one comparator for every pair
of models.

Takes two :class:`Side` s (a reference and a candidate: ONNX Runtime on a model, TensorRT on an engine,
or a function such as the fp16 emulation), seeded :class:`Inputs` per batch size, and a tolerance policy
stated by the caller (:class:`Tolerance`, elementwise through Polygraphy's ``SimpleCompareFunc``, or
:class:`Thresholds`, cosine similarity and SNR); gives one :class:`Comparison`: passed, one
:class:`OutputComparison` per (output, batch) with max abs/rel error, cosine, SNR, non-finite count and
shape/dtype mismatches, and a message.

Must never: re-implement the loop elsewhere, raise when a side fails to load or run (that is a failed
comparison), or crash on outputs of different shapes (they fail, with a message).
"""

from graphfix.compare.core import compare
from graphfix.compare.inputs import Inputs
from graphfix.compare.policy import Policy, Thresholds, Tolerance
from graphfix.compare.result import Comparison, Failure
from graphfix.compare.runners import (
           InputInfo,
           Side,
           function_side,
           onnxruntime_session,
           onnxruntime_side,
           tensorrt_side,
)
from graphfix.compare.stats import OutputComparison

__all__ = ["Comparison", "Failure", "InputInfo", "Inputs", "OutputComparison", "Policy", "Side", "Thresholds",
           "Tolerance", "compare", "function_side", "onnxruntime_session", "onnxruntime_side", "tensorrt_side"]
