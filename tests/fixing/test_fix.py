"""graphfix fix on hand-built graphs: the rewrites, verification, and what the output keeps."""

import errno
from pathlib import Path

import numpy as np
import onnx
import onnx.helper as oh
import onnx_ir as ir
import pytest
from graphs import RESIZE_SIZES, SCALE_BY_SHAPE, VIEW_SIZE0, parse, run

import graphfix
from graphfix.cli import main
from graphfix.errors import GraphfixError, VerificationError
from graphfix.fixing import fix


def fixed_proto(result) -> onnx.ModelProto:
    return ir.to_proto(result.model)


def assert_same_outputs(original: onnx.ModelProto, fixed: onnx.ModelProto, shape: tuple[int, ...], batches=(1, 3)):
    rng = np.random.default_rng(0)
    name = original.graph.input[0].name
    for batch in batches:
        x = rng.standard_normal((batch, *shape)).astype(np.float32)
        for a, b in zip(run(original, {name: x}), run(fixed, {name: x})):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


@pytest.mark.parametrize("text,shape", [(VIEW_SIZE0, (4, 8, 8)), (RESIZE_SIZES, (3, 8, 8)),
                                        (SCALE_BY_SHAPE, (16, 32))])
def test_fix_removes_the_shape_chain_and_keeps_numerics(text: str, shape: tuple[int, ...]):
    original = parse(text)
    result = fix(original)
    fixed = fixed_proto(result)
    assert "Shape" not in ops(fixed) and "Gather" not in ops(fixed)
    assert result.verification is not None and result.verification.passed
    assert result.verification.batches == [1, 3]
    assert fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert_same_outputs(original, fixed, shape)
    assert [f for f in graphfix.lint(fixed).findings if f.fixable] == []


@pytest.mark.parametrize("opset", [13, 17])
def test_batch_expand_gets_the_shortest_chain_and_keeps_numerics(opset: int):
    original = parse("""
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
    }""", opset=opset)
    result = fix(original)
    fixed = fixed_proto(result)
    assert "Gather" not in ops(fixed) and ops(fixed).count("Shape") == 1
    assert ("Slice" in ops(fixed)) == (opset < 15)
    assert result.verification.passed
    assert_same_outputs(original, fixed, (4, 8))
    assert graphfix.lint(fixed).findings == []


def test_fixing_a_fixed_model_changes_nothing():
    once = fixed_proto(fix(parse(VIEW_SIZE0)))
    again = fix(once)
    assert again.applied == [] and again.rounds == 0
    assert ops(fixed_proto(again)) == ops(once)


def test_in_memory_model_is_not_modified():
    original = parse(VIEW_SIZE0)
    before = original.SerializeToString()
    fix(original)
    assert original.SerializeToString() == before


def test_baked_batch_needs_unsafe_fixes_and_is_verified_at_the_export_batch():
    text = """
    agraph (float[N, 16, 16] x) => (float[A, B] y) {
        t = Constant <value = int64[2] {2, 256}> ()
        y = Reshape (x, t)
    }"""
    safe = fix(parse(text))
    assert "GF103" not in {f.code for f in safe.applied} and [f.code for f in safe.remaining] == ["GF103"]
    assert safe.verification.batches == [2]  # the original only runs at its export batch
    unsafe = fix(parse(text), unsafe_fixes=True)
    assert "GF103" in [f.code for f in unsafe.applied]
    # A repair is verified beyond the export batch: per sample at 1 and 3, against the original at 2.
    assert unsafe.verification.passed and unsafe.verification.batches == [1, 2, 3]
    assert "per sample at its export batch 2" in unsafe.verification.reference
    fixed = fixed_proto(unsafe)
    x = np.ones((5, 16, 16), np.float32)
    assert run(fixed, {"x": x})[0].shape == (5, 256)


