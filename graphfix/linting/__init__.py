"""Stage 3, lint: rules detect what breaks the export rules, and plan the fix as data.

Takes a loaded model and the user's options; analyses it once (:mod:`graphfix.analyse`) and runs every
selected rule (``rules/``, installed as ``graphfix.rules``) on the analysis; gives a :class:`Report`:
findings in graph order, each with its fix plans (:mod:`.plans`) and what applying them needs
(:class:`Safety`), plus the near misses (:mod:`.trace`) that say why a rule did not fire on a node.

This package is also the API rules are written against: :class:`Rule`, :class:`Context`,
:class:`Finding`, the plans, :class:`Severity` and :class:`TensorRTError`.

Must never: mutate the model (plans are data; only :mod:`graphfix.fixing.editor` applies them), or let
one crashing rule hide the others' findings.
"""

from graphfix.linting.engine import Report, lint_loaded, run_rules, sort_findings
from graphfix.linting.plans import (
    BatchShape,
    ConvertOpset,
    ExpandOutput,
    FixPlan,
    InlineBranch,
    NarrowDouble,
    ReplaceOp,
    SetAttributes,
    SetDims,
    SetInputs,
    declared_dim,
    operand_plan,
    resize_scales_plan,
    strided_gather_plans,
)
from graphfix.linting.registry import (
    all_rules,
    documented_rules,
    is_selected,
    parse_selectors,
    rule_by_code,
    rule_by_name,
    rule_for_tensorrt_error,
)
from graphfix.linting.rule import (
    Context,
    Finding,
    FindingSeverity,
    FixAvailability,
    Options,
    Rule,
    Safety,
    Severity,
    TensorRTError,
)
from graphfix.linting.trace import NearMiss

__all__ = ["BatchShape", "Context", "ConvertOpset", "ExpandOutput", "Finding", "FindingSeverity", "FixAvailability", "FixPlan",
           "InlineBranch", "NarrowDouble", "NearMiss", "Options", "ReplaceOp", "Report",
           "Rule", "Safety", "SetAttributes", "SetDims", "SetInputs", "Severity", "TensorRTError", "all_rules", "declared_dim",
           "documented_rules", "is_selected", "lint_loaded", "operand_plan", "parse_selectors", "resize_scales_plan",
           "strided_gather_plans",
           "rule_by_code", "rule_by_name", "rule_for_tensorrt_error", "run_rules", "sort_findings"]
