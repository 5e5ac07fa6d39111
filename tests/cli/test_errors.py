"""Library errors speak of parameters; the CLI prints them with its flags (one line, exit 2)."""

from __future__ import annotations

import numpy as np
import onnx
import onnx.helper as oh
import pytest
from graphs import VIEW_SIZE0, parse

from graphfix.cli import main
from graphfix.cli.common import message_of
from graphfix.compiling.backends.tensorrt import build_engine, plan_build, profile_shapes
from graphfix.errors import GraphfixError, UsageError
from graphfix.verify import InputSpec

F32 = np.dtype(np.float32)


def test_output_equal_to_input_needs_in_place(tmp_path, capsys):
    source = tmp_path / "m.onnx"
    onnx.save(parse(VIEW_SIZE0), source)
    assert main(["fix", str(source), "-o", str(source)]) == 2
    err = capsys.readouterr().err
    assert "--in-place" in err and "in_place" not in err and err.count("\n") == 1


def test_dynamic_batch_is_refused_when_the_batch_is_baked(tmp_path, capsys):
    source = tmp_path / "static.onnx"
    onnx.save(parse("""
    agraph (float[2, 16, 16] x) => (float[2, 256] y) {
        t = Constant <value = int64[2] {2, 256}> ()
        y = Reshape (x, t)
    }"""), source)
    assert main(["fix", str(source), "-o", str(tmp_path / "out.onnx"), "--dynamic-batch"]) == 2
    err = capsys.readouterr().err
    assert "--dynamic-batch refused: " in err and "bake the batch" in err


def test_model_with_a_custom_op_and_no_reference_is_refused_with_gf402(tmp_path, capsys):
    model = parse(VIEW_SIZE0)
    model.opset_import.append(oh.make_opsetid("custom.domain", 1))
    model.graph.node.append(oh.make_node("MyOp", ["y"], ["z"], domain="custom.domain"))
    model.graph.output[0].CopyFrom(oh.make_tensor_value_info("z", onnx.TensorProto.FLOAT, ["N", 256]))
    source = tmp_path / "m.onnx"
    onnx.save(model, source)
    assert main(["fix", str(source), "-o", str(tmp_path / "out.onnx")]) == 2
    err = capsys.readouterr().err
    # ONNX Runtime has no kernel for MyOp: nothing is verified through it without a reference (GF402).
    assert err.startswith("graphfix: error: GF402 custom operator MyOp (node 'MyOp(z)') has no reference")
    assert "--custom-ops FILE.py" in err and "--no-verify" in err and not (tmp_path / "out.onnx").exists()


def test_reshape_override_names_the_flag(tmp_path, capsys):
    source = tmp_path / "m.onnx"
    onnx.save(parse(VIEW_SIZE0), source)
    assert main(["fix", str(source), "-o", str(tmp_path / "o.onnx"), "--reshape", "nope=1,2"]) == 2
    assert "--reshape: no Reshape node named 'nope'" in capsys.readouterr().err


def test_profile_errors_name_the_flags():
    """The TensorRT profile's errors, as the CLI prints them."""
    with pytest.raises(GraphfixError) as caught:
        profile_shapes([InputSpec("x", F32, None)], opt_batch=2, max_batch=4)
    assert "no declared shape; give it with --input-shape x:DIMS" in message_of(caught.value)
    with pytest.raises(GraphfixError) as caught:
        profile_shapes([InputSpec("images", F32, (None, 3, None, None))], opt_batch=1, max_batch=4)
    message = message_of(caught.value)
    assert "'images' dim 2 is dynamic" in message and "--input-shape images:1x3x<dim2>x<dim3>" in message
    assert "GF301" in message
    with pytest.raises(UsageError) as caught:
        profile_shapes([InputSpec("x", F32, (None, 8))], min_batch=2, opt_batch=1, max_batch=4)
    assert "1 <= min (2) <= --opt-batch (1) <= --max-batch (4)" in message_of(caught.value)


def test_optimization_level_is_spoken_of_as_opt_level(tmp_path):
    """The library names its parameter; the CLI's flag is --opt-level (not --optimization-level)."""
    model = tmp_path / "m.onnx"
    onnx.save(parse(VIEW_SIZE0), model)
    profile = profile_shapes([InputSpec("x", F32, (None, 4, 8, 8))], opt_batch=1, max_batch=2)
    with pytest.raises(UsageError) as caught:  # checked before TensorRT is looked for
        build_engine(model, tmp_path / "m.engine", plan=plan_build("10.13", "fp32"), profile=profile,
                     optimization_level=9)
    assert str(caught.value).startswith("optimization_level 9")
    assert message_of(caught.value).startswith("--opt-level 9: expected 0 to 5")


