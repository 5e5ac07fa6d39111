"""The fix pipeline: analyse -> lint -> plan -> apply, repeated until nothing changes, then validate,
verify and write.

Which fixes apply is decided by their safety and the user's options: safe fixes always; baked-batch
rewrites with ``unsafe_fixes``; pinning dims only for inputs the user gave a shape for; a dynamic batch
only with ``dynamic_batch``. The result is validated (``onnx.checker`` full check, shape inference) and
verified against the original in ONNX Runtime before anything is written; a model that fails
verification is not written unless ``force``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir

from graphfix.engine import (
    Context,
    Finding,
    FixPlan,
    Options,
    Safety,
    SetDims,
    SetInputs,
    lint_loaded,
    parse_selectors,
)
from graphfix.editor import Editor
from graphfix.errors import GraphfixError, UsageError, VerificationError
from graphfix.graphutil import node_label
from graphfix.loading import LoadedModel, ModelSource, load
from graphfix.narrowing import NarrowDouble
from graphfix.opset import ConvertOpset, convert_opset
from graphfix.saving import check_destination, save_model
from graphfix.verify import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    InputSpec,
    Verification,
    compare,
    input_shapes_for,
    input_specs,
    integer_ranges,
)

MAX_ROUNDS = 10

ReshapeHook = Callable[[str, list[int]], Sequence[int] | None]


@dataclass
class FixResult:
    model: ir.Model
    applied: list[Finding]
    remaining: list[Finding]
    verification: Verification | None
    ops_before: Counter[str]
    ops_after: Counter[str]
    rounds: int
    written: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    user_edits: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.applied or self.user_edits)

    def to_dict(self) -> dict[str, object]:
        return {
            "applied": [f.to_dict() for f in self.applied],
            "user_edits": self.user_edits,
            "remaining": [f.to_dict() for f in self.remaining],
            "verification": self.verification.to_dict() if self.verification else None,
            "ops_before": dict(self.ops_before),
            "ops_after": dict(self.ops_after),
            "rounds": self.rounds,
            "written": [str(p) for p in self.written],
            "seconds": round(self.seconds, 3),
        }


def op_counts(model: ir.Model) -> Counter[str]:
    return Counter(node.op_type for node in model.graph)


def _allowed(finding: Finding, unsafe: bool, dynamic_batch: bool) -> bool:
    if not finding.fixable:
        return False
    return (finding.safety is Safety.SAFE
            or (finding.safety is Safety.UNSAFE and unsafe)
            or finding.safety is Safety.NEEDS_SHAPE  # only produced for inputs the user pinned
            or (finding.safety is Safety.NEEDS_DYNAMIC_BATCH and dynamic_batch))


def _plan_key(plan: FixPlan) -> tuple[object, ...]:
    if isinstance(plan, SetDims):
        return ("dims", plan.value.name)
    if isinstance(plan, (ConvertOpset, NarrowDouble)):
        return ("model",)
    return (id(plan.node),)


def fix(
    source: ModelSource,
    output: str | Path | None = None,
    *,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    reshape: Mapping[str, Sequence[int]] | None = None,
    reshape_hook: ReshapeHook | None = None,
    dynamic_batch: bool = False,
    unsafe_fixes: bool = False,
    select: str | Sequence[str] | None = None,
    ignore: str | Sequence[str] | None = None,
    verify: bool = True,
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    force: bool = False,
    in_place: bool = False,
    dry_run: bool = False,
    trt_version: str | None = None,
) -> FixResult:
    """Rewrite a model so it follows the export rules, verify it, and (with ``output``) write it.

    ``source`` is a path, an ``onnx.ModelProto`` or an ``onnx_ir.Model`` (never modified). See the module
    docstring for which fixes apply. Raises ``VerificationError`` when the fixed model does not match the
    original (nothing is written unless ``force``), ``ModelError``/``UsageError`` for bad input.
    """
    start = time.perf_counter()
    source_path = Path(source) if isinstance(source, (str, Path)) else None
    if output is not None and not dry_run:
        check_destination(Path(output), inputs=[source_path] if source_path else [], in_place=in_place)
    original = load(source)
    loaded = _own_copy(original) if source_path is None else original
    ops_before = op_counts(loaded.model)
    specs = input_specs(original.model)  # before any edit: verification feeds the original's interface
    ranges = {**integer_ranges(original.model), **(input_ranges or {})}
    from graphfix.targets.target import check_version_text

    options = Options(input_shapes=dict(input_shapes or {}), reshape_overrides=dict(reshape or {}),
                      trt_version=check_version_text(trt_version))
    selected, ignored = parse_selectors(select), parse_selectors(ignore)

    editor = Editor(loaded.model)
    user_edits = _user_reshapes(loaded, options, reshape_hook, editor)
    applied: list[Finding] = []
    refused: str | None = None  # why the DOUBLE narrowing was not kept
    export_batches: set[int] = set()
    rounds = 0
    while True:
        report, ctx = lint_loaded(loaded, options, selected, ignored)
        if rounds == 0:
            if dynamic_batch:
                _check_dynamic_batch(report.findings, ctx)
            # A baked batch means the original only runs at that batch: verify there, fixed or not.
            export_batches.update(p.check_batch for f in report.findings for p in f.fix
                                  if isinstance(p, SetInputs) and p.check_batch is not None)
        if refused:  # a model-level fix that verification rejected: report it, do not offer it again
            for finding in report.findings:
                if any(isinstance(p, NarrowDouble) for p in finding.fix):
                    finding.fix, finding.reason = (), refused
        chosen = [f for f in report.findings if _allowed(f, unsafe_fixes, dynamic_batch)]
        if not chosen:
            remaining = report.findings
            break
        rounds += 1
        if rounds > MAX_ROUNDS:
            raise GraphfixError(f"{loaded.label}: fixes did not converge after {MAX_ROUNDS} rounds "
                                f"(still fixing {', '.join(sorted({f.code for f in chosen}))}); please report this")
        conversion = next((f for f in chosen if any(isinstance(p, ConvertOpset) for p in f.fix)), None)
        if conversion is not None:
            # A new opset rewrites the whole model: alone in its round; the rules run again on the result.
            plan = next(p for p in conversion.fix if isinstance(p, ConvertOpset))
            loaded.model = convert_opset(loaded.model, plan.target, analysis=ctx.analysis,
                                         base_dir=loaded.path.parent if loaded.path is not None else None)
            editor = Editor(loaded.model)
            applied.append(conversion)
            continue
        narrowing = [f for f in chosen if any(isinstance(p, NarrowDouble) for p in f.fix)]
        if narrowing:
            # TensorRT computes DOUBLE in FLOAT: do the same in the model, kept only when ONNX Runtime agrees.
            candidate, refused = _narrow_verified(loaded, specs, options, verify, atol, rtol, ranges)
            if candidate is not None:
                loaded.model = candidate
                editor = Editor(loaded.model)
                applied.extend(narrowing)
            continue
        touched: set[tuple[object, ...]] = set()
        for finding in chosen:
            keys = {_plan_key(p) for p in finding.fix}
            if keys & touched:
                continue  # another fix rewrote this node this round; the next round re-checks it
            touched |= keys
            editor.apply(finding.fix)
            applied.append(finding)
        editor.cleanup()

    ops_after = op_counts(loaded.model)
    result = FixResult(loaded.model, applied, remaining, None, ops_before, ops_after, rounds,
                       user_edits=user_edits)
    if dry_run:
        result.seconds = time.perf_counter() - start
        return result

    batches = _verification_batches(specs, options, export_batches)

    def check(staged: Path) -> None:
        _validate(staged)
        if verify and result.changed:
            result.verification = _verify(original, source_path, staged, specs, options, batches, ranges,
                                          atol, rtol)
            if not result.verification.passed and not force:
                raise VerificationError(f"{loaded.label}: the fixed model does not match the original "
                                        f"({result.verification.message}); nothing was written "
                                        "(--force writes it anyway)")

    if output is not None:
        result.written = save_model(loaded.model, Path(output), check=check)
    elif verify and result.changed:
        staging = Path(tempfile.mkdtemp(prefix="graphfix-"))
        try:
            save_model(loaded.model, staging / "fixed.onnx", check=check)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    result.seconds = time.perf_counter() - start
    return result


def _narrow_verified(
    loaded: LoadedModel,
    specs: list[InputSpec],
    options: Options,
    verify: bool,
    atol: float,
    rtol: float,
    ranges: Mapping[str, tuple[float, float]],
) -> tuple[ir.Model | None, str | None]:
    """The model with its DOUBLE tensors in FLOAT when ONNX Runtime finds its outputs unchanged at batch 1
    and 3 (else None and why)."""
    from graphfix.narrowing import narrow_double

    if not verify:
        return None, "narrowing DOUBLE to FLOAT is kept only when verification shows no change (drop --no-verify)"
    candidate = narrow_double(loaded.model)
    staging = Path(tempfile.mkdtemp(prefix="graphfix-narrow-"))
    try:
        before, after = staging / "before.onnx", staging / "after.onnx"
        save_model(loaded.model, before)
        save_model(candidate, after)
        batches = _verification_batches(specs, options, set())
        feeds = {batch: input_shapes_for(specs, batch, options.input_shapes) for batch in batches}
        check = compare(before, after, feeds, dtypes={spec.name: spec.dtype for spec in specs}, ranges=ranges,
                        atol=atol, rtol=rtol)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not check.passed:
        return None, f"computing the DOUBLE tensors in FLOAT changes the outputs ({check.message}); TensorRT " \
                     "would too: keep the precision the model needs in FLOAT terms"
    return candidate, None


def _own_copy(loaded: LoadedModel) -> LoadedModel:
    """In-memory models are copied so the caller's model is never changed."""
    proto = ir.serde.serialize_model(loaded.model)
    copy = ir.serde.deserialize_model(proto)
    return LoadedModel(copy, None, loaded.label)


