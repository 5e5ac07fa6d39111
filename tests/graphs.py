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

# x[:, :x.size(1) - 1] style slices: the end follows the batch along dim 0 and means "to the end".
SLICE_TO_THE_END = """
agraph (float[N, 4] x) => (float[M, 4] y) {
    s = Shape(x)
    z = Constant <value = int64[1] {0}> ()
    o = Constant <value = int64[1] {1}> ()
    b = Slice (s, z, o)
    y = Slice (x, z, b, z)
}
"""

# The same slice, but its end is the batch minus one: not "to the end" (it drops the last row).
SLICE_BATCH_MINUS_ONE = """
agraph (float[N, 4] x) => (float[M, 4] y) {
    s = Shape(x)
    z = Constant <value = int64[1] {0}> ()
    o = Constant <value = int64[1] {1}> ()
    b = Slice (s, z, o)
    e = Sub (b, o)
    y = Slice (x, z, e, z)
}
"""

# A Slice whose starts and ends are both computed from Shape: two GF101 findings on one node.
SLICE_BOTH_BOUNDS = """
agraph (float[N, 10] x) => (float[N, 7] y) {
    s = Shape(x)
    o = Constant <value = int64[1] {1}> ()
    t = Constant <value = int64[1] {2}> ()
    w = Slice (s, o, t)
    eight = Constant <value = int64[1] {8}> ()
    st = Sub (w, eight)
    en = Sub (w, o)
    y = Slice (x, st, en, o)
}
"""

# Resize to a fixed 32x16 from a dynamic height: the ratio along H is the same at every batch size but
# changes with H (the dim probe), so it is not a constant scale.
RESIZE_FIXED_FROM_DYNAMIC_HEIGHT = """
agraph (float[N, 3, H, 8] x) => (float[N, 3, 32, 16] y) {
    s = Shape(x)
    st = Constant <value = int64[1] {0}> ()
    en = Constant <value = int64[1] {2}> ()
    nc = Slice (s, st, en)
    hw = Constant <value = int64[2] {32, 16}> ()
    sizes = Concat <axis = 0> (nc, hw)
    y = Resize <mode = "nearest"> (x, , , sizes)
}
"""

BAKED_RESHAPE = """
agraph (float[N, 16, 16] x) => (float[A, B] y) {
    t = Constant <value = int64[2] {2, 256}> ()
    y = Reshape (x, t)
}
"""

STATIC_BATCH = """
agraph (float[1, 4, 8, 8] x) => (float[1, 256] y) {
    t = Constant <value = int64[2] {-1, 256}> ()
    y = Reshape (x, t)
}
"""

EXPAND_TO_BATCH = """
agraph (float[N, 4, 8] x) => (float[N, 5, 8] y) {
    cls = Constant <value = float[1, 1, 8] {1, 2, 3, 4, 5, 6, 7, 8}> ()
    s = Shape(x)
    i0 = Constant <value = int64 {0}> ()
    b = Gather <axis = 0> (s, i0)
    ax = Constant <value = int64[1] {0}> ()
    bu = Unsqueeze (b, ax)
    rest = Constant <value = int64[2] {1, 8}> ()
    shape = Concat <axis = 0> (bu, rest)
    e = Expand (cls, shape)
    y = Concat <axis = 1> (e, x)
}
"""

NON_BATCH_MINUS_ONE = """
agraph (float[N, 4, 8, 8] x) => (float[N, 64, 4] y) {
    t = Constant <value = int64[3] {0, -1, 4}> ()
    y = Reshape (x, t)
}
"""

RUNTIME_SCALES = """
agraph (float[N, 3, 8, 8] x) => (float[N, 3, 16, 16] y) {
    s = Shape(x)
    sf = Cast <to = 1> (s)
    two = Constant <value = float[4] {1, 1, 2, 2}> ()
    m = Mul (sf, two)
    scales = Div (m, sf)
    y = Resize <mode = "nearest"> (x, , scales)
}
"""

DYNAMIC_HW = """
agraph (float[N, 3, H, W] x) => (float[N, 3, H, W] y) {
    y = Relu (x)
}
"""

# Every hand-built model with the input shapes it is analysed with: the rule invariants run on all.
MODELS: dict[str, tuple[str, dict[str, list[int]]]] = {
    "view_size0": (VIEW_SIZE0, {}),
    "resize_sizes": (RESIZE_SIZES, {}),
    "scale_by_shape": (SCALE_BY_SHAPE, {}),
    "slice_to_the_end": (SLICE_TO_THE_END, {}),
    "slice_batch_minus_one": (SLICE_BATCH_MINUS_ONE, {}),
    "slice_both_bounds": (SLICE_BOTH_BOUNDS, {}),
    "resize_fixed_from_dynamic_height": (RESIZE_FIXED_FROM_DYNAMIC_HEIGHT, {}),
    "baked_reshape": (BAKED_RESHAPE, {}),
    "static_batch": (STATIC_BATCH, {}),
    "expand_to_batch": (EXPAND_TO_BATCH, {}),
    "non_batch_minus_one": (NON_BATCH_MINUS_ONE, {}),
    "runtime_scales": (RUNTIME_SCALES, {}),
    "dynamic_hw": (DYNAMIC_HW, {}),
    "dynamic_hw_pinned": (DYNAMIC_HW, {"x": [1, 3, 16, 16]}),
}
