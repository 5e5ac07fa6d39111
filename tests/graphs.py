"""Hand-built graphs for rule tests, written in ONNX's text syntax, and helpers to run them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.parser

import graphfix
from graphfix.linting import Finding


def parse(text: str, opset: int = 17) -> onnx.ModelProto:
    header = f'<ir_version: 8, opset_import: ["" : {opset}]>\n'
    model = onnx.parser.parse_model(header + text)
    onnx.checker.check_model(model, full_check=True)
    return model


def findings(model: onnx.ModelProto, code: str | None = None, **kwargs: object) -> list[Finding]:
    report = graphfix.lint(model, **kwargs)  # type: ignore[arg-type]
    return [f for f in report.findings if code is None or f.code == code]


def run(model: onnx.ModelProto | str | Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


# x.view(x.size(0), -1) as the legacy exporter records it.
VIEW_SIZE0 = """
agraph (float[N, 4, 8, 8] x) => (float[N, 256] y) {
    s = Shape(x)
    i0 = Constant <value = int64 {0}> ()
    b = Gather <axis = 0> (s, i0)
    ax = Constant <value = int64[1] {0}> ()
    bu = Unsqueeze (b, ax)
    m1 = Constant <value = int64[1] {-1}> ()
    t = Concat <axis = 0> (bu, m1)
    y = Reshape (x, t)
}
"""

# F.interpolate(x, size=(16, 16)): Shape -> Slice(0:2) -> Concat(., [16, 16]) -> Resize(sizes).
RESIZE_SIZES = """
agraph (float[N, 3, 8, 8] x) => (float[N, 3, 16, 16] y) {
    s = Shape(x)
    st = Constant <value = int64[1] {0}> ()
    en = Constant <value = int64[1] {2}> ()
    nc = Slice (s, st, en)
    hw = Constant <value = int64[2] {16, 16}> ()
    sizes = Concat <axis = 0> (nc, hw)
    y = Resize <mode = "nearest"> (x, , , sizes)
}
"""

# q / sqrt(head_dim) with head_dim = q.size(-1): the legacy exporter's attention scale.
SCALE_BY_SHAPE = """
agraph (float[N, 16, 32] q) => (float[N, 16, 32] y) {
    s = Shape(q)
    i2 = Constant <value = int64 {2}> ()
    d = Gather <axis = 0> (s, i2)
    df = Cast <to = 1> (d)
    r = Sqrt (df)
    y = Div (q, r)
}
"""
