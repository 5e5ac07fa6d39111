"""GF501: operators (and operator versions) a TensorRT version's parser does not import, per version."""

import onnx
import onnx.parser
import pytest
from graphs import findings, parse

GELU = """
agraph (float[N, 8] x) => (float[N, 8] y) {
    y = Gelu (x)
}
"""

UNIQUE = """
agraph (float[N] x) => (float[M] y) {
    y = Unique <sorted = 1> (x)
}
"""

DFT = """
agraph (float[N, 16, 1] x) => (float[N, 9, 2] y) {
    y = DFT <onesided = 1> (x)
}
"""

GROUP_NORM = """
agraph (float[N, 4, 8] x, float[4] s, float[4] b) => (float[N, 4, 8] y) {
    y = GroupNormalization <num_groups = 2> (x, s, b)
}
"""


@pytest.mark.parametrize(("version", "expected"), [("8.6", 1), ("10.0", 0), ("10", 0), ("11", 0)])
def test_gelu_is_imported_from_10_0(version: str, expected: int):
    found = findings(parse(GELU, opset=20), "GF501", trt_version=version)
    assert len(found) == expected
    if expected:
        [finding] = found
        assert finding.node_name == "Gelu(y)" and finding.severity == "error"
        assert "TensorRT 8.6 has no importer for Gelu" in finding.message
        assert "converts the model to opset 17 (GF504)" in finding.message  # what to do
        assert "TensorRT 10.0 and later import it" in finding.message


@pytest.mark.parametrize("version", ["8.6", "10.0", "10.16", "11.5"])
def test_an_operator_no_version_imports(version: str):
    [finding] = findings(parse(UNIQUE), "GF501", trt_version=version)
    assert f"TensorRT {version} has no importer for Unique" in finding.message
    assert "no TensorRT version graphfix knows imports it" in finding.message
    assert "[table trt-" in finding.message


@pytest.mark.parametrize(("version", "expected"), [("10.16", 1), ("11.0", 1), ("11.2", 0), ("11.5", 0)])
def test_dft_is_imported_from_11_2(version: str, expected: int):
    assert len(findings(parse(DFT, opset=20), "GF501", trt_version=version)) == expected


@pytest.mark.parametrize(("version", "expected"), [("10.0", 1), ("10.8", 1), ("10.9", 0), ("10.16", 0)])
def test_opset_21_group_normalization_needs_10_9(version: str, expected: int):
    found = findings(parse(GROUP_NORM, opset=21), "GF501", trt_version=version)
    assert len(found) == expected
    if expected:
        assert "selects GroupNormalization-21" in found[0].message
        assert "[GroupNormalization/operator-version]" in found[0].message


def test_opset_21_group_normalization_on_8_6():
    [finding] = findings(parse(GROUP_NORM, opset=21), "GF501", trt_version="8.6")
    assert "the importer implements GroupNormalization up to version 18" in finding.message


LOCAL_FUNCTION = """<ir_version: 8, opset_import: ["" : 17, "local" : 1]>
agraph (float[N, 4] x) => (float[N, 4] y) {
    y = local.Swish (x)
}
<domain: "local", opset_import: ["" : 17]>
Swish (x) => (y) {
    s = Sigmoid (x)
    y = Mul (x, s)
}
"""


def test_local_functions_are_not_imported_by_8_6():
    model = onnx.parser.parse_model(LOCAL_FUNCTION)
    [finding] = findings(model, "GF501", trt_version="8.6")
    assert "calls local function local::Swish" in finding.message and "inline" in finding.message
    assert not findings(model, "GF501", trt_version="10.0")
    assert not findings(model, "GF506", trt_version="10.0")  # a function call is not a plugin


def test_nodes_inside_a_local_function_are_checked():
    model = onnx.parser.parse_model(LOCAL_FUNCTION.replace("s = Sigmoid (x)", "s = Unique (x)"))
    [finding] = findings(model, "GF501", trt_version="10.16")
    assert "(in function 'Swish')" in finding.message


def test_nodes_inside_an_if_branch_are_checked():
    model = parse("""
    agraph (float[N] x, bool c) => (float[M] y) {
        y = If (c) <then_branch = g1 () => (float[M] a) { a = Unique (x) },
                    else_branch = g2 () => (float[N] b) { b = Identity (x) }>
    }""")
    [finding] = findings(model, "GF501", trt_version="10.16")
    assert "in the then_branch of If" in finding.message


def test_custom_domain_nodes_are_not_gf501():
    model = onnx.parser.parse_model("""<ir_version: 8, opset_import: ["" : 17, "custom" : 1]>
    agraph (float[N, 4] x) => (float[N, 4] y) {
        y = custom.HSwish (x)
    }""")
    assert not findings(model, "GF501", trt_version="8.6")


def test_the_tensorrt_error_ops_are_every_onnx_operator_without_listing_them_at_import():
    import onnx.defs

    from graphfix.rules.gf501_operator_not_imported import OperatorNotImported, _onnx_operator_names

    ops = OperatorNotImported.tensorrt_errors[0].ops
    listed = {s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain in ("", "ai.onnx")}
    assert set(ops) == listed and len(ops) == len(listed) and ops
    assert all(name in ops for name in listed)
    assert "Plugin" not in ops and "HSwish" not in ops and 3 not in ops
    pattern = OperatorNotImported.tensorrt_errors[0]
    assert pattern.matches("Gelu", "No importer registered for op: Gelu. Attempting to import as plugin.")
    assert not pattern.matches("MyPlugin", "No importer registered for op: MyPlugin")
    _onnx_operator_names.cache_clear()
    assert "Gelu" in ops and _onnx_operator_names.cache_info().currsize == 0  # membership lists nothing
