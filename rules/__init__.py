"""graphfix's rules, one per module; each module's docstring is the rule's documentation.

Registration is explicit: a rule exists when it is listed in ``RULES``. ``META_RULES`` document the
codes the engine emits itself: an unreadable file (``UNREADABLE_MODEL``) and a crashed rule
(``RULE_CRASHED``).
"""

if __name__ != "graphfix.rules":  # one module identity: the rules are registered once
    raise ImportError(f"import the rules as graphfix.rules, not {__name__}")

from graphfix.rules.gf000_unreadable_model import UnreadableModel  # noqa: E402
from graphfix.rules.gf101_runtime_shape import RuntimeShapeComputation  # noqa: E402
from graphfix.rules.gf102_reshape_non_batch_minus_one import ReshapeNonBatchMinusOne  # noqa: E402
from graphfix.rules.gf103_baked_batch import BakedBatch  # noqa: E402
from graphfix.rules.gf201_resize_sizes import ResizeBySizes  # noqa: E402
from graphfix.rules.gf202_resize_runtime_scales import ResizeRuntimeScales  # noqa: E402
from graphfix.rules.gf301_dynamic_non_batch_dim import DynamicNonBatchDim  # noqa: E402
from graphfix.rules.gf302_static_batch import StaticBatch  # noqa: E402
from graphfix.rules.gf401_plugin_node import PluginNode  # noqa: E402
from graphfix.rules.gf402_no_reference import NoReference  # noqa: E402
from graphfix.rules.gf501_operator_not_imported import OperatorNotImported  # noqa: E402
from graphfix.rules.gf502_unsupported_attribute_or_input import UnsupportedAttributeOrInput  # noqa: E402
from graphfix.rules.gf503_unsupported_data_type import UnsupportedDataType  # noqa: E402
from graphfix.rules.gf504_opset_out_of_range import OpsetOutOfRange  # noqa: E402
from graphfix.rules.gf505_unsupported_qdq import UnsupportedQdq  # noqa: E402
from graphfix.rules.gf506_plugin_required import PluginRequired  # noqa: E402
from graphfix.rules.gf901_data_dependent_shape import DataDependentShape  # noqa: E402
from graphfix.rules.gf902_analysis_incomplete import AnalysisIncomplete  # noqa: E402
from graphfix.rules.gf999_rule_crashed import RuleCrashed  # noqa: E402

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
    # New rules are appended, so the SARIF ruleIndex of the older ones stays the same.
    PluginNode,
    NoReference,
)

UNREADABLE_MODEL = UnreadableModel
RULE_CRASHED = RuleCrashed
META_RULES = (UNREADABLE_MODEL, RULE_CRASHED)

__all__ = ["META_RULES", "RULES", "RULE_CRASHED", "UNREADABLE_MODEL"]