def test_planted_wrong_rewrite_is_caught_and_nothing_is_written(tmp_path, monkeypatch):
    from graphfix.fixing import editor

    real = editor.Editor.constant

    def wrong(self, array, hint):
        return real(self, array + 0.5 if array.dtype.kind == "f" else array, hint)

    monkeypatch.setattr(editor.Editor, "constant", wrong)
    source = tmp_path / "m.onnx"
    onnx.save(parse(SCALE_BY_SHAPE), source)
    out = tmp_path / "out.onnx"
    with pytest.raises(VerificationError, match="does not match the original"):
        fix(source, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    forced = fix(source, out, force=True)
    assert not forced.verification.passed and out.exists()
    assert main(["fix", str(source), "-o", str(tmp_path / "forced.onnx"), "--force"]) == 1


def test_output_equal_to_input_needs_in_place(tmp_path):
    source = tmp_path / "m.onnx"
    onnx.save(parse(VIEW_SIZE0), source)
    before = source.read_bytes()
    with pytest.raises(GraphfixError, match="in_place=True"):  # --in-place: tests/cli/test_errors.py
        fix(source, source)
    assert source.read_bytes() == before
    fix(source, source, in_place=True)
    assert "Shape" not in ops(onnx.load(source))


def test_missing_output_folder(tmp_path):
    source = tmp_path / "m.onnx"
    onnx.save(parse(VIEW_SIZE0), source)
    with pytest.raises(GraphfixError, match="does not exist"):
        fix(source, tmp_path / "nope" / "out.onnx")


def test_disk_full_leaves_no_partial_file(tmp_path, monkeypatch):
    source = tmp_path / "m.onnx"
    onnx.save(parse(VIEW_SIZE0), source)

    def full_disk(model, path, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ir, "save", full_disk)
    with pytest.raises(GraphfixError, match="no space left on device"):
        fix(source, tmp_path / "out.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_output_keeps_names_metadata_opsets_functions_and_custom_nodes(tmp_path):
    model = parse(VIEW_SIZE0)
    model.opset_import.append(oh.make_opsetid("custom.domain", 3))
    node = oh.make_node("MyOp", ["y"], ["z"], domain="custom.domain", name="keep_me")
    model.graph.node.append(node)
    model.graph.output.append(oh.make_tensor_value_info("z", onnx.TensorProto.FLOAT, ["N", 256]))
    oh.set_model_props(model, {"author": "me", "license": "mit"})
    model.doc_string = "my model"
    model.producer_name = "pytorch"
    model.functions.append(oh.make_function("custom.domain", "Unused", ["a"], ["b"],
                                            [oh.make_node("Relu", ["a"], ["b"])],
                                            [oh.make_opsetid("", 17)]))
    source = tmp_path / "m.onnx"
    onnx.save(model, source)
    out = tmp_path / "out.onnx"
    # ONNX Runtime cannot run the custom op, so verification is skipped; validation still runs.
    result = fix(source, out, verify=False)
    assert [f.code for f in result.applied] == ["GF101"]
    fixed = onnx.load(out)
    assert [o.name for o in fixed.graph.output] == ["y", "z"] and [i.name for i in fixed.graph.input] == ["x"]
    assert {p.key: p.value for p in fixed.metadata_props} == {"author": "me", "license": "mit"}
    assert fixed.doc_string == "my model" and fixed.producer_name == "pytorch"
    assert {o.domain: o.version for o in fixed.opset_import} == {"": 17, "custom.domain": 3}
    assert [f.name for f in fixed.functions] == ["Unused"]
    assert any(n.name == "keep_me" and n.domain == "custom.domain" for n in fixed.graph.node)


def test_external_data_is_written_beside_the_output(tmp_path):
    model = parse(VIEW_SIZE0)
    model.graph.node[-1].output[0] = "r"
    model.graph.node.append(oh.make_node("Add", ["r", "w"], ["y"]))
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.arange(256, dtype=np.float32), "w"))
    source = tmp_path / "in" / "m.onnx"
    source.parent.mkdir()
    onnx.save(model, source, save_as_external_data=True, location="m.onnx.data", size_threshold=0)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = fix(source, out_dir / "fixed.onnx")
    assert result.verification.passed
    assert sorted(p.name for p in out_dir.iterdir()) == ["fixed.onnx", "fixed.onnx.data"]
    fixed = onnx.load(out_dir / "fixed.onnx")
    x = np.ones((2, 4, 8, 8), np.float32)
    np.testing.assert_array_equal(run(out_dir / "fixed.onnx", {"x": x})[0], run(source, {"x": x})[0])
    assert "Shape" not in ops(fixed)


