from graphs import findings, parse

from graphfix.linting import Safety


def test_static_batch_is_reported_and_fixable_with_dynamic_batch():
    model = parse("""
    agraph (float[1, 4, 8, 8] x) => (float[1, 256] y) {
        t = Constant <value = int64[2] {-1, 256}> ()
        y = Reshape (x, t)
    }""")
    [finding] = findings(model, "GF302")
    assert finding.fixable and finding.safety is Safety.NEEDS_DYNAMIC_BATCH
    assert {plan.value.name: plan.dims[0] for plan in finding.fix} == {"x": "batch", "y": "batch"}


def test_static_batch_baked_into_a_reshape_is_not_fixable():
    model = parse("""
    agraph (float[2, 16, 16] x) => (float[2, 256] y) {
        t = Constant <value = int64[2] {2, 256}> ()
        y = Reshape (x, t)
    }""")
    [finding] = findings(model, "GF302")
    assert not finding.fixable and "bake the batch" in finding.reason


def test_dynamic_batch_is_clean():
    model = parse("""
    agraph (float[N, 4] x) => (float[N, 4] y) {
        y = Relu (x)
    }""")
    assert findings(model, "GF302") == []
