"""The TensorRT parser errors each GF5xx rule explains, declared by the rule as data (``tensorrt_errors``)."""

from __future__ import annotations

import pytest

from graphfix.rules.gf501_operator_not_imported import OperatorNotImported
from graphfix.rules.gf502_unsupported_attribute_or_input import RESTRICTED_OPS, UnsupportedAttributeOrInput
from graphfix.rules.gf503_unsupported_data_type import UnsupportedDataType
from graphfix.rules.gf505_unsupported_qdq import UnsupportedQdq
from graphfix.rules.gf506_plugin_required import PluginRequired
from graphfix.targets import iter_tables

RULES = (OperatorNotImported, UnsupportedAttributeOrInput, UnsupportedDataType, UnsupportedQdq, PluginRequired)


def _explains(op: str | None, text: str) -> list[str]:
    """The codes whose declared errors match, best (lowest priority) first."""
    matches = [(pattern.priority, rule.code) for rule in RULES for pattern in rule.tensorrt_errors
               if pattern.matches(op, text)]
    return [code for _, code in sorted(matches)]


@pytest.mark.parametrize(("op", "text", "code"), [
    ("Gelu", "In node 7 (importGelu): UNSUPPORTED_NODE: No importer registered for op: Gelu. "
             "Attempting to import as plugin.", "GF501"),
    ("HSwish", "No importer registered for op: HSwish. Attempting to import as plugin.", "GF506"),
    ("Squeeze", "Assertion failed: Cannot infer squeeze dimensions from a dynamic shape! Please re-export your "
                "model with the Squeeze axes input set.", "GF502"),
    ("ReduceMean", "Assertion failed: inputs.at(1).is_weights() && \"The axes input must be an initializer.\"",
     "GF502"),
    ("QuantizeLinear", "Assertion failed: shiftIsAllZeros(zeroPoint) && \"Non-zero zero point is not supported.\"",
     "GF505"),
    ("Cast", "UNSUPPORTED_NODE: BFLOAT16 is not supported by this version", "GF503"),
])
def test_each_rule_declares_the_errors_it_explains(op: str, text: str, code: str):
    assert _explains(op, text)[0] == code


def test_gf502_declares_the_operators_its_restrictions_cover():
    from graphfix.targets._support import (
        AttributeDtype,
        Dtype,
        OperatorVersion,
        QdqBlockSingleAxis,
        QdqBlockUnsupported,
        QdqScalePositive,
        QdqZeroPointZero,
    )

    elsewhere = (AttributeDtype, Dtype, OperatorVersion, QdqZeroPointZero, QdqScalePositive, QdqBlockUnsupported,
                 QdqBlockSingleAxis)
    ops = {r.op for table in iter_tables() for r in table.restrictions()
           if r.op not in ("QuantizeLinear", "DequantizeLinear") and not isinstance(r, elsewhere)}
    assert ops == set(RESTRICTED_OPS)


@pytest.mark.parametrize(("op", "text", "code"), [
    ("Gelu", "No importer registered for op: Gelu. Attempting to import as plugin.", "GF501"),
    # tensorRT_Pro's Plugin node: GF401 rewrites it to the stock plugin form; another custom op: GF402.
    ("Plugin", "No importer registered for op: Plugin. Attempting to import as plugin.", "GF401"),
    ("HSwish", "No importer registered for op: HSwish. Attempting to import as plugin.", "GF402"),
    ("Squeeze", "Cannot infer squeeze dimensions from a dynamic shape! Please re-export your model with the "
                "Squeeze axes input set.", "GF502"),
    ("Slice", 'Assertion failed: inputs.at(1).is_weights() && "The starts input must be an initializer"', "GF101"),
    ("DequantizeLinear", "Non-zero zero point is not supported", "GF505"),
])
def test_the_registry_picks_the_rule_that_explains_an_error(op: str, text: str, code: str):
    from graphfix.linting import rule_for_tensorrt_error

    assert rule_for_tensorrt_error(op, text) == code
