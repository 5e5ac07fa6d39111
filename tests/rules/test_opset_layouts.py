"""Every rule on every operand layout (issue 8 item 6): the same fault written at the opsets where ONNX
moved the operand (Resize 10/11/13/18/19, Upsample 7/9, Pad 2/11/18, Slice 1/10, Squeeze and Unsqueeze
11/13, Split 11/13/18, ReduceMean 13/18, ReduceSum 11/13, Clip 6/11). Each test checks the finding, the
value and place the fix writes, the nodes left, and the fixed model against ONNX Runtime on the original
at batches 1, 2 and 3."""

from __future__ import annotations

import numpy as np
import onnx
import onnx.parser
import onnx_ir as ir
import pytest
from graphs import run

import graphfix
from graphfix.linting import Finding, SetAttributes, SetInputs

pytest.importorskip("onnxruntime")


def model_at(opset: int, text: str) -> onnx.ModelProto:
    ir_version = 7 if opset <= 12 else 8 if opset <= 18 else 9
    model = onnx.parser.parse_model(f'<ir_version: {ir_version}, opset_import: ["" : {opset}]>\n' + text)
    onnx.checker.check_model(model, full_check=True)
    return model


def lint(model: onnx.ModelProto, code: str) -> list[Finding]:
    return [f for f in graphfix.lint(model).findings if f.code == code]


def fixed(model: onnx.ModelProto, **options: object) -> onnx.ModelProto:
    result = graphfix.fix(model, **options)  # type: ignore[arg-type]
    assert result.verification is not None and result.verification.passed
    proto = ir.serde.serialize_model(result.model)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def ops(model: onnx.ModelProto) -> list[str]:
    """The op types left, but Constant nodes (the graphs here write their constants as nodes)."""
    return [node.op_type for node in model.graph.node if node.op_type != "Constant"]


def node(model: onnx.ModelProto, op_type: str) -> onnx.NodeProto:
    [found] = [n for n in model.graph.node if n.op_type == op_type]
    return found


def constant_input(model: onnx.ModelProto, op_type: str, index: int) -> list[float]:
    name = node(model, op_type).input[index]
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    return np.asarray(weights[name]).reshape(-1).tolist()


def same_numerics(original: onnx.ModelProto, result: onnx.ModelProto, shape: tuple[int, ...]) -> None:
    """The fixed model computes what the original computes in ONNX Runtime at batches 1, 2 and 3."""
    rng = np.random.default_rng(0)
    for batch in (1, 2, 3):
        feeds = {"x": rng.standard_normal((batch, *shape)).astype(np.float32)}
        for want, got in zip(run(original, feeds), run(result, feeds), strict=True):
            assert want.shape == got.shape, batch
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


# -- Resize and Upsample: scales at input 1 (Resize-10, Upsample-9) or 2 (Resize-11 on) -------------------

def resize_runtime_scales(opset: int) -> onnx.ModelProto:
    """F.interpolate(x, size=(2 * H, 2 * W)) at an opset where the exporter turns sizes into scales."""
    if opset == 9:  # Slice-1: starts/ends are attributes; Upsample-9 takes the scales as input 1
        hw = "hw = Slice <starts = [2], ends = [4], axes = [0]> (s)"
        resize = 'y = Upsample <mode = "nearest"> (x, scales)'
    else:
        hw = "hw = Slice (s, two, four)"
        resize = {10: 'y = Resize <mode = "nearest"> (x, scales)',
                  11: 'y = Resize <mode = "nearest"> (x, roi, scales)'}.get(
            opset, 'y = Resize <mode = "nearest"> (x, , scales)')
    return model_at(opset, f"""
agraph (float[N, 3, 8, 8] x) => (float[N, 3, 16, 16] y) {{
    s = Shape (x)
    two = Constant <value = int64[1] {{2}}> ()
    four = Constant <value = int64[1] {{4}}> ()
    {hw}
    hwf = Cast <to = 1> (hw)
    k = Constant <value = float {{2.0}}> ()
    out = Mul (hwf, k)
    ratio = Div (out, hwf)
    ones = Constant <value = float[2] {{1, 1}}> ()
    roi = Constant <value = float[0] {{}}> ()
    scales = Concat <axis = 0> (ones, ratio)
    {resize}
}}
""")