def test_dynamic_batch_on_a_static_model(tmp_path):
    static = parse("""
    agraph (float[1, 4, 8, 8] x) => (float[1, 256] y) {
        t = Constant <value = int64[2] {-1, 256}> ()
        y = Reshape (x, t)
    }""")
    plain = fix(static)
    assert plain.applied == [] and [f.code for f in plain.remaining] == ["GF302"]
    result = fix(static, dynamic_batch=True)
    fixed = fixed_proto(result)
    assert fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    # The batch made dynamic is verified beyond the static batch: per sample at 3 against the original at 1.
    assert result.verification.batches == [1, 3] and result.verification.passed
    assert "per sample at its export batch 1" in result.verification.reference
    assert run(fixed, {"x": np.ones((3, 4, 8, 8), np.float32)})[0].shape == (3, 256)


def test_dynamic_batch_is_refused_when_the_batch_is_baked():
    static = parse("""
    agraph (float[2, 16, 16] x) => (float[2, 256] y) {
        t = Constant <value = int64[2] {2, 256}> ()
        y = Reshape (x, t)
    }""")
    with pytest.raises(GraphfixError, match="dynamic_batch=True refused: .*bake the batch"):  # tests/cli too
        fix(static, dynamic_batch=True)


def test_pinned_input_shape_folds_what_depends_on_height_and_width():
    text = VIEW_SIZE0.replace("float[N, 4, 8, 8] x", "float[N, 4, H, W] x").replace("float[N, 256] y", "float[N, F] y")
    result = fix(parse(text), input_shapes={"x": [1, 4, 8, 8]})
    fixed = fixed_proto(result)
    dims = fixed.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [4, 8, 8]
    assert fixed.graph.output[0].type.tensor_type.shape.dim[1].dim_value == 256
    assert "Shape" not in ops(fixed) and result.verification.passed


def test_reshape_override_and_hook():
    model = parse("""
    agraph (float[N, 4, 8, 8] x) => (float[N, 256] y) {
        t = Constant <value = int64[2] {-1, 256}> ()
        y = Reshape <allowzero = 0> (x, t)
    }""")
    model.graph.node[1].name = "head"
    result = fix(model, reshape={"head": [-1, 4, 64]}, verify=False)
    assert result.user_edits == ["head: target := [-1, 4, 64]"]
    seen = []

    def hook(name, shape):
        seen.append((name, shape))
        return [0, 256]

    result = fix(model, reshape_hook=hook)
    assert seen == [("head", [-1, 256])] and result.verification.passed
    with pytest.raises(GraphfixError, match="no Reshape node named 'nope'"):
        fix(model, reshape={"nope": [1]})


def test_cli_fix_writes_reports_and_diff_writes_nothing(tmp_path, capsys):
    source = tmp_path / "m.onnx"
    onnx.save(parse(RESIZE_SIZES), source)
    assert main(["fix", str(source), "--diff"]) == 1  # it would change: pre-commit fails
    out = capsys.readouterr().out
    assert "GF201" in out and "nothing written" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    assert main(["fix", str(source), "-o", str(tmp_path / "f.onnx")]) == 0
    out = capsys.readouterr().out
    assert "verification PASSED" in out and "Shape" in out and "wrote" in out
    assert main(["lint", str(tmp_path / "f.onnx")]) == 0
    assert main(["fix", str(source)]) == 2
    assert "needs -o" in capsys.readouterr().err


def test_custom_op_without_reference_is_refused_with_gf402(tmp_path):
    model = parse(VIEW_SIZE0)
    model.opset_import.append(oh.make_opsetid("custom.domain", 1))
    model.graph.node.append(oh.make_node("MyOp", ["y"], ["z"], domain="custom.domain"))
    model.graph.output[0].CopyFrom(oh.make_tensor_value_info("z", onnx.TensorProto.FLOAT, ["N", 256]))
    source = tmp_path / "m.onnx"
    onnx.save(model, source)
    from graphfix.plugins import MissingReference, Registry

    # ONNX Runtime has no kernel for MyOp: nothing is verified through it without a reference (GF402).
    with pytest.raises(MissingReference, match=r"^GF402 custom operator MyOp .*verify=False"):
        fix(source, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()
    registry = Registry()
    registry.register("MyOp", lambda y: y * 2)
    result = fix(source, tmp_path / "out.onnx", custom_ops=registry)
    assert result.verification is not None and result.verification.passed
