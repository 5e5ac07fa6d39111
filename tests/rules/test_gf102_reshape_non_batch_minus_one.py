from graphs import findings, parse

RESHAPE = """
agraph (float[N, 4, 8, 8] x) => (float[N, 64, 4] y) {{
    t = Constant <value = int64[3] {{{target}}}> ()
    y = Reshape (x, t)
}}"""


def test_minus_one_in_a_feature_dim_is_made_concrete_and_moves_to_the_batch():
    [finding] = findings(parse(RESHAPE.format(target="0, -1, 4")), "GF102")
    assert finding.fixable
    assert "dim 1, which is always 64" in finding.message
    assert list(finding.fix[0].inputs[1]) == [-1, 64, 4]


def test_minus_one_in_the_batch_dim_is_clean():
    assert findings(parse(RESHAPE.format(target="-1, 64, 4")), "GF102") == []


def test_minus_one_carrying_batch_times_features_is_clean():
    # view(-1, 4): the -1 is batch * 64, which follows the batch.
    model = parse("""
    agraph (float[N, 4, 8, 8] x) => (float[M, 4] y) {
        t = Constant <value = int64[2] {-1, 4}> ()
        y = Reshape (x, t)
    }""")
    assert findings(model, "GF102") == []


def test_static_model_keeps_its_leading_minus_one():
    model = parse("""
    agraph (float[1, 4, 8, 8] x) => (float[1, 256] y) {
        t = Constant <value = int64[2] {-1, 256}> ()
        y = Reshape (x, t)
    }""")
    assert findings(model, "GF102") == []
