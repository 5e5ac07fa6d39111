"""Batch slots outside Reshape (issue 8): pads that are a function of the batch (``F.pad`` to an even batch,
to a multiple) get the shortest run-time form; batches baked into Tile / Expand / ConstantOfShape / Range /
Slice / constants become the batch again with ``unsafe_fixes``, verified per sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import pytest
from graphs import findings, parse, run

from graphfix.analyse.batch_forms import entry_form
from graphfix.errors import GraphfixError, VerificationError
from graphfix.fixing import fix
from graphfix.linting import BatchShape, Safety

# F.pad(x, (0, 0, 0, 0, 0, n % m)) then [:n]: the pad amount on the batch axis is computed from Shape(x).
PAD_TO_MULTIPLE = """
g (float[N, 4, 3] x) => (float[N, 4, 3] y) {
    s = Shape (x)
    i0 = Constant <value = int64[1] {0}> ()
    b = Gather <axis = 0> (s, i0)
    m = Constant <value = int64[1] {MOD}> ()
    r = Mod (b, m)
    left = Sub (m, r)
    amount = Mod (left, m)
    z3 = Constant <value = int64[3] {0, 0, 0}> ()
    z2 = Constant <value = int64[2] {0, 0}> ()
    joined = Concat <axis = 0> (z3, amount, z2)
    pads = Cast <to = 7> (joined)
    p = Pad (x, pads)
    t = Tanh (p)
    starts = Constant <value = int64[1] {0}> ()
    axes = Constant <value = int64[1] {0}> ()
    y = Slice (t, starts, b, axes)
}
"""


@pytest.mark.parametrize("modulus, form", [(2, ("mod", 1, 0, 2)), (4, ("mod", 3, 0, 4)), (3, ("mod", 2, 0, 3))])
def test_pads_to_a_multiple_of_the_batch_get_the_modulo_form(modulus: int, form: tuple[object, ...]):
    model = parse(PAD_TO_MULTIPLE.replace("MOD", str(modulus)))
    [finding] = [f for f in findings(model, "GF101") if f.node.op_type == "Pad"]
    [plan] = finding.fix
    assert isinstance(plan, BatchShape) and plan.index == 1 and plan.source.name == "x"
    assert plan.entries == (0, 0, 0, form, 0, 0)
    assert f"(x.shape[0]{'*' + str(form[1]) if form[1] != 1 else ''}) % {modulus}" in finding.message
    result = fix(model, verify=False)
    assert not [f for f in result.remaining if f.node is not None and f.node.op_type == "Pad"]
    fixed = ir.to_proto(result.model)
    ops = [n.op_type for n in fixed.graph.node]
    assert ops.count("Mod") == 1 and "Cast" not in ops and "Sub" not in ops
    for batch in range(1, 9):
        x = np.random.default_rng(batch).standard_normal((batch, 4, 3)).astype(np.float32)
        np.testing.assert_array_equal(run(fixed, {"x": x})[0], run(model, {"x": x})[0])


def test_entry_forms():
    assert entry_form({b: 7 for b in range(1, 25)}) == 7
    assert entry_form({b: 3 * b for b in range(1, 25)}) == ("batch", 3)
    assert entry_form({b: b % 2 for b in range(1, 25)}) == ("mod", 1, 0, 2)
    assert entry_form({b: (8 - b % 8) % 8 for b in range(1, 25)}) == ("mod", 7, 0, 8)
    assert entry_form({b: (b + 1) % 3 for b in range(1, 25)}) == ("mod", 1, 1, 3)
    assert entry_form({b: b * b for b in range(1, 25)}) is None
    assert entry_form({b: b + 1 for b in range(1, 25)}) is None  # not written by this form


def test_a_pad_whose_chain_reads_a_tensor_not_linear_in_the_batch_is_left():
    # Shape of the padded tensor (b + b % 2) is not linear in the batch: no form is guessed from it.
    text = PAD_TO_MULTIPLE.replace("MOD", "2").replace("y = Slice (t, starts, b, axes)", """s2 = Shape (t)
    b2 = Gather <axis = 0> (s2, i0)
    four = Constant <value = int64[1] {4}> ()
    r2 = Mod (b2, four)
    joined2 = Concat <axis = 0> (z3, r2, z2)
    pads2 = Cast <to = 7> (joined2)
    p2 = Pad (t, pads2)
    y = Slice (p2, starts, b, axes)""")
    model = parse(text)
    pads = [f for f in findings(model, "GF101") if f.node.op_type == "Pad" and f.node.inputs[1].name == "pads2"]
    assert pads and all(not f.fixable for f in pads)
    assert "not fixable" in pads[0].message


# Each graph bakes the export batch 2 into one slot; x is [N, 4, 3].
BAKED = {
    "tile": ("float[N, 4, 3] y", """
    p = Constant <value = float[1, 4, 1] {1, 2, 3, 4}> ()
    reps = Constant <value = int64[3] {2, 1, 3}> ()
    t = Tile (p, reps)
    y = Mul (x, t)"""),
    "expand": ("float[N, 4, 6] y", """
    p = Constant <value = float[1, 4, 3] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}> ()
    shape = Constant <value = int64[3] {2, 4, 3}> ()
    e = Expand (p, shape)
    y = Concat <axis = 2> (x, e)"""),
    "constantofshape": ("float[N, 5, 3] y", """
    shape = Constant <value = int64[3] {2, 1, 3}> ()
    z = ConstantOfShape <value = float[1] {0.5}> (shape)
    y = Concat <axis = 1> (z, x)"""),
    "range": ("float[N, 4, 3] y", """
    start = Constant <value = int64 {0}> ()
    limit = Constant <value = int64 {2}> ()
    delta = Constant <value = int64 {1}> ()
    r = Range (start, limit, delta)
    rf = Cast <to = 1> (r)
    axes = Constant <value = int64[2] {1, 2}> ()
    ru = Unsqueeze (rf, axes)
    zero = Constant <value = float {0}> ()
    one = Constant <value = float {1}> ()
    scaled = Mul (ru, zero)
    mask = Add (scaled, one)
    y = Mul (x, mask)"""),
    "slice": ("float[N, 4, 3] y", """
    t = Tanh (x)
    starts = Constant <value = int64[1] {0}> ()
    ends = Constant <value = int64[1] {2}> ()
    axes = Constant <value = int64[1] {0}> ()
    y = Slice (t, starts, ends, axes)"""),
    "constant-broadcast": ("float[N, 4, 3] y", """
    c = Constant <value = float[2, 4, 1] {1, 2, 3, 4, 1, 2, 3, 4}> ()
    y = Add (x, c)"""),
    "constant-concat": ("float[N, 5, 3] y", """
    c = Constant <value = float[2, 1, 3] {1, 2, 3, 1, 2, 3}> ()
    y = Concat <axis = 1> (x, c)"""),
}

# What GF103 names, the plan it writes and the nodes the repair leaves (op type -> count).
EXPECTED = {
    "tile": ("Tile", "repeats [2, 1, 3]", "x.repeat(n", "[x.shape[0], 1, 3]", {"Shape": 1, "Concat": 1}),
    "expand": ("Expand", "shape [2, 4, 3]", "x.expand(n", "[x.shape[0], 4, 3]", {"Shape": 1, "Concat": 2}),
    "constantofshape": ("ConstantOfShape", "shape [2, 1, 3]", "torch.zeros/ones/full", "[x.shape[0], 1, 3]",
                        {"Shape": 1, "Concat": 2}),
    "range": ("Range", "limit 2", "torch.arange(n)", "the scalar x.shape[0]", {"Shape": 1, "Squeeze": 1}),
    "slice": ("Slice", "ends [2]", "x[:n]", "[9223372036854775807]", {"Shape": 0}),
    "constant-broadcast": ("Add", "[2, 4, 1] constant", "folded into a constant", "its first row", {"Shape": 0}),
    "constant-concat": ("Concat", "[2, 1, 3] constant", "folded into a constant",
                        "a [1, 1, 3] constant expanded to [x.shape[0], 1, 3]", {"Shape": 1, "Expand": 1}),
}


def _baked(kind: str) -> onnx.ModelProto:
    output, body = BAKED[kind]
    return parse(f"g (float[N, 4, 3] x) => ({output}) {{{body}\n}}")


def _per_sample_reference(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The original at its export batch 2, each sample alone (repeated to fill the batch), row 0."""
    rows = [run(model, {"x": np.repeat(x[i:i + 1], 2, axis=0)})[0][:1] for i in range(x.shape[0])]
    return np.concatenate(rows, 0)


