"""The one comparator: both sides through Polygraphy, per-output statistics, each caller's policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.helper as oh
import onnx.numpy_helper as onh
import pytest

from graphfix.compare import Inputs, Thresholds, Tolerance, compare, onnxruntime_side

F32 = np.dtype(np.float32)
RNG = np.random.default_rng(0)
W = RNG.standard_normal((8, 4)).astype(np.float32)
B = RNG.standard_normal(4).astype(np.float32)


def mlp_fp32(bias: np.ndarray = B, *, scale: float = 1.0) -> onnx.ModelProto:
    graph = oh.make_graph(
        [oh.make_node("MatMul", ["x", "W"], ["m"], name="/fc/MatMul"),
         oh.make_node("Add", ["m", "B"], ["a"], name="/fc/Add"),
         oh.make_node("Relu", ["a"], ["y"], name="/act/Relu")],
        "mlp", [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 8])],
        [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4])],
        [onh.from_array(W * scale, "W"), onh.from_array(bias * scale, "B")])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)], ir_version=8)


def flattened(path: Path) -> Path:
    """The MLP with its output flattened to [N*4]: same values, another shape."""
    model = mlp_fp32()
    model.graph.node[-1].output[0] = "r"
    model.graph.node.append(oh.make_node("Reshape", ["r", "minus_one"], ["y"]))
    model.graph.initializer.append(onh.from_array(np.array([-1], np.int64), "minus_one"))
    model.graph.output[0].CopyFrom(oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["M"]))
    onnx.save(model, path)
    return path


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def test_compare_runners_reads_polygraphy_results(tmp_path):
    """Elementwise tolerances through Polygraphy's SimpleCompareFunc, relative to the reference."""
    reference = save(mlp_fp32(), tmp_path / "ref.onnx")
    shifted = save(mlp_fp32(B + 0.5), tmp_path / "shifted.onnx")
    feeds = {1: {"x": (1, 8)}, 6: {"x": (6, 8)}}

    def run(candidate: Path, tolerance: Tolerance):
        return compare(onnxruntime_side("reference", reference), onnxruntime_side("candidate", candidate),
                       Inputs(feeds, {"x": F32}), tolerance)

    same = run(reference, Tolerance(1e-5, 1e-5))
    assert same.passed and same.batches == [1, 6]
    assert [(o.output, o.batch, o.passed) for o in same.outputs] == [("y", 1, True), ("y", 6, True)]

    different = run(shifted, Tolerance(1e-2, 1e-2))
    assert not different.passed and "output 'y' differs at batch 1" in different.message
    assert max(o.max_abs for o in different.outputs) == pytest.approx(0.5, abs=1e-5)


@pytest.mark.parametrize("policy", [Tolerance(1e-5, 1e-5), Tolerance(1e-5, 1e-5, relative_to="candidate"),
                                    Thresholds(cosine=0.999, atol=1e-2, rtol=1e-2)], ids=["reference", "candidate",
                                                                                          "similarity"])
def test_outputs_of_different_shapes_fail_without_crashing(tmp_path, policy):
    reference = save(mlp_fp32(), tmp_path / "ref.onnx")
    candidate = flattened(tmp_path / "flat.onnx")
    result = compare(onnxruntime_side("reference", reference), onnxruntime_side("candidate", candidate),
                     Inputs({2: {"x": (2, 8)}}, {"x": F32}), policy)
    assert not result.passed
    [output] = result.outputs
    assert output.shape_mismatch and not output.passed and output.problem == "shape [8], expected [2, 4]"
    assert "shape" in result.message
    assert result.to_dict()["outputs"][0]["shape_mismatch"] is True


def test_statistics_are_the_same_for_every_policy(tmp_path):
    reference = save(mlp_fp32(), tmp_path / "ref.onnx")
    scaled = save(mlp_fp32(scale=1.05), tmp_path / "scaled.onnx")  # 5% too large everywhere
    inputs = Inputs({3: {"x": (3, 8)}}, {"x": F32})
    elementwise = compare(onnxruntime_side("ref", reference), onnxruntime_side("cand", scaled), inputs,
                          Tolerance(1e-2, 1e-2))
    similarity = compare(onnxruntime_side("ref", reference), onnxruntime_side("cand", scaled), inputs,
                         Thresholds(cosine=0.999))
    [a], [b] = elementwise.outputs, similarity.outputs
    assert a.cosine == pytest.approx(1.0) and b.cosine == pytest.approx(1.0)  # cosine is blind to scale
    assert a.snr_db == pytest.approx(b.snr_db) and 25 < a.snr_db < 27  # 20*log10(1/0.05) = 26 dB
    assert not elementwise.passed and similarity.passed
    assert elementwise.worst() is a and similarity.worst() is b


