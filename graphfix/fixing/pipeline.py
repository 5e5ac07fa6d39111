"""The fix pipeline: analyse -> lint -> plan -> apply, repeated until nothing changes, then validate,
verify and write.

Which fixes apply is decided by their safety and the user's options: safe fixes always; baked-batch
rewrites with ``unsafe_fixes``; pinning dims only for inputs the user gave a shape for; a dynamic batch
only with ``dynamic_batch``. Plans that touch a node another fix already rewrote this round wait for the
next round, which re-analyses the edited model (ruff's conflict isolation). The result is validated
(``onnx.checker`` full check) and verified against the original in ONNX Runtime before anything is
written; a model that fails verification is not written unless ``force``.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import onnx_ir as ir

from graphfix.analyse import Analysis
from graphfix.errors import GraphfixError, UsageError, VerificationError
from graphfix.fixing.editor import Editor
from graphfix.fixing.hooks import ReshapeHook, apply_user_reshapes
from graphfix.fixing.opset import convert_opset
from graphfix.fixing.validate import validate
from graphfix.ir import LoadedModel, ModelSource, load
from graphfix.ir.loading import require_weights
from graphfix.ir.saving import check_destination, save_model
from graphfix.linting import (
    Finding,
    FixPlan,
    Options,
    Safety,
    SetDims,
    SetInputs,
    lint_loaded,
    parse_selectors,
)
from graphfix.linting.plans import BatchShape, ConvertOpset, InlineBranch, NarrowDouble
from graphfix.plugins import Registry, registry_from, require_implementations, using
from graphfix.verify import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    InputSpec,
    Verification,
    input_specs,
    integer_ranges,
    tie_outputs,
    verification_batches,
    verify,
)

MAX_ROUNDS = 10


@dataclass
class FixResult:
    """What ``fix`` did: the new model, the findings it fixed and those that remain, the verification."""

    model: ir.Model
    applied: list[Finding]
    remaining: list[Finding]
    verification: Verification | None
    ops_before: Counter[str]
    ops_after: Counter[str]
    rounds: int
    written: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    # The export batch(es) the baked constants tell (what the original runs at), for verification.
    export_batches: tuple[int, ...] = ()
    # Where the written model still bakes the batch (empty: the batch flows through every node; with
    # ``unsafe_fixes`` and a non-empty export_batches, every baked batch was repaired).
    baked_left: tuple[str, ...] = ()
    user_edits: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.applied or self.user_edits)

    def to_dict(self) -> dict[str, object]:
        """The result as ``graphfix fix --format json`` writes it."""
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
    """How many nodes of each op type the main graph has."""
    return Counter(node.op_type for node in model.graph)


def allowed(finding: Finding, *, unsafe: bool, dynamic_batch: bool) -> bool:
    """Whether ``finding``'s fix may be applied with these options."""
    if not finding.fixable:
        return False
    return (finding.safety is Safety.SAFE
            or (finding.safety is Safety.UNSAFE and unsafe)
            or finding.safety is Safety.NEEDS_SHAPE  # only produced for inputs the user pinned
            or (finding.safety is Safety.NEEDS_DYNAMIC_BATCH and dynamic_batch
                and (unsafe or not repairs_baked_batch(finding))))


def repairs_baked_batch(finding: Finding) -> bool:
    """Whether a fix also repairs a baked batch (a plan verified at the export batch): ``unsafe_fixes``."""
    return any(isinstance(p, (SetInputs, BatchShape)) and p.check_batch is not None for p in finding.fix)


def plan_keys(plan: FixPlan) -> set[tuple[object, ...]]:
    """What a plan touches: the node it rewrites, or the graph input/output whose dims it sets (an If
    replaced by its branch hands its outputs, graph outputs included, to other values)."""
    if isinstance(plan, SetDims):
        return {("dims", plan.value.name)}
    if isinstance(plan, (ConvertOpset, NarrowDouble)):
        return {("model",)}
    if isinstance(plan, InlineBranch):
        return {("node", id(plan.node)), *(("dims", o.name) for o in plan.node.outputs)}
    return {("node", id(plan.node))}