@pytest.mark.parametrize("kind", list(BAKED))
def test_a_baked_batch_slot_is_named_and_repaired_per_sample(kind: str, tmp_path: Path):
    model = _baked(kind)
    op, baked, cause, shown, counts = EXPECTED[kind]
    [finding] = findings(model, "GF103")
    assert finding.node.op_type == op and finding.safety is Safety.UNSAFE and finding.fixable
    assert baked in finding.message and "export batch 2" in finding.message and cause in finding.message
    assert shown in finding.message
    assert not [f for f in fix(model, verify=False).applied if f.code == "GF103"]  # unsafe only

    result = fix(model, tmp_path / "fixed.onnx", unsafe_fixes=True)
    assert [f.code for f in result.applied if f.code == "GF103"] == ["GF103"]
    assert [f for f in result.remaining if f.severity != "info"] == []
    assert result.baked_left == () and result.export_batches == (2,)
    assert result.verification is not None and result.verification.passed
    assert "per sample" in result.verification.reference
    fixed = onnx.load(str(tmp_path / "fixed.onnx"))
    ops = [n.op_type for n in fixed.graph.node]
    for name, count in counts.items():
        assert ops.count(name) == count, (name, ops)
    for batch in (1, 2, 3, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 4, 3)).astype(np.float32)
        np.testing.assert_allclose(run(fixed, {"x": x})[0], _per_sample_reference(model, x), rtol=1e-6)


