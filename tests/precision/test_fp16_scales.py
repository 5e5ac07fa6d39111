"""fp16 keeps float32-only operands float32 where the opset has them: Resize's scales are input 1 of
Resize-10 and Upsample-9, input 2 from Resize-11 (issue 8 item 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.parser
import pytest

from graphfix.precision import to_fp16

pytest.importorskip("onnxconverter_common")
ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize(("opset", "resize"), [
    (9, 'y = Upsample <mode = "nearest"> (c, scales)'),
    (10, 'y = Resize <mode = "nearest"> (c, scales)'),
    (11, 'y = Resize <mode = "nearest"> (c, roi, scales)'),
    (13, 'y = Resize <mode = "nearest"> (c, , scales)'),
])
def test_fp16_keeps_resize_scales_float32(tmp_path: Path, opset: int, resize: str) -> None:
    weight = ", ".join(["0.5"] * 9)
    model = onnx.parser.parse_model(f"""<ir_version: 7, opset_import: ["" : {opset}]>
agraph (float[N, 1, 8, 8] x) => (float[N, 1, 16, 16] y) <float[1, 1, 3, 3] w = {{{weight}}}> {{
    c = Conv <pads = [1, 1, 1, 1]> (x, w)
    scales = Constant <value = float[4] {{1, 1, 2, 2}}> ()
    roi = Constant <value = float[0] {{}}> ()
    {resize}
}}
""")
    onnx.checker.check_model(model, full_check=True)
    source = tmp_path / "model.onnx"
    onnx.save(model, source)
    fp16 = to_fp16(source, tmp_path / "model.fp16.onnx")
    converted = onnx.load(fp16)
    onnx.checker.check_model(converted, full_check=True)
    index = 1 if opset < 11 else 2
    [node] = [n for n in converted.graph.node if n.op_type in ("Resize", "Upsample")]
    typed = onnx.shape_inference.infer_shapes(converted)
    types = {v.name: v.type.tensor_type.elem_type for v in [*typed.graph.value_info, *typed.graph.input]}
    types.update({i.name: i.data_type for i in converted.graph.initializer})
    types.update({n.output[0]: n.attribute[0].t.data_type for n in converted.graph.node if n.op_type == "Constant"})
    assert types[node.input[index]] == onnx.TensorProto.FLOAT
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = ort.InferenceSession(str(fp16), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, atol=1e-2, rtol=1e-2)