@pytest.mark.parametrize(("opset", "index"), [(9, 1), (10, 1), (11, 2), (13, 2), (18, 2), (19, 2)])
def test_runtime_scales_are_found_where_the_opset_keeps_them(opset: int, index: int) -> None:
    original = resize_runtime_scales(opset)
    op = "Upsample" if opset == 9 else "Resize"
    [finding] = lint(original, "GF202")
    assert finding.fixable and finding.node is not None and finding.node.op_type == op
    [plan] = finding.fix
    assert isinstance(plan, SetInputs) and sorted(plan.inputs) == [index]
    assert list(plan.inputs[index]) == [1.0, 1.0, 2.0, 2.0]  # type: ignore[arg-type]

    result = fixed(original)
    assert ops(result) == [op]
    assert constant_input(result, op, index) == [1.0, 1.0, 2.0, 2.0]
    same_numerics(original, result, (3, 8, 8))


def test_upsample7_scales_attribute_is_a_constant() -> None:
    original = model_at(7, """
agraph (float[N, 3, 8, 8] x) => (float[N, 3, 16, 16] y) {
    y = Upsample <mode = "nearest", scales = [1.0, 1.0, 2.0, 2.0]> (x)
}
""")
    assert not lint(original, "GF202") and not lint(original, "GF101")


def resize_runtime_sizes(opset: int) -> onnx.ModelProto:
    roi = "roi" if opset == 11 else ""
    scales = "empty" if opset == 11 else ""
    return model_at(opset, f"""
agraph (float[N, 3, 8, 8] x) => (float[N, 3, 16, 16] y) {{
    s = Shape (x)
    zero = Constant <value = int64[1] {{0}}> ()
    two = Constant <value = int64[1] {{2}}> ()
    four = Constant <value = int64[1] {{4}}> ()
    nc = Slice (s, zero, two)
    hw = Slice (s, two, four)
    out = Mul (hw, two)
    sizes = Concat <axis = 0> (nc, out)
    roi = Constant <value = float[0] {{}}> ()
    empty = Constant <value = float[0] {{}}> ()
    y = Resize <mode = "nearest"> (x, {roi}, {scales}, sizes)
}}
""")


@pytest.mark.parametrize("opset", [11, 13, 18, 19])
def test_runtime_sizes_become_scales_at_input_2(opset: int) -> None:
    original = resize_runtime_sizes(opset)
    [finding] = lint(original, "GF201")
    [plan] = finding.fix
    assert isinstance(plan, SetInputs) and plan.inputs[3] is None and list(plan.inputs[2]) == [1, 1, 2, 2]  # type: ignore[arg-type]
    result = fixed(original)
    assert ops(result) == ["Resize"]
    resize = node(result, "Resize")
    assert len(resize.input) == 3 and constant_input(result, "Resize", 2) == [1.0, 1.0, 2.0, 2.0]
    assert bool(resize.input[1]) == (opset == 11)  # roi is required before opset 13
    same_numerics(original, result, (3, 8, 8))


def test_resize10_has_no_sizes() -> None:
    assert not lint(resize_runtime_scales(10), "GF201")


# -- Pad: pads an attribute (Pad-2), an input (Pad-11), with an axes input (Pad-18) -----------------------

def pad_to_multiple(opset: int) -> onnx.ModelProto:
    """Pad H and W of a 6x6 map up to 8 (``F.pad(x, (0, 8 - W, 0, 8 - H))``)."""
    if opset < 11:
        return model_at(opset, """
agraph (float[N, 3, 6, 6] x) => (float[N, 3, 8, 8] y) {
    y = Pad <pads = [0, 0, 0, 0, 0, 0, 2, 2]> (x)
}
""")
    if opset < 18:
        tail = """
    zeros = Constant <value = int64[6] {0, 0, 0, 0, 0, 0}> ()
    pads = Concat <axis = 0> (zeros, grow)
    y = Pad (x, pads)"""
    else:  # Pad-18: the pads of the axes its axes input names, here computed from the rank
        tail = """
    zeros = Constant <value = int64[2] {0, 0}> ()
    pads = Concat <axis = 0> (zeros, grow)
    r = Shape (s)
    one = Constant <value = int64[1] {1}> ()
    h = Sub (r, two)
    w = Sub (r, one)
    axes = Concat <axis = 0> (h, w)
    y = Pad (x, pads, , axes)"""
    return model_at(opset, """
agraph (float[N, 3, 6, 6] x) => (float[N, 3, 8, 8] y) {
    s = Shape (x)
    two = Constant <value = int64[1] {2}> ()
    four = Constant <value = int64[1] {4}> ()
    hw = Slice (s, two, four)
    eight = Constant <value = int64[1] {8}> ()
    grow = Sub (eight, hw)""" + tail + "\n}\n")


