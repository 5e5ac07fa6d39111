"""What every rule owes on every test model (hand-built graphs, the samples, the exported zoo):

- detection does not mutate the model (the serialized model is the same before and after linting);
- each finding's plans apply through the editor, alone, and the result passes ``onnx.checker``;
- the result computes what the original computes in ONNX Runtime (at the export batch for a baked batch,
  at the static batch for a static model, else at batch 1 and 3).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import pytest
from graphs import MODELS, parse, run

from graphfix.fixing import Editor
from graphfix.ir import LoadedModel, load, save_model
from graphfix.linting import (
    BatchShape,
    ConvertOpset,
    Finding,
    FixPlan,
    NarrowDouble,
    Options,
    SetDims,
    SetInputs,
    lint_loaded,
)
from graphfix.verify import input_shapes_for, input_specs, integer_ranges

SAMPLES = Path(__file__).parents[2] / "samples"
HAS_TORCH = importlib.util.find_spec("torch") is not None
ZOO_NAMES = ["seed_lesson", "seed_twin_view_size0", "view_size0_minus1_4", "interp_size_nearest",
             "interp_size_bilinear", "interp_scale_nearest", "interp_scale_bilinear", "yolo_head", "dynamic_hw",
             "baked_batch_int", "transformer_block", "small_cnn", "bert_tiny", "gpt2_tiny", "vit_tiny"]
ZOO_PINNED = {"dynamic_hw": {"x": [1, 3, 16, 16]}}
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="the zoo is exported from torch (pip install torch==2.13.0)")


def cases() -> list[object]:
    found: list[object] = [pytest.param("graph", name, id=f"graph-{name}") for name in MODELS]
    found += [pytest.param("sample", path.name, id=f"sample-{path.stem}") for path in sorted(SAMPLES.glob("*.onnx"))]
    found += [pytest.param("zoo", f"{name}:{exporter}", id=f"zoo-{name}-{exporter}", marks=needs_torch)
              for name in ZOO_NAMES for exporter in ("legacy", "dynamo")]
    return found


def source_of(kind: str, name: str, zoo_dir: Path) -> tuple[onnx.ModelProto | Path, dict[str, list[int]]]:
    if kind == "graph":
        text, shapes = MODELS[name]
        return parse(text), shapes
    if kind == "sample":
        return SAMPLES / name, {}
    from models.exports import export_zoo

    model, exporter = name.split(":")
    return export_zoo(model, exporter, zoo_dir), ZOO_PINNED.get(model, {})


def serialized(model: ir.Model) -> bytes:
    return ir.serde.serialize_model(model).SerializeToString()


def _moved(plan: FixPlan, positions: dict[ir.Node, int], model: ir.Model) -> FixPlan:
    """The same plan on another load of the same file: nodes by position, graph inputs/outputs by name."""
    nodes = list(model.graph)
    values = {v.name: v for v in [*model.graph.inputs, *model.graph.outputs]}
    if isinstance(plan, SetDims):
        return dataclasses.replace(plan, value=values[plan.value.name])
    if isinstance(plan, BatchShape):
        return dataclasses.replace(plan, node=nodes[positions[plan.node]], source=values[plan.source.name])
    return dataclasses.replace(plan, node=nodes[positions[plan.node]])


def _whole_model(plan: ConvertOpset | NarrowDouble, loaded: LoadedModel) -> ir.Model:
    """What the fix pipeline makes of a model-level plan."""
    if isinstance(plan, ConvertOpset):
        from graphfix.analyse import analyse
        from graphfix.fixing.opset import convert_opset

        return convert_opset(loaded.model, plan.target, analysis=analyse(loaded))
    from graphfix.fixing.narrowing import narrow_double

    return narrow_double(loaded.model)


def _session(path: Path) -> object:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def batches_for(findings: list[Finding], static: list[int]) -> list[int]:
    """Where the original runs: at its export batch when a constant bakes one, at its static batch, or at
    any batch (1 and 3)."""
    export = sorted({p.check_batch for f in findings for p in f.fix if isinstance(p, SetInputs) and p.check_batch})
    return export or static or [1, 3]


def feeds(path: onnx.ModelProto | Path, batch: int, pinned: dict[str, list[int]]) -> dict[str, np.ndarray]:
    model = load(path).model
    ranges = integer_ranges(model)
    rng = np.random.default_rng(batch)
    result = {}
    for spec in input_specs(model):
        shape = input_shapes_for([spec], batch, pinned)[spec.name]
        if spec.dtype.kind in "iu":
            low, high = ranges.get(spec.name, (0, 1))
            result[spec.name] = rng.integers(low, high + 1, size=shape).astype(spec.dtype)
        elif spec.dtype.kind == "b":
            result[spec.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            result[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
    return result


@pytest.mark.parametrize(("kind", "name"), cases())
def test_rules_detect_read_only_and_their_plans_apply_validate_and_verify(kind, name, zoo_dir, tmp_path):
    source, pinned = source_of(kind, name, zoo_dir)
    options = Options(input_shapes=pinned)
    on_disk = Path(source).read_bytes() if isinstance(source, Path) else None

    loaded = load(source)
    before = serialized(loaded.model)
    report, _ = lint_loaded(loaded, options)
    assert serialized(loaded.model) == before, "a rule changed the model while detecting"
    if on_disk is not None:
        assert Path(source).read_bytes() == on_disk

    static = sorted({spec.dims[0] for spec in input_specs(loaded.model) if spec.dims and spec.dims[0] is not None})
    original = tmp_path / "original.onnx"
    save_model(load(source).model, original)
    batches = batches_for(report.findings, static)
    reference = {}
    for batch in batches:
        inputs = feeds(original, batch, pinned)
        reference[batch] = (inputs, run(original, inputs))
    positions = {node: index for index, node in enumerate(loaded.model.graph)}
    for index, finding in enumerate(report.findings):
        if not finding.fixable:
            continue
        fresh = load(source)  # each finding alone, on its own copy
        model_level = [plan for plan in finding.fix if isinstance(plan, (ConvertOpset, NarrowDouble))]
        if model_level:  # a whole-model rewrite (GF504's opset conversion, GF503's DOUBLE narrowing)
            fresh.model = _whole_model(model_level[0], fresh)
        else:
            editor = Editor(fresh.model)
            editor.apply([_moved(plan, positions, fresh.model) for plan in finding.fix])
            editor.cleanup()
        fixed = tmp_path / f"fixed{index}.onnx"
        save_model(fresh.model, fixed)
        onnx.checker.check_model(str(fixed), full_check=True)
        session = _session(fixed)
        for batch in batches:
            inputs, expected = reference[batch]
            for want, got in zip(expected, session.run(None, inputs)):
                assert want.shape == got.shape, (finding.code, finding.message, batch)
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5,
                                           err_msg=f"{finding.code}: {finding.message} at batch {batch}")