def _user_reshapes(
    loaded: LoadedModel, options: Options, hook: ReshapeHook | None, editor: Editor
) -> list[str]:
    """The seed's ``set_layer_hook_reshape`` and ``--reshape NODE=DIMS``, applied before the rules run."""
    reshapes = {node.name: node for node in loaded.model.graph if node.op_type == "Reshape"}
    edits: list[str] = []
    missing = [name for name in options.reshape_overrides if name not in reshapes]
    if missing:
        shown = ", ".join(sorted(reshapes)[:8]) or "none"
        raise UsageError(f"--reshape: no Reshape node named {', '.join(repr(m) for m in missing)} "
                         f"(Reshape nodes: {shown}{', ...' if len(reshapes) > 8 else ''})")
    targets: dict[str, Sequence[int]] = dict(options.reshape_overrides)
    if hook is not None:
        from graphfix.analysis import analyse

        analysis = analyse(loaded, options.input_shapes)
        for name, node in reshapes.items():
            current = analysis.value(node.inputs[1]) if node.inputs[1] is not None else None
            if current is None:
                continue
            wanted = hook(name, [int(v) for v in np.asarray(current).reshape(-1)])
            if wanted is not None and list(wanted) != [int(v) for v in np.asarray(current).reshape(-1)]:
                targets[name] = list(wanted)
    for name, dims in targets.items():
        node = reshapes[name]
        editor.apply([SetInputs(node, {1: np.array([int(d) for d in dims], dtype=np.int64)})])
        edits.append(f"{node_label(node)}: target := [{', '.join(str(int(d)) for d in dims)}]")
    if edits:
        editor.cleanup()
    return edits