@pytest.mark.parametrize(("opset", "inputs"), [(10, {}), (11, {1: [0, 0, 0, 0, 0, 0, 2, 2]}),
                                               (18, {1: [0, 0, 2, 2], 3: [2, 3]})])
def test_pad_operands_computed_at_run_time(opset: int, inputs: dict[int, list[int]]) -> None:
    original = pad_to_multiple(opset)
    found = {index: list(plan.inputs[index]) for f in lint(original, "GF101") for plan in f.fix  # type: ignore[arg-type]
             if isinstance(plan, SetInputs) for index in plan.inputs}
    assert found == inputs
    if not inputs:  # Pad-2 keeps its pads in an attribute: a constant, nothing to fix
        return
    result = fixed(original)
    assert ops(result) == ["Pad"]
    for index, value in inputs.items():
        assert constant_input(result, "Pad", index) == value
    same_numerics(original, result, (3, 6, 6))


def lint_and_fix(original: onnx.ModelProto, code: str, expected: dict[int, list[float]] | None,
                 attributes: dict[str, list[int]] | None = None) -> onnx.ModelProto | None:
    """The findings' plans write ``expected`` inputs (or ``attributes``); None: no finding at all."""
    findings = lint(original, code)
    if expected is None and attributes is None:
        assert not findings, [f.message for f in findings]
        return None
    inputs = {index: np.asarray(plan.inputs[index]).reshape(-1).tolist() for f in findings for plan in f.fix
              if isinstance(plan, SetInputs) for index in plan.inputs if plan.inputs[index] is not None}
    attrs = {name: np.asarray(plan.attributes[name]).reshape(-1).tolist() for f in findings for plan in f.fix
             if isinstance(plan, SetAttributes) for name in plan.attributes}
    assert inputs == (expected or {}) and attrs == (attributes or {})
    return fixed(original)


# -- Slice: starts/ends/axes attributes (Slice-1) or inputs (Slice-10) -------------------------------------

@pytest.mark.parametrize("opset", [9, 10, 13])
def test_slice_of_a_shape_feeds_a_reshape(opset: int) -> None:
    """``x.view(x.size(0), -1)`` with the batch read by a Slice of the shape: its bounds are attributes
    before opset 10, inputs from 10; the evaluator reads both."""
    batch = ("b = Slice <starts = [0], ends = [1]> (s)" if opset < 10 else "b = Slice (s, zero, one)")
    original = model_at(opset, f"""
agraph (float[N, 3, 8, 8] x) => (float[N, 192] y) {{
    s = Shape (x)
    zero = Constant <value = int64[1] {{0}}> ()
    one = Constant <value = int64[1] {{1}}> ()
    {batch}
    m1 = Constant <value = int64[1] {{-1}}> ()
    t = Concat <axis = 0> (b, m1)
    y = Reshape (x, t)
}}
""")
    result = lint_and_fix(original, "GF101", {1: [-1, 192]})
    assert result is not None and ops(result) == ["Reshape"]
    same_numerics(original, result, (3, 8, 8))


@pytest.mark.parametrize("opset", [9, 10, 13])
def test_slice_bounds(opset: int) -> None:
    """``x[:, : x.size(1) - 1]``: Slice-10 takes the end as a run-time input, Slice-1 as an attribute."""
    if opset < 10:
        body = "y = Slice <starts = [0], ends = [3], axes = [1]> (x)"
    else:
        body = """s = Shape (x)
    one = Constant <value = int64[1] {1}> ()
    two = Constant <value = int64[1] {2}> ()
    zero = Constant <value = int64[1] {0}> ()
    c = Slice (s, one, two)
    end = Sub (c, one)
    y = Slice (x, zero, end, one)"""
    original = model_at(opset, f"""
agraph (float[N, 4, 5] x) => (float[N, 3, 5] y) {{
    {body}
}}
""")
    result = lint_and_fix(original, "GF101", None if opset < 10 else {2: [3]})
    if result is not None:
        assert ops(result) == ["Slice"]
        same_numerics(original, result, (4, 5))


