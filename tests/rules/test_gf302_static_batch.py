import numpy as np
from graphs import findings, parse, run, save

from graphfix.cli import main
from graphfix.linting import BatchShape, Safety, SetInputs


def test_static_batch_is_reported_and_fixable_with_dynamic_batch():
    model = parse("""
    agraph (float[1, 4, 8, 8] x) => (float[1, 256] y) {
        t = Constant <value = int64[2] {-1, 256}> ()
        y = Reshape (x, t)
    }""")
    [finding] = findings(model, "GF302")
    assert finding.fixable and finding.safety is Safety.NEEDS_DYNAMIC_BATCH
    assert {plan.value.name: plan.dims[0] for plan in finding.fix} == {"x": "batch", "y": "batch"}


def test_static_batch_baked_into_a_reshape_needs_unsafe_fixes_too():
    model = parse("""
    agraph (float[2, 16, 16] x) => (float[2, 256] y) {
        t = Constant <value = int64[2] {2, 256}> ()
        y = Reshape (x, t)
    }""")
    [finding] = findings(model, "GF302")
    assert finding.fixable and finding.safety is Safety.NEEDS_DYNAMIC_BATCH
    assert "1 node(s) bake the batch: Reshape(y)" in finding.message and "--unsafe-fixes" in finding.message
    [repair] = [p for p in finding.fix if isinstance(p, SetInputs)]
    assert list(repair.inputs[1]) == [-1, 256] and repair.check_batch == 2


def test_static_batch_baked_into_an_expand_is_repaired_with_the_batch_of_the_input(tmp_path):
    # torch.full / expand with a Python batch: the Expand's batch slot reads x's batch again, verified per
    # sample (the original only runs at its export batch 2).
    model = parse("""
    agraph (float[2, 4, 8] x) => (float[2, 5, 8] y) {
        cls = Constant <value = float[1, 1, 8] {1, 2, 3, 4, 5, 6, 7, 8}> ()
        shape = Constant <value = int64[3] {2, 1, 8}> ()
        e = Expand (cls, shape)
        y = Concat <axis = 1> (e, x)
    }""")
    [finding] = findings(model, "GF302")
    assert finding.fixable and "Expand(e)" in finding.message
    [repair] = [plan for plan in finding.fix if isinstance(plan, BatchShape)]
    assert repair.index == 1 and repair.source.name == "x" and repair.entries == (("batch", 1), 1, 8)

    original, fixed = save(model, tmp_path / "m.onnx"), tmp_path / "fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed), "--dynamic-batch", "--unsafe-fixes", "-q"]) == 0
    x = np.random.default_rng(0).standard_normal((3, 4, 8)).astype(np.float32)
    cls = np.broadcast_to(np.arange(1, 9, dtype=np.float32), (3, 1, 8))
    np.testing.assert_array_equal(run(fixed, {"x": x})[0], np.concatenate([cls, x], axis=1))


def test_dynamic_batch_is_clean():
    model = parse("""
    agraph (float[N, 4] x) => (float[N, 4] y) {
        y = Relu (x)
    }""")
    assert findings(model, "GF302") == []