def test_a_constant_whose_rows_differ_is_reported_not_rewritten():
    model = parse("""g (float[N, 4, 3] x) => (float[N, 4, 3] y) {
    c = Constant <value = float[2, 4, 1] {1, 2, 3, 4, 5, 6, 7, 8}> ()
    y = Add (x, c)
}""")
    [finding] = findings(model, "GF103")
    assert not finding.fixable and "rows differ" in (finding.reason or "")
    assert "export batch 2" in finding.message and not findings(model, "GF902")


def test_a_range_repair_of_a_model_that_mixes_samples_is_refused_honestly(tmp_path: Path):
    # x + torch.arange(int(b)) gives each sample its index: nothing per sample can verify the repair.
    model = parse("""g (float[N, 4, 3] x) => (float[N, 4, 3] y) {
    start = Constant <value = int64 {0}> ()
    limit = Constant <value = int64 {2}> ()
    delta = Constant <value = int64 {1}> ()
    r = Range (start, limit, delta)
    rf = Cast <to = 1> (r)
    axes = Constant <value = int64[2] {1, 2}> ()
    ru = Unsqueeze (rf, axes)
    y = Add (x, ru)
}""")
    [finding] = findings(model, "GF103")
    assert finding.fixable and "torch.arange(n)" in finding.message
    with pytest.raises(VerificationError, match="does not treat its samples independently"):
        fix(model, tmp_path / "fixed.onnx", unsafe_fixes=True)
    assert not (tmp_path / "fixed.onnx").exists()


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_a_loop_unrolled_over_the_batch_is_reported_with_how_to_re_export(opset: int):
    # torch.stack([f(s) for s in x.unbind(0)]) exported at batch 2: Split(x, [1, 1]) and one branch each.
    split = {11: "Split <axis = 0, split = [1, 1]> (x)", 13: "Split <axis = 0> (x, sizes)",
             18: "Split <axis = 0> (x, sizes)"}[opset]
    model = parse(f"""g (float[N, 4, 3] x) => (float[N, 4, 3] y) {{
    sizes = Constant <value = int64[2] {{1, 1}}> ()
    a, b = {split}
    ta = Tanh (a)
    sb = Sigmoid (b)
    y = Concat <axis = 0> (ta, sb)
}}""", opset=opset)
    [finding] = findings(model, "GF103")
    assert finding.node.op_type == "Split" and not finding.fixable
    assert "2 pieces [1, 1]" in finding.message and "export batch 2" in finding.message
    assert "x.unbind(0)" in finding.message and "re-export" in (finding.reason or "")
    assert findings(model, "GF902") == []  # the failure downstream is this loop, reported once
    result = fix(model, verify=False, unsafe_fixes=True)
    assert [f.code for f in result.remaining] == ["GF103"] and not result.changed