# -- Squeeze and Unsqueeze: axes an attribute up to opset 11, an input from 13 ------------------------------

@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_without_axes_gets_them_where_the_opset_keeps_them(opset: int) -> None:
    original = model_at(opset, """
agraph (float[N, 1, 4, 4] x) => (float[N, 16] y) {
    q = Squeeze (x)
    t = Constant <value = int64[2] {-1, 16}> ()
    y = Reshape (q, t)
}
""")
    [finding] = lint(original, "GF101")
    [plan] = finding.fix
    if opset < 13:
        assert isinstance(plan, SetAttributes) and plan.describe().endswith("attribute axes := [1]")
    else:
        assert isinstance(plan, SetInputs) and list(plan.inputs[1]) == [1]  # type: ignore[arg-type]
    result = fixed(original)
    squeeze = node(result, "Squeeze")
    if opset < 13:
        assert [list(a.ints) for a in squeeze.attribute if a.name == "axes"] == [[1]] and len(squeeze.input) == 1
    else:
        assert constant_input(result, "Squeeze", 1) == [1]
    assert ops(result) == ["Squeeze", "Reshape"]
    same_numerics(original, result, (1, 4, 4))
    assert not lint(ir.serde.serialize_model(ir.serde.deserialize_model(result)), "GF101")


@pytest.mark.parametrize("opset", [11, 13])
def test_unsqueeze_axes(opset: int) -> None:
    """Unsqueeze at the dim after the batch: an attribute at 11 (a constant), a run-time input at 13."""
    if opset < 13:
        body = "y = Unsqueeze <axes = [1]> (x)"
    else:
        body = """s = Shape (x)
    r = Shape (s)
    k = Constant <value = int64[1] {2}> ()
    axes = Sub (r, k)
    y = Unsqueeze (x, axes)"""
    original = model_at(opset, f"""
agraph (float[N, 3, 5] x) => (float[N, 1, 3, 5] y) {{
    {body}
}}
""")
    result = lint_and_fix(original, "GF101", None if opset < 13 else {1: [1]})
    if result is not None:
        assert ops(result) == ["Unsqueeze"]
        same_numerics(original, result, (3, 5))


# -- Split: sizes an attribute up to 11, an input from 13 (with num_outputs from 18) -------------------------

@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split_sizes(opset: int) -> None:
    if opset < 13:
        split = "a, b = Split <axis = 1, split = [2, 2]> (x)"
    else:
        split = """s = Shape (x)
    one = Constant <value = int64[1] {1}> ()
    two = Constant <value = int64[1] {2}> ()
    c = Slice (s, one, two)
    half = Div (c, two)
    sizes = Concat <axis = 0> (half, half)
    a, b = Split <axis = 1> (x, sizes)"""
    original = model_at(opset, f"""
agraph (float[N, 4, 6] x) => (float[N, 2, 6] y) {{
    {split}
    y = Sub (a, b)
}}
""")
    result = lint_and_fix(original, "GF101", None if opset < 13 else {1: [2, 2]})
    if result is not None:
        assert ops(result) == ["Split", "Sub"]
        same_numerics(original, result, (4, 6))


# -- Reduce: axes an attribute, an input from 13 (ReduceSum) or 18 (the others) ----------------------------

@pytest.mark.parametrize(("op", "opset", "as_input"), [("ReduceMean", 13, False), ("ReduceMean", 18, True),
                                                       ("ReduceSum", 11, False), ("ReduceSum", 13, True),
                                                       ("ReduceMax", 18, True)])
def test_reduce_axes(op: str, opset: int, as_input: bool) -> None:
    """Reduce over the last dim, the axis computed from the rank where the opset takes an input."""
    if not as_input:
        body = f"y = {op} <axes = [2], keepdims = 1> (x)"
    else:
        body = f"""s = Shape (x)
    r = Shape (s)
    k = Constant <value = int64[1] {{1}}> ()
    axes = Sub (r, k)
    y = {op} <keepdims = 1> (x, axes)"""
    original = model_at(opset, f"""
agraph (float[N, 3, 5] x) => (float[N, 3, 1] y) {{
    {body}
}}
""")
    result = lint_and_fix(original, "GF101", {1: [2]} if as_input else None)
    if result is not None:
        assert ops(result) == [op]
        same_numerics(original, result, (3, 5))


