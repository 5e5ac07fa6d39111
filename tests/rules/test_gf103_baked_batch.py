from graphs import findings, parse

from graphfix.linting import Safety


def reshape(target: str, shape: str = "float[N, 16, 16] x") -> str:
    return f"""
    agraph ({shape}) => (float[A, B] y) {{
        t = Constant <value = int64[2] {{{target}}}> ()
        y = Reshape (x, t)
    }}"""


def test_python_int_batch_in_a_reshape_is_found_with_its_export_batch():
    [finding] = findings(parse(reshape("2, 256")), "GF103")
    assert finding.fixable and finding.safety is Safety.UNSAFE
    assert "bakes in batch 2" in finding.message
    assert list(finding.fix[0].inputs[1]) == [-1, 256]
    assert finding.fix[0].check_batch == 2


def test_batch_one_with_minus_one_elsewhere_is_found():
    [finding] = findings(parse(reshape("1, -1")), "GF103")
    assert list(finding.fix[0].inputs[1]) == [-1, 256]
    assert finding.fix[0].check_batch == 1


def test_minus_one_batch_is_clean():
    assert findings(parse(reshape("-1, 256")), "GF103") == []


def test_static_batch_model_is_not_reported():
    assert findings(parse(reshape("2, 256", shape="float[2, 16, 16] x")), "GF103") == []


def test_expand_to_a_fixed_batch_is_reported_where_it_breaks():
    model = parse("""
    agraph (float[N, 4, 8] x) => (float[N, 5, 8] y) {
        cls = Constant <value = float[1, 1, 8] {1, 2, 3, 4, 5, 6, 7, 8}> ()
        shape = Constant <value = int64[3] {2, 1, 8}> ()
        e = Expand (cls, shape)
        y = Concat <axis = 1> (e, x)
    }""")
    [finding] = findings(model, "GF103")
    assert finding.node.op_type == "Expand"
    assert finding.fixable and finding.safety is Safety.UNSAFE  # issue 8: the slot follows the batch again
    assert "shape [2, 1, 8]" in finding.message and "export batch 2" in finding.message
    assert "fixable as [x.shape[0], 1, 8]" in finding.message
    assert findings(model, "GF902") == []  # the failure is explained, not reported twice


def test_output_declared_with_the_export_batch_gets_a_dynamic_batch():
    model = parse("""
    agraph (float[N, 256] x) => (float[2, 256] y) {
        y = Relu (x)
    }""")
    [finding] = findings(model, "GF103")
    assert finding.fixable and finding.safety is Safety.SAFE
    assert finding.fix[0].dims == ("N", 256)


def test_a_frozen_height_and_width_is_not_reported_as_a_baked_batch():
    # H and W read through int() at export (128 x 192, the sizes the analysis probes first): the graph fails
    # only when H and W move, never at another batch size.
    model = parse("""
    agraph (float[N, 4, H, W] x) => (float[N, 4, 128, 192] y) {
        t = Constant <value = int64[4] {-1, 4, 128, 192}> ()
        r = Reshape (x, t)
        y = Add (r, x)
    }""")
    assert findings(model, "GF103") == []
    [frozen] = findings(model, "GF902")
    assert "fails when a dynamic non-batch dim changes (H 128 -> 256, W 192 -> 448)" in frozen.message
    assert "frozen at export" in frozen.message and "batch 3" not in frozen.message


def test_an_expand_to_the_export_batch_names_the_python_cause():
    model = parse("""
    agraph (float[N, 4, 8] x) => (float[N, 4, 8] y) {
        shape = Constant <value = int64[3] {3, 4, 8}> ()
        z = ConstantOfShape <value = float[1] {1.0}> (shape)
        y = Add (z, x)
    }""")
    [finding] = findings(model, "GF103")
    assert finding.node.op_type == "ConstantOfShape" and "the export batch 3" in finding.message
    assert "Python" in finding.message and "?" not in finding.message