def _check_dynamic_batch(findings: list[Finding], ctx: Context) -> None:
    static = [f for f in findings if f.code == "GF302"]
    if static and not static[0].fixable:
        raise GraphfixError(f"{ctx.loaded.label}: --dynamic-batch refused: {static[0].reason}")


def _verification_batches(specs: list[InputSpec], options: Options, export_batches: set[int]) -> list[int]:
    if export_batches:
        return sorted(export_batches)  # baked-batch rewrites only agree at the export batch
    dims0 = [spec.dims[0] for spec in specs if spec.dims]
    static = [d for d in dims0 if d is not None]
    if dims0 and len(static) == len(dims0):
        return sorted(set(static))  # the original runs at its static batch only
    user = sorted({int(dims[0]) for dims in options.input_shapes.values() if dims})
    return sorted({*(user or [1]), 3})


def _validate(path: Path) -> None:
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as error:  # checker and shape inference errors
        raise VerificationError(f"the fixed model fails onnx.checker: {str(error).strip().splitlines()[0]} "
                                "(nothing was written; please report this)") from error


def _verify(
    original: LoadedModel,
    source_path: Path | None,
    staged: Path,
    specs: list[InputSpec],
    options: Options,
    batches: list[int],
    ranges: Mapping[str, tuple[float, float]],
    atol: float,
    rtol: float,
) -> Verification:
    dtypes = {spec.name: spec.dtype for spec in specs}
    feeds = {batch: input_shapes_for(specs, batch, options.input_shapes) for batch in batches}
    if source_path is not None:
        return compare(source_path, staged, feeds, dtypes=dtypes, ranges=ranges, atol=atol, rtol=rtol)
    directory = Path(tempfile.mkdtemp(prefix="graphfix-original-"))
    try:
        path = directory / "original.onnx"
        save_model(original.model, path)
        return compare(path, staged, feeds, dtypes=dtypes, ranges=ranges, atol=atol, rtol=rtol)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