# -- Clip: min/max attributes (Clip-6) or inputs (Clip-11) ------------------------------------------------

@pytest.mark.parametrize("opset", [6, 11, 13])
def test_clip_bound_computed_from_a_shape(opset: int) -> None:
    """``x.clamp(max=x.size(1))``: Clip-11 takes the bound as an input computed from the shape."""
    if opset < 11:
        body = "y = Clip <min = 0.0, max = 3.0> (x)"
    else:
        body = """s = Shape (x)
    one = Constant <value = int64 {1}> ()
    c = Gather <axis = 0> (s, one)
    top = Cast <to = 1> (c)
    low = Constant <value = float {0.0}> ()
    y = Clip (x, low, top)"""
    original = model_at(opset, f"""
agraph (float[N, 3, 5] x) => (float[N, 3, 5] y) {{
    {body}
}}
""")
    result = lint_and_fix(original, "GF101", None if opset < 11 else {2: [3.0]})
    if result is not None:
        assert ops(result) == ["Clip"]
        same_numerics(original, result, (3, 5))


# -- GF502 (the target TensorRT's importer): restrictions read at the operand's place for the opset --------

SQUEEZE_RESIDUAL = """
agraph (float[N, 20, 16] x) => (float[N, 20, 16] y) {{
    {unsqueeze}
    s = Squeeze (u)
    y = Add (x, s)
}}
"""


@pytest.mark.parametrize("opset", [11, 13])
def test_gf502_squeeze_axes_at_each_opset(opset: int) -> None:
    unsqueeze = ("u = Unsqueeze <axes = [1]> (x)" if opset < 13 else
                 "ax = Constant <value = int64[1] {1}> ()\n    u = Unsqueeze (x, ax)")
    original = model_at(opset, SQUEEZE_RESIDUAL.format(unsqueeze=unsqueeze))
    [finding] = lint_target(original, "8.6")
    [plan] = finding.fix
    assert isinstance(plan, SetAttributes if opset < 13 else SetInputs)
    result = fixed(original, trt_version="8.6", select="GF502")
    squeeze = node(result, "Squeeze")
    if opset < 13:
        assert [list(a.ints) for a in squeeze.attribute if a.name == "axes"] == [[1]]
    else:
        assert constant_input(result, "Squeeze", 1) == [1]
    same_numerics(original, result, (20, 16))
    assert not lint_target(result, "8.6")


def lint_target(model: onnx.ModelProto, version: str) -> list[Finding]:
    return [f for f in graphfix.lint(model, trt_version=version).findings if f.code == "GF502"]


@pytest.mark.parametrize(("opset", "as_input"), [(13, False), (17, False), (18, True)])
def test_gf502_reduce_axes_are_an_input_only_from_opset_18(opset: int, as_input: bool) -> None:
    """TensorRT needs ReduceMean's axes as an initializer: an attribute before 18 is one already."""
    body = ("y = ReduceMean <axes = [2], keepdims = 0> (x)" if not as_input else
            "a = Constant <value = int64[1] {1}> ()\n    ax = Add (a, a)\n    y = ReduceMean <keepdims = 0> (x, ax)")
    original = model_at(opset, f"""
agraph (float[N, 4, 6] x) => (float[N, 4] y) {{
    {body}
}}
""")
    found = lint_target(original, "8.6")
    if not as_input:
        assert not found
        return
    [finding] = found
    assert "input 1 (axes)" in finding.message
    [plan] = finding.fix
    assert isinstance(plan, SetInputs) and list(plan.inputs[1]) == [2]  # type: ignore[arg-type]


# -- TopK: k an attribute (TopK-1), K an input (TopK-10 on) ----------------------------------------------