def isolate_round(findings: Sequence[Finding]) -> tuple[list[Finding], list[Finding]]:
    """Split one round's findings into those applied now and those deferred to the next round: a finding
    whose plans touch something an earlier finding of this round touches waits (the next round
    re-analyses the edited model and re-plans it)."""
    touched: set[tuple[object, ...]] = set()
    now: list[Finding] = []
    later: list[Finding] = []
    for finding in findings:
        keys = set().union(*(plan_keys(p) for p in finding.fix))
        if keys & touched:
            later.append(finding)
            continue
        touched |= keys
        now.append(finding)
    return now, later


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
    custom_ops: Registry | Sequence[str | os.PathLike[str]] | None = None,
    plugin_namespace: str = "",
) -> FixResult:
    """Rewrite a model so it follows the export rules, verify it, and (with ``output``) write it.

    See :func:`graphfix.fix` for the parameters.

    Raises:
        ModelError: The model cannot be read.
        UsageError: A bad parameter (``input_shapes``, ``reshape``, ``select``/``ignore``, a negative or
            non-finite ``atol``/``rtol``).
        GraphfixError: ``dynamic_batch`` is refused (something bakes the batch), the fixes do not converge,
            or the output path is unusable.
        VerificationError: The fixed model fails ``onnx.checker`` or does not match the original (nothing
            is written unless ``force``).
        MissingDependencyError: Verification needs onnxruntime and Polygraphy.
        MissingReference: A custom op has no reference implementation, so the fix cannot be verified
            (GF402's code and text; ``verify=False`` skips verification).
    """
    for name, tolerance in (("atol", atol), ("rtol", rtol)):
        # A NaN tolerance passes every comparison (nothing is greater than NaN): refuse it with the rest.
        if not math.isfinite(tolerance) or tolerance < 0:
            raise UsageError(f"{name} {tolerance}: a tolerance must be a finite number >= 0", parameters=(name,))
    registry = registry_from(custom_ops)
    with using(registry):
        return _fix(source, output, input_shapes=input_shapes, reshape=reshape, reshape_hook=reshape_hook,
                    dynamic_batch=dynamic_batch, unsafe_fixes=unsafe_fixes, select=select, ignore=ignore,
                    verify=verify, input_ranges=input_ranges, atol=atol, rtol=rtol, force=force,
                    in_place=in_place, dry_run=dry_run, trt_version=trt_version, custom_ops=registry,
                    plugin_namespace=plugin_namespace)