def test_a_side_that_does_not_load_is_a_failed_comparison(tmp_path):
    reference = save(mlp_fp32(), tmp_path / "ref.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    result = compare(onnxruntime_side("original model", reference), onnxruntime_side("fixed model", broken),
                     Inputs({1: {"x": (1, 8)}}, {"x": F32}), Tolerance(1e-5, 1e-5), action="verify")
    assert not result.passed and result.failure is not None and result.failure.kind == "load"
    assert result.message.startswith("cannot verify: ONNX Runtime cannot load the fixed model: ")


def test_comparing_does_not_import_torch(tmp_path):
    """Polygraphy asks of every array whether it is a torch tensor by importing torch (seconds, and an import
    that swallowed Ctrl-C); a comparison of numpy arrays must leave torch unimported."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed: nothing could import it")
    model = tmp_path / "m.onnx"
    onnx.save(mlp_fp32(), model)
    code = ("import sys\n"
            "from graphfix.compare import Inputs, Tolerance, compare, onnxruntime_side\n"
            f"side = onnxruntime_side('original model', {str(model)!r})\n"
            "import numpy as np\n"
            "inputs = Inputs({1: {'x': (1, 8)}, 3: {'x': (3, 8)}}, {'x': np.dtype(np.float32)})\n"
            f"result = compare(side, onnxruntime_side('fixed model', {str(model)!r}), inputs, Tolerance(1e-5, 1e-4))\n"
            "assert result.passed, result.message\n"
            "print('torch' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


def test_polygraphy_still_recognises_torch_tensors_once_torch_is_imported():
    torch = pytest.importorskip("torch")
    from polygraphy.util import array

    from graphfix.compare.runners import polygraphy_without_torch

    polygraphy_without_torch()
    assert array.is_torch(torch.zeros(2)) and not array.is_torch(np.zeros(2)) and not array.is_torch(1.5)


def _reshape_to(path: Path, target: list[int]) -> Path:
    """x [N, 8] reshaped to the constant ``target``: [1, 8] runs at batch 1 only."""
    graph = oh.make_graph([oh.make_node("Reshape", ["x", "t"], ["y"], name="R")], "g",
                          [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 8])],
                          [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
                          [onh.from_array(np.array(target, np.int64), "t")])
    onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)], ir_version=8), path)
    return path


def test_a_side_that_fails_to_run_is_named_with_the_batch_and_the_original_is_blamed_first(tmp_path, capfd):
    """Polygraphy's error does not say which model failed; the comparison does, at which batch and node, and
    when the reference fails on the same inputs too it is the reference that is at fault (the candidate runs
    first, so it used to be the one reported, or "a model failed to run")."""
    runs = _reshape_to(tmp_path / "runs.onnx", [-1, 8])
    batch1 = _reshape_to(tmp_path / "batch1.onnx", [1, 8])
    inputs = Inputs({1: {"x": (1, 8)}, 3: {"x": (3, 8)}}, {"x": F32})
    detail = ("Reshape node 'R': The input tensor cannot be reshaped to the requested shape. Input shape:{3,8}, "
              "requested shape:{1,8}")

    fixed_fails = compare(onnxruntime_side("original model", runs), onnxruntime_side("fixed model", batch1),
                          inputs, Tolerance(1e-5, 1e-5), action="verify")
    assert not fixed_fails.passed and fixed_fails.failure is not None
    assert fixed_fails.failure.side == "fixed model"
    assert fixed_fails.message == f"the fixed model fails to run in ONNX Runtime at batch 3: {detail}"

    both_fail = compare(onnxruntime_side("original model", batch1), onnxruntime_side("fp16 model", batch1),
                        inputs, Tolerance(1e-5, 1e-5), action="check the precision")
    assert both_fail.failure is not None and both_fail.failure.side == "original model"
    assert both_fail.message == ("cannot check the precision: the original model fails to run in ONNX Runtime at "
                                 f"batch 3: {detail}")
    assert "onnxruntime" not in capfd.readouterr().err  # ONNX Runtime's own log stays quiet: reported once