def test_a_chunk_of_the_batch_in_halves_is_not_a_loop():
    # noise_uncond, noise_text = x.chunk(2) (classifier-free guidance): runs at every even batch.
    model = parse("""g (float[N, 4, 3] x) => (float[M, 4, 3] y) {
    a, b = Split <axis = 0, num_outputs = 2> (x)
    y = Sub (a, b)
}""", opset=18)
    assert findings(model, "GF103") == []


def test_a_frozen_height_is_not_a_baked_batch():
    # A [1, 4, 8] constant added to x [N, 4, H]: fails only when H moves (a frozen H), never at other batches.
    model = parse("""g (float[N, 4, H] x) => (float[N, 4, H] y) {
    c = Constant <value = float[1, 4, 8] {0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7}> ()
    y = Add (x, c)
}""")
    assert findings(model, "GF103") == []


def test_a_static_export_gets_its_batch_slots_back_with_dynamic_batch(tmp_path: Path):
    # The dynamo exporter specialises int(x.shape[0]): a static [2, 4, 3] export whose torch.full((int(b), 1, 3))
    # is a stored [2, 1, 3] constant. --dynamic-batch --unsafe-fixes makes the batch dynamic and repairs it.
    model = parse("""g (float[2, 4, 3] x) => (float[2, 5, 3] y) {
    c = Constant <value = float[2, 1, 3] {1, 2, 3, 1, 2, 3}> ()
    t = Tanh (x)
    y = Concat <axis = 1> (t, c)
}""")
    [static] = findings(model, "GF302")
    assert static.fixable and "a [1, 1, 3] constant expanded to [x.shape[0], 1, 3]" in static.message
    with pytest.raises(GraphfixError, match="unsafe_fixes"):
        fix(model, tmp_path / "refused.onnx", dynamic_batch=True)
    result = fix(model, tmp_path / "fixed.onnx", dynamic_batch=True, unsafe_fixes=True)
    assert result.verification is not None and result.verification.passed
    fixed = onnx.load(str(tmp_path / "fixed.onnx"))
    assert fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 4, 3)).astype(np.float32)
        np.testing.assert_allclose(run(fixed, {"x": x})[0], _per_sample_reference(model, x), rtol=1e-6)


def test_a_static_export_with_an_unrolled_loop_says_why_it_stays_static():
    model = parse("""g (float[2, 4, 3] x) => (float[2, 4, 3] y) {
    sizes = Constant <value = int64[2] {1, 1}> ()
    a, b = Split <axis = 0> (x, sizes)
    ta = Tanh (a)
    sb = Sigmoid (b)
    y = Concat <axis = 0> (ta, sb)
}""")
    [static] = findings(model, "GF302")
    assert not static.fixable and "cannot be rewritten" in (static.reason or "")