def _fix(
    source: ModelSource,
    output: str | Path | None,
    *,
    input_shapes: Mapping[str, Sequence[int]] | None,
    reshape: Mapping[str, Sequence[int]] | None,
    reshape_hook: ReshapeHook | None,
    dynamic_batch: bool,
    unsafe_fixes: bool,
    select: str | Sequence[str] | None,
    ignore: str | Sequence[str] | None,
    verify: bool,
    input_ranges: Mapping[str, tuple[float, float]] | None,
    atol: float,
    rtol: float,
    force: bool,
    in_place: bool,
    dry_run: bool,
    trt_version: str | None,
    custom_ops: Registry | None,
    plugin_namespace: str,
) -> FixResult:
    start = time.perf_counter()
    source_path = Path(source) if isinstance(source, (str, Path)) else None
    if output is not None and not dry_run:
        check_destination(Path(output), inputs=[source_path] if source_path else [], in_place=in_place)
    original = load(source)
    if not dry_run:
        require_weights(original)  # writing reads every weight: refuse what cannot be read before the work
    loaded = _own_copy(original) if source_path is None else original
    ops_before = op_counts(loaded.model)
    specs = input_specs(original.model)  # before any edit: verification feeds the original's interface
    unordered = tie_outputs(original.model)  # outputs that may tie: compared up to order when they differ
    ranges = {**integer_ranges(original.model), **(input_ranges or {})}
    from graphfix.targets.target import check_version_text

    options = Options(input_shapes={name: [int(d) for d in dims] for name, dims in (input_shapes or {}).items()},
                      reshape_overrides={name: [int(d) for d in dims] for name, dims in (reshape or {}).items()},
                      trt_version=check_version_text(trt_version), custom_ops=custom_ops,
                      plugin_namespace=plugin_namespace)
    selected, ignored = parse_selectors(select), parse_selectors(ignore)

    def run_rounds(model: LoadedModel, unsafe: bool) -> _Run:
        return _rounds(model, options, selected, ignored, reshape_hook, specs, ranges, unsafe=unsafe,
                       dynamic_batch=dynamic_batch, verify=verify, atol=atol, rtol=rtol)

    run = run_rounds(loaded, unsafe_fixes)
    if unsafe_fixes and any(f.safety is Safety.UNSAFE for f in run.applied):
        baked_left = run.analysis.batch.still_baked(run.export_batches)
        if baked_left:
            # A half-repaired batch runs at other batch sizes with the export batch's rows: leave every
            # unsafe repair out rather than write that model, and say where the batch stays baked.
            loaded = load(source) if source_path is not None else _own_copy(original)
            note = f"not applied: after the repair the batch is still baked ({'; '.join(baked_left[:3])})"
            try:
                run = run_rounds(loaded, False)
            except GraphfixError as error:
                if not dynamic_batch:
                    raise
                # A static batch needs those repairs to become dynamic: say why they were left out.
                raise GraphfixError(f"{loaded.label}: dynamic_batch=True refused: the repairs were {note}",
                                    parameters=("dynamic_batch=True",)) from error
            for finding in run.remaining:
                if finding.safety is Safety.UNSAFE:
                    finding.reason = note
                    finding.message += f"; {note}"
    applied, remaining, rounds, user_edits = run.applied, run.remaining, run.rounds, run.user_edits
    export_batches = run.export_batches

    ops_after = op_counts(loaded.model)
    result = FixResult(loaded.model, applied, remaining, None, ops_before, ops_after, rounds,
                       user_edits=user_edits, export_batches=tuple(sorted(export_batches)),
                       baked_left=tuple(run.analysis.batch.still_baked(export_batches)))
    if dry_run:
        result.seconds = time.perf_counter() - start
        return result

    batches = verification_batches(specs, options.input_shapes, export_batches)
    reference = Reference(
        export_batch=min(export_batches) if export_batches else _static_batch(specs),
        # A repair makes a baked batch follow the batch again: verified per sample beyond the export batch.
        repaired=bool(user_edits) or any(f.safety in (Safety.UNSAFE, Safety.NEEDS_DYNAMIC_BATCH) for f in applied),
        unordered=unordered)

    def check(staged: Path) -> None:
        validate(staged, original=source_path or original.model)
        if verify and result.changed:
            # Nothing is verified through a custom op that has no reference: refused with GF402's text.
            require_implementations(staged, custom_ops)
            result.verification = _verify(original, source_path, staged, specs, options, batches, ranges,
                                          atol, rtol, reference)
            verification = result.verification
            if verification.passed or force:
                return
            if verification.failure is not None and verification.failure.side == "fixed model":
                raise VerificationError(f"{loaded.label}: {verification.message} (verified against "
                                        f"{verification.reference}); nothing was written "
                                        "(force=True writes it anyway)",
                                        parameters=("force=True", *verification.parameters))
            if verification.original_failed:
                raise VerificationError(f"{loaded.label}: {verification.message}; nothing was written "
                                        "(force=True writes it anyway)",
                                        parameters=("force=True", *verification.parameters))
            raise VerificationError(f"{loaded.label}: the fixed model does not match {verification.reference} "
                                    f"({verification.message}); nothing was written "
                                    "(force=True writes it anyway)",
                                    parameters=("force=True", *verification.parameters))

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


@dataclass
class _Run:
    """The outcome of the fix rounds on one copy of the model."""

    applied: list[Finding]
    remaining: list[Finding]
    rounds: int
    user_edits: list[str]
    export_batches: set[int]
    analysis: Analysis  # of the model after the last round


