"""GF506: custom-domain nodes take the plugin path ("needs a TensorRT plugin"): information, not GF501."""

import onnx
import onnx.parser
from graphs import findings

import graphfix
from graphfix.cli import main


def _model(body: str) -> onnx.ModelProto:
    return onnx.parser.parse_model(f"""<ir_version: 8, opset_import: ["" : 17, "custom" : 1]>
    agraph (float[N, 4] x) => (float[N, 4] y) {{
        {body}
    }}""")


def test_a_custom_operator_needs_a_plugin():
    [finding] = findings(_model("y = custom.HSwish (x)"), "GF506", trt_version="8.6")
    assert finding.severity == "info" and not finding.fixable
    assert "needs a TensorRT plugin" in finding.message and "TensorRT 8.6" in finding.message
    assert finding.to_dict()["severity"] == "info"


def test_the_tensorrt_pro_plugin_node_is_the_plugin_path_too():
    model = onnx.parser.parse_model("""<ir_version: 8, opset_import: ["" : 17]>
    agraph (float[N, 4] x) => (float[N, 4] y) {
        y = Plugin <name = "HSwish", info = "{}"> (x)
    }""")
    report = graphfix.lint(model, trt_version="10.16", select="GF5")
    [finding] = report.findings
    assert finding.code == "GF506" and finding.severity == "info"
    assert "'HSwish'" in finding.message and "needs a TensorRT plugin" in finding.message


def test_a_custom_op_named_like_an_onnx_operator_is_imported_as_the_builtin():
    [finding] = findings(_model("y = custom.Relu (x)"), "GF506", trt_version="10.16")
    assert finding.severity == "error"
    assert "imports it as the built-in ONNX Relu" in finding.message


def test_information_alone_does_not_fail_lint(tmp_path, capsys):
    path = tmp_path / "plugin.onnx"
    onnx.save(_model("y = custom.HSwish (x)"), str(path))
    assert main(["lint", str(path), "--select", "GF5", "--trt-version", "8.6"]) == 0
    out = capsys.readouterr().out
    assert "GF506 info" in out and "All checks passed!" in out and "1 information finding" in out
    assert "checked for TensorRT 8.6" in out
