"""Stage 2, analyse: what every tensor's shape is, and which parts of it follow the batch.

Takes a :class:`~graphfix.ir.LoadedModel` and the user's input shapes; gives an :class:`Analysis`: per
tensor, its shape and (when small) its value at several probes (batch sizes 3, 5, 4 and a probe that
moves unpinned non-batch dims), classified as CONSTANT, BATCH, DYNAMIC or UNKNOWN; the nodes it could
not see through; and facts several rules share (:mod:`~graphfix.analyse.batch`). :mod:`.rewrites`
answers "which constant computes the same thing at every batch size?".

Must never: mutate the model, read weights (only tiny integer-like tensors), or guess a value it has
not evaluated.
"""

from graphfix.analyse.analysis import Analysis
from graphfix.analyse.batch import BatchFacts, StaticBatch
from graphfix.analyse.facts import BATCH, BATCH_PROBES, DynamicDim, Facts, Issue, Kind, Probe, Shape
from graphfix.analyse.operands import (
    SHAPE_OPERANDS,
    Operand,
    input_index,
    input_value,
    is_standard,
    iter_shape_inputs,
    operand,
    shape_input_indices,
)
from graphfix.analyse.ops import DATA_DEPENDENT_OPS
from graphfix.analyse.walker import analyse

__all__ = ["BATCH", "BATCH_PROBES", "DATA_DEPENDENT_OPS", "SHAPE_OPERANDS", "Analysis", "BatchFacts", "DynamicDim",
           "Facts", "Issue", "Kind", "Operand", "Probe", "Shape", "StaticBatch", "analyse", "input_index",
           "input_value", "is_standard", "iter_shape_inputs", "operand", "shape_input_indices"]