# The dynamo exporter's x.unbind(0) at export batch 3: one Slice [i:i+1] per image, one branch each.
_PER_IMAGE = """g (float[{b}, 4, 3] x) => (float[{o}, 4, 3] y) {{
    zero = Constant <value = int64[1] {{0}}> ()
    one = Constant <value = int64[1] {{1}}> ()
    two = Constant <value = int64[1] {{2}}> ()
    three = Constant <value = int64[1] {{3}}> ()
    a = Slice (x, zero, one, zero)
    b = Slice (x, one, two, zero)
    c = Slice (x, two, three, zero)
    ta = Tanh (a)
    sb = Sigmoid (b)
    rc = Relu (c)
    y = Concat <axis = 0> (ta, sb, rc)
}}"""


def test_a_static_export_with_one_slice_per_image_says_why_it_stays_static(tmp_path: Path):
    model = parse(_PER_IMAGE.format(b=3, o=3))
    [static] = findings(model, "GF302")
    assert not static.fixable and "Slice 'Slice(a)'" in (static.reason or "") and "cannot be rewritten" in static.message
    with pytest.raises(GraphfixError, match="dynamic_batch=True refused.*loop unrolled over the export batch"):
        fix(model, tmp_path / "fixed.onnx", dynamic_batch=True, unsafe_fixes=True)
    assert not (tmp_path / "fixed.onnx").exists()


def test_one_slice_per_image_of_a_dynamic_batch_is_reported_as_a_loop():
    model = parse(_PER_IMAGE.format(b="N", o="N"))
    [finding] = findings(model, "GF103")
    assert finding.node.name == "" and finding.node.outputs[0].name == "a" and not finding.fixable
    assert "one Slice per image" in finding.message and "export batch 3" in finding.message
    assert "re-export" in (finding.reason or "")


def test_the_first_images_taken_on_purpose_are_not_a_loop():
    # x[0:1], x[1:2], x[2:3] of a dynamic batch whose output declares 3 rows: taking three images is the model.
    model = parse(_PER_IMAGE.format(b="N", o=3))
    assert findings(model, "GF103") == []


def test_a_static_export_sees_past_a_baked_constant_to_the_views_after_it(tmp_path: Path):
    # torch.full((int(b), 3, 1, 1), 0.5) folded to a [2, 3, 1, 1] constant, then x.reshape(b * c, h, w) that the
    # exporter wrote as [6, 2, 2]: the Add fails at other batches, and the view after it bakes 2 as well. Both
    # are found in one analysis (the Add walked as if its slot were repaired) and repaired together.
    model = parse("""g (float[2, 3, 2, 2] x) => (float[2, 3, 2, 2] y) {
    c = Constant <value = float[2, 3, 1, 1] {0.5, 0.5, 0.5, 0.5, 0.5, 0.5}> ()
    t = Tanh (x)
    a = Add (t, c)
    s1 = Constant <value = int64[3] {6, 2, 2}> ()
    v = Reshape (a, s1)
    m = Softmax <axis = 1> (v)
    s2 = Constant <value = int64[4] {2, 3, 2, 2}> ()
    y = Reshape (m, s2)
}""")
    [static] = findings(model, "GF302")
    assert static.fixable and "'Reshape(v)'" not in static.message
    assert "Add(a)" in static.message and "Reshape(v)" in static.message and "Reshape(y)" in static.message
    result = fix(model, tmp_path / "fixed.onnx", dynamic_batch=True, unsafe_fixes=True)
    assert result.verification is not None and result.verification.passed
    fixed = onnx.load(str(tmp_path / "fixed.onnx"))
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 2, 2)).astype(np.float32)
        np.testing.assert_allclose(run(fixed, {"x": x})[0], _per_sample_reference(model, x), rtol=1e-6)
