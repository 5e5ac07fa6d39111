"""graphfix's rules, one per module; each module's docstring is the rule's documentation.

Registration is explicit: a rule exists when it is listed in ``RULES``.
"""

from graphfix.rules.gf101_runtime_shape import RuntimeShapeComputation
from graphfix.rules.gf102_reshape_non_batch_minus_one import ReshapeNonBatchMinusOne
from graphfix.rules.gf103_baked_batch import BakedBatch
from graphfix.rules.gf201_resize_sizes import ResizeBySizes
from graphfix.rules.gf202_resize_runtime_scales import ResizeRuntimeScales
from graphfix.rules.gf301_dynamic_non_batch_dim import DynamicNonBatchDim
from graphfix.rules.gf302_static_batch import StaticBatch
from graphfix.rules.gf501_operator_not_imported import OperatorNotImported
from graphfix.rules.gf502_unsupported_attribute_or_input import UnsupportedAttributeOrInput
from graphfix.rules.gf503_unsupported_data_type import UnsupportedDataType
from graphfix.rules.gf504_opset_out_of_range import OpsetOutOfRange
from graphfix.rules.gf505_unsupported_qdq import UnsupportedQdq
from graphfix.rules.gf506_plugin_required import PluginRequired
from graphfix.rules.gf901_data_dependent_shape import DataDependentShape
from graphfix.rules.gf902_analysis_incomplete import AnalysisIncomplete

RULES = (
    RuntimeShapeComputation,
    ReshapeNonBatchMinusOne,
    BakedBatch,
    ResizeBySizes,
    ResizeRuntimeScales,
    DynamicNonBatchDim,
    StaticBatch,
    OperatorNotImported,
    UnsupportedAttributeOrInput,
    UnsupportedDataType,
    OpsetOutOfRange,
    UnsupportedQdq,
    PluginRequired,
    DataDependentShape,
    AnalysisIncomplete,
)

__all__ = ["RULES"]