def _rounds(
    loaded: LoadedModel,
    options: Options,
    selected: Sequence[str],
    ignored: Sequence[str],
    reshape_hook: ReshapeHook | None,
    specs: list[InputSpec],
    ranges: Mapping[str, tuple[float, float]],
    *,
    unsafe: bool,
    dynamic_batch: bool,
    verify: bool,
    atol: float,
    rtol: float,
) -> _Run:
    """Lint, apply the allowed fixes, and repeat until nothing is left to apply (edits ``loaded``)."""
    editor = Editor(loaded.model)
    user_edits = apply_user_reshapes(loaded, options, reshape_hook, editor)
    applied: list[Finding] = []
    refused: str | None = None  # why the DOUBLE narrowing was not kept
    export_batches: set[int] = set()
    rounds = 0
    while True:
        report, ctx = lint_loaded(loaded, options, selected, ignored)
        if rounds == 0:
            if dynamic_batch:
                _check_dynamic_batch(report.findings, loaded.label, unsafe)
            # A baked batch means the original only runs at that batch: verify there, fixed or not.
            export_batches.update(p.check_batch for f in report.findings for p in f.fix
                                  if isinstance(p, (SetInputs, BatchShape)) and p.check_batch is not None)
        if refused:  # a model-level fix that verification rejected: report it, do not offer it again
            for finding in report.findings:
                if any(isinstance(p, NarrowDouble) for p in finding.fix):
                    finding.fix, finding.reason = (), refused
        chosen = [f for f in report.findings if allowed(f, unsafe=unsafe, dynamic_batch=dynamic_batch)]
        if not chosen:
            return _Run(applied, report.findings, rounds, user_edits, export_batches, ctx.analysis)
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
        interface = [f for f in chosen if f.safety is Safety.NEEDS_DYNAMIC_BATCH]
        if interface:
            # The batch made dynamic alone in its round: the other findings were derived with the static
            # batch (a folded constant that holds it) and are derived again on the dynamic model.
            chosen = interface
        now, _ = isolate_round(chosen)
        for finding in now:
            editor.apply(finding.fix)
            applied.append(finding)
        editor.share_duplicates()  # one node per shape computation: two consumers never get two chains
        editor.cleanup()


def _narrow_verified(
    loaded: LoadedModel,
    specs: list[InputSpec],
    options: Options,
    enabled: bool,
    atol: float,
    rtol: float,
    ranges: Mapping[str, tuple[float, float]],
) -> tuple[ir.Model | None, str | None]:
    """The model with its DOUBLE tensors in FLOAT when ONNX Runtime finds its outputs unchanged at batch 1
    and 3 (else None and why)."""
    from graphfix.fixing.narrowing import narrow_double

    if not enabled:
        return None, "narrowing DOUBLE to FLOAT is kept only when verification shows no change (verify=False)"
    candidate = narrow_double(loaded.model)
    staging = Path(tempfile.mkdtemp(prefix="graphfix-narrow-"))
    try:
        before, after = staging / "before.onnx", staging / "after.onnx"
        save_model(loaded.model, before)
        save_model(candidate, after)
        batches = verification_batches(specs, options.input_shapes, set())
        check = verify(before, after, specs, batches=batches, pinned=options.input_shapes, ranges=ranges,
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


def _check_dynamic_batch(findings: list[Finding], label: str, unsafe: bool) -> None:
    """``dynamic_batch=True`` on a model whose batch cannot be made dynamic is refused, with the reason."""
    refused = [f for f in findings if f.safety is Safety.NEEDS_DYNAMIC_BATCH and not f.fixable]
    if refused:
        raise GraphfixError(f"{label}: dynamic_batch=True refused: {refused[0].reason}",
                            parameters=("dynamic_batch=True",))
    baked = [f for f in findings if f.safety is Safety.NEEDS_DYNAMIC_BATCH and repairs_baked_batch(f)]
    if baked and not unsafe:
        raise GraphfixError(f"{label}: dynamic_batch=True refused: {baked[0].message.split('; ')[1]}; "
                            "repairing them needs unsafe_fixes=True as well",
                            parameters=("dynamic_batch=True", "unsafe_fixes=True"))


@dataclass(frozen=True)
class Reference:
    """What verification compares with: the export batch ``B`` baked into the original (from the findings'
    ``SetInputs.check_batch``, else the original's static batch), whether a fix repaired a baked batch
    (then the reference is the original per sample at ``B``), and the outputs that may tie."""

    export_batch: int | None
    repaired: bool
    unordered: frozenset[str]


def _static_batch(specs: Sequence[InputSpec]) -> int | None:
    dims0 = {spec.dims[0] for spec in specs if spec.dims}
    return next(iter(dims0)) if len(dims0) == 1 and None not in dims0 else None


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
    reference: Reference,
) -> Verification:
    def run(path: Path) -> Verification:
        return verify(path, staged, specs, batches=batches, pinned=options.input_shapes, ranges=ranges,
                      atol=atol, rtol=rtol, export_batch=reference.export_batch, repaired=reference.repaired,
                      unordered=reference.unordered)

    if source_path is not None:
        return run(source_path)
    directory = Path(tempfile.mkdtemp(prefix="graphfix-original-"))
    try:
        path = directory / "original.onnx"
        save_model(original.model, path)
        return run(path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