def test_every_parameter_a_library_error_names_has_a_flag():
    from graphfix.cli.flags import FLAGS, speak

    assert speak("optimization_level 9: expected 0 to 5", ["optimization_level"]) == "--opt-level 9: expected 0 to 5"
    assert speak("pass verify=False or force=True", ["verify=False", "force=True"]) == "pass --no-verify or --force"
    assert speak("reshape: no Reshape node", ["reshape"]) == "--reshape: no Reshape node"
    assert FLAGS["input_shapes"] == "--input-shape"


def _view_with_external_weight(folder):
    """VIEW_SIZE0 followed by an Add of a weight kept in external data (``m.onnx.data``)."""
    import onnx.numpy_helper as onh

    model = parse(VIEW_SIZE0)
    model.graph.node[-1].output[0] = "r"
    model.graph.node.append(oh.make_node("Add", ["r", "w"], ["y"]))
    model.graph.initializer.append(onh.from_array(np.arange(256, dtype=np.float32), "w"))
    onnx.save(model, folder / "m.onnx", save_as_external_data=True, location="m.onnx.data", size_threshold=0)
    return folder / "m.onnx"


def test_fix_of_a_model_whose_external_data_is_hard_linked_is_one_clear_error(tmp_path, capsys):
    import os

    import onnxruntime as ort

    source = _view_with_external_weight(tmp_path)
    os.link(tmp_path / "m.onnx.data", tmp_path / "cached.data")
    out = tmp_path / "out.onnx"
    assert main(["fix", str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphfix: error: ") and err.count("\n") == 1 and "internal error" not in err
    assert "'m.onnx.data' has 2 hard links" in err and "mv " in err
    assert not out.exists() and not (tmp_path / "out.onnx.data").exists()
    assert main(["compile", str(source), "--precision", "fp16", "-o", str(tmp_path / "e.engine")]) == 2
    assert "has 2 hard links" in capsys.readouterr().err
    # The remedy the message gives works: a file of its own, then the fix is written and verified.
    data = tmp_path / "m.onnx.data"
    copy = tmp_path / "m.onnx.data.copy"
    copy.write_bytes(data.read_bytes())
    copy.replace(data)
    assert main(["fix", str(source), "-o", str(out)]) == 0
    x = np.random.default_rng(0).standard_normal((3, 4, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(str(source)).run(None, {"x": x})[0]
    got = ort.InferenceSession(str(out)).run(None, {"x": x})[0]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("command", [
    ["lint", "{m}", "--output-file", "{m}"],
    ["lint", "{m}", "--format", "json", "--output-file", "{data}"],
    ["fix", "{m}", "-o", "{out}", "--report", "{m}"],
    ["fix", "{m}", "-o", "{out}", "--compile", "fp32", "--engine", "{m}"],
    ["compile", "{m}", "-o", "{m}"],
    ["run", "{m}", "--save-outputs", "{m}"],
    ["run", "{m}", "--save-outputs", "{data}"],
], ids=["lint-output-file", "lint-output-file-data", "fix-report", "fix-engine", "compile-o", "run-save-outputs",
        "run-save-outputs-data"])
def test_no_output_flag_overwrites_the_input_model_or_its_data(tmp_path, capsys, command):
    """Only `fix -o IN --in-place` may replace an input: every other output flag naming the input model (or
    its external data) is refused with one line before any work, and both files stay as they were."""
    source = _view_with_external_weight(tmp_path)
    data = tmp_path / "m.onnx.data"
    before = source.read_bytes(), data.read_bytes()
    args = [a.format(m=source, data=data, out=tmp_path / "out.onnx") for a in command]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give another path (graphfix never overwrites its input)" in err
    assert ("is external data of the input model" if "{data}" in command else "is the input model") in err
    assert (source.read_bytes(), data.read_bytes()) == before
    assert not (tmp_path / "out.onnx").exists()


def test_an_output_flag_whose_folder_is_missing_is_refused_before_the_model_is_written(tmp_path, capsys):
    source = _view_with_external_weight(tmp_path)
    out = tmp_path / "out.onnx"
    assert main(["fix", str(source), "-o", str(out), "--report", str(tmp_path / "nope" / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphfix: error: --report ") and "does not exist (create it first)" in err
    assert not out.exists()  # the model was not written before the report failed
    assert main(["run", str(source), "--save-outputs", str(tmp_path / "nope" / "o.npz")]) == 2
    assert "the output folder" in capsys.readouterr().err


def test_an_input_shape_that_contradicts_a_static_dim_is_refused(tmp_path, capsys):
    """Pinning a dim the model declares static (x is [N, 4, 8, 8]) used to be taken as given: lint planned
    a wrong constant ([-1, 320]) and fix ended in "the fixed model fails onnx.checker ... please report
    this". It is the user's value that is wrong: one line naming the dim, before any analysis."""
    source = tmp_path / "m.onnx"
    onnx.save(parse(VIEW_SIZE0), source)
    out = tmp_path / "out.onnx"
    for command in (["lint", str(source)], ["fix", str(source), "-o", str(out)]):
        assert main([*command, "--input-shape", "x:1x4x8x10"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("graphfix: error: ") and err.count("\n") == 1 and "please report" not in err
        assert "--input-shape x: dim 3 is 8 in the model, 10 given (only dynamic dims can be pinned)" in err
    assert not out.exists()
    assert main(["fix", str(source), "-o", str(out), "--input-shape", "x:1x4x8x8"]) == 0  # agreeing is fine
    import onnxruntime as ort

    x = np.random.default_rng(0).standard_normal((3, 4, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(ort.InferenceSession(str(out)).run(None, {"x": x})[0],
                                  ort.InferenceSession(str(source)).run(None, {"x": x})[0])


@pytest.mark.parametrize("flag, value", [("--atol", "nan"), ("--rtol", "-1"), ("--atol", "inf")])
def test_a_tolerance_that_would_pass_anything_is_refused(tmp_path, capsys, flag, value):
    """`--atol nan` made verification pass whatever the fixed model computes (nothing exceeds NaN)."""
    import graphfix

    source = tmp_path / "m.onnx"
    onnx.save(parse(VIEW_SIZE0), source)
    out = tmp_path / "out.onnx"
    assert main(["fix", str(source), "-o", str(out), flag, value]) == 2
    assert f"graphfix: error: {flag} {float(value)}: a tolerance must be a finite number >= 0" in \
        capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(UsageError, match=rf"^{flag[2:]} {float(value)}: a tolerance must be"):
        graphfix.fix(source, out, **{flag[2:]: float(value)})


def test_ctrl_c_while_the_output_is_staged_leaves_no_file(tmp_path, capsys, monkeypatch):
    """Ctrl-C after the fixed model and its data are written to the staging folder, before they move into
    place: exit 2, "interrupted", and nothing beside the input (no output, no sidecar, no staging folder)."""
    import graphfix.fixing.pipeline as pipeline

    source = _view_with_external_weight(tmp_path)

    def interrupted(staged, original):
        assert staged.is_file() and (staged.parent / "out.onnx.data").is_file()  # written, not yet in place
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "validate", interrupted)
    assert main(["fix", str(source), "-o", str(tmp_path / "out.onnx")]) == 2
    assert capsys.readouterr().err == "graphfix: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]


def test_the_output_s_data_never_replaces_the_weights_of_a_renamed_input(tmp_path, capsys):
    """m.onnx renamed to m_orig.onnx still reads m.onnx.data; `fix m_orig.onnx -o m.onnx` wrote its own
    m.onnx.data over those weights, and the input then failed to load (or ran with the wrong weights)."""
    import onnxruntime as ort

    (_view_with_external_weight(tmp_path)).rename(tmp_path / "m_orig.onnx")
    source, data = tmp_path / "m_orig.onnx", tmp_path / "m.onnx.data"
    before = data.read_bytes()
    assert main(["fix", str(source), "-o", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert err == (f"graphfix: error: {tmp_path / 'm.onnx'}: its external data would be written to {data}, which "
                   f"holds the weights of the input model {source}; give another output path\n")
    assert data.read_bytes() == before and not (tmp_path / "m.onnx").exists()
    assert main(["fix", str(source), "-o", str(tmp_path / "fixed.onnx")]) == 0  # another name is fine
    x = np.random.default_rng(0).standard_normal((2, 4, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(ort.InferenceSession(str(tmp_path / "fixed.onnx")).run(None, {"x": x})[0],
                                  ort.InferenceSession(str(source)).run(None, {"x": x})[0])