@pytest.mark.parametrize("opset", [9, 10, 11])
def test_topk_k(opset: int) -> None:
    """``x.topk(x.size(1) // 2)``: TopK-10 takes K as a run-time input, TopK-1 as the attribute k."""
    if opset < 10:
        body = "v, i = TopK <axis = 1, k = 2> (x)"
    else:
        body = """s = Shape (x)
    one = Constant <value = int64[1] {1}> ()
    two = Constant <value = int64[1] {2}> ()
    c = Slice (s, one, two)
    k = Div (c, two)
    v, i = TopK <axis = 1> (x, k)"""
    original = model_at(opset, f"""
agraph (float[N, 4, 6] x) => (float[N, 2, 6] v) {{
    {body}
}}
""")
    result = lint_and_fix(original, "GF101", None if opset < 10 else {1: [2]})
    if result is not None:
        assert ops(result) == ["TopK"]
        same_numerics(original, result, (4, 6))


# -- Resize-18's axes attribute: scales and sizes of the named axes only ---------------------------------

@pytest.mark.parametrize("opset", [18, 19])
def test_resize_with_axes_by_sizes(opset: int) -> None:
    original = model_at(opset, """
agraph (float[N, 3, 8, 8] x) => (float[N, 3, 16, 16] y) {
    s = Shape (x)
    two = Constant <value = int64[1] {2}> ()
    four = Constant <value = int64[1] {4}> ()
    hw = Slice (s, two, four)
    sizes = Mul (hw, two)
    y = Resize <mode = "nearest", axes = [2, 3]> (x, , , sizes)
}
""")
    [finding] = lint(original, "GF201")
    [plan] = finding.fix
    assert isinstance(plan, SetInputs) and list(plan.inputs[2]) == [2.0, 2.0]  # type: ignore[arg-type]
    result = fixed(original)
    assert ops(result) == ["Resize"] and constant_input(result, "Resize", 2) == [2.0, 2.0]
    same_numerics(original, result, (3, 8, 8))


def test_resize10_scales_that_follow_the_batch_are_not_fixable() -> None:
    """Scales computed from the batch dim (a constant only when it is not read): reported, not guessed."""
    original = model_at(10, """
agraph (float[N, 3, 8, 8] x) => (float[M, 3, 16, 16] y) {
    s = Shape (x)
    zero = Constant <value = int64[1] {0}> ()
    one = Constant <value = int64[1] {1}> ()
    b = Slice (s, zero, one)
    bf = Cast <to = 1> (b)
    k = Constant <value = float[1] {2.0}> ()
    top = Add (bf, k)
    ratio = Div (top, bf)
    rest = Constant <value = float[3] {1, 2, 2}> ()
    scales = Concat <axis = 0> (ratio, rest)
    y = Resize <mode = "nearest"> (x, scales)
}
""")
    [finding] = lint(original, "GF202")
    assert not finding.fix and finding.reason is not None and "batch" in finding.reason


# -- The shortest batch chain GF101 writes: Shape(start, end) from 15, Shape + Slice before (Slice-1: attributes)

@pytest.mark.parametrize("opset", [9, 10, 13, 15])
def test_batch_chain_written_at_each_opset(opset: int) -> None:
    """A class token expanded to the batch: the chain becomes Concat(Shape(x)[0:1], [1, 8])."""
    unsqueeze = ("bu = Unsqueeze <axes = [0]> (b)" if opset < 13 else
                 "ax = Constant <value = int64[1] {0}> ()\n    bu = Unsqueeze (b, ax)")
    original = model_at(opset, f"""
agraph (float[N, 4, 8] x) => (float[N, 5, 8] y) {{
    cls = Constant <value = float[1, 1, 8] {{1, 2, 3, 4, 5, 6, 7, 8}}> ()
    s = Shape (x)
    i0 = Constant <value = int64 {{0}}> ()
    b = Gather <axis = 0> (s, i0)
    {unsqueeze}
    rest = Constant <value = int64[2] {{1, 8}}> ()
    shape = Concat <axis = 0> (bu, rest)
    e = Expand (cls, shape)
    y = Concat <axis = 1> (e, x)
}}
""")
    result = fixed(original)
    expected = ["Shape", "Concat", "Expand", "Concat"] if opset >= 15 else ["Shape", "Slice", "Concat", "Expand", "Concat"]
    assert ops(result) == expected
    if opset < 10:
        slice_node = node(result, "Slice")
        assert len(slice_node.input) == 1 and {a.name for a in slice_node.attribute} == {"starts", "ends"}
    same_numerics(original, result, (4, 8))
