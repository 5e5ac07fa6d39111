"""The verification policy: at which batch sizes, with which tolerances, the fixed model must match.

Both models run in ONNX Runtime through the one comparator (:mod:`graphfix.compare`) on the same seeded
random inputs; every output must be within ``atol`` or ``rtol`` of the original's, elementwise (relative
errors relative to the fixed model, as Polygraphy computes them for the second runner).

The reference is the original where it runs. When a baked batch was repaired (the original runs, or is
right, only at its export batch ``B``), the reference is the original per sample
(:mod:`graphfix.verify.reference`): the fixed model is verified at 1, 3 and ``B``, sample ``i`` against the
original run at ``B`` on copies of sample ``i``, after checking that the original treats its samples
independently at ``B``. Batches where the original fails are left out and reported (``excluded``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from graphfix.compare import Comparison, Failure, Inputs, Side, Tolerance, compare, onnxruntime_side
from graphfix.compare.log import polygraphy_log
from graphfix.deps import require
from graphfix.verify.inputs import InputSpec, input_shapes_for
from graphfix.verify.reference import RunFailure, per_sample_side, probe, sample_independence

DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-4

_NO_VERIFY = "verify=False"
_ORIGINAL = "the original model in ONNX Runtime"
# Batches tried, after 1 and 3, to find where an original that fails everywhere was exported.
_EXPORT_BATCH_SEARCH = (2, 4, 8, 16, 5, 6, 7)


@dataclass
class Verification(Comparison):
    """A fix verification: the fixed model against the original (a :class:`~graphfix.compare.Comparison`).

    ``reference`` says what the fixed model was compared with (``"the original model in ONNX Runtime"``,
    or ``"... per sample at its export batch 2"``); ``excluded`` the batches left out because the original fails there (each
    naming the node); ``notes`` what else a user should know (sample independence, tied values).
    ``to_dict`` gives the fields ``graphfix fix --format json`` writes: passed, batches, reference,
    excluded, notes, message and per output ``output``, ``batch``, ``max_abs``, ``max_rel``, ``passed``,
    ``tie_order``.
    """

    reference: str = "the original model in ONNX Runtime"
    excluded: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "batches": self.batches,
            "reference": self.reference,
            "excluded": self.excluded,
            "notes": self.notes,
            "message": self.message,
            "outputs": [{"output": o.output, "batch": o.batch, "max_abs": o.max_abs, "max_rel": o.max_rel,
                         "passed": o.passed, "tie_order": o.tie_order} for o in self.outputs],
        }

    @property
    def original_failed(self) -> bool:
        """Whether nothing could be verified because the original cannot run (not the fixed model's fault)."""
        return self.failure is not None and self.failure.side == "original model"


def verification_batches(specs: Sequence[InputSpec], pinned: Mapping[str, Sequence[int]],
                         export_batches: set[int]) -> list[int]:
    """Batch sizes to try: the original's static batch, else the user's batch (or 1) and 3, plus the
    export batch of baked-batch findings (where the original is known to run)."""
    dims0 = [spec.dims[0] for spec in specs if spec.dims]
    static = [d for d in dims0 if d is not None]
    if dims0 and len(static) == len(dims0):
        return sorted(set(static) | export_batches)  # the original runs at its static batch only
    user = sorted({int(dims[0]) for dims in pinned.values() if dims})
    return sorted({*(user or [1]), 3, *export_batches})


def verify(
    original: Path,
    fixed: Path,
    specs: Sequence[InputSpec],
    *,
    batches: Sequence[int],
    pinned: Mapping[str, Sequence[int]],
    ranges: Mapping[str, tuple[float, float]],
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    seed: int = 0,
    export_batch: int | None = None,
    repaired: bool = False,
    unordered: frozenset[str] = frozenset(),
) -> Verification:
    """Compare ``fixed`` with ``original`` in ONNX Runtime at ``batches`` (inputs shaped as ``specs``, the
    original's interface, with the non-batch dims ``pinned``).

    ``export_batch`` is the batch ``B`` baked into the original (from the findings), when known.
    ``repaired`` says a fix made a baked batch follow the batch again: the fixed model is then verified
    per sample at ``batches`` and ``B``, never at ``B`` only. Otherwise batches where the original fails
    are left out (``excluded``); where it fails everywhere, the verification fails naming the original,
    the batch and the node. ``unordered`` names outputs compared up to the order of tied values.

    Raises:
        MissingDependencyError: onnxruntime or Polygraphy is not installed (parameter ``verify=False``
            skips verification).
        GraphfixError: An input has no declared shape and none is pinned (parameter ``input_shapes``).
    """
    for dependency in ("polygraphy", "onnxruntime"):
        require(dependency, "verification", instead=f"or pass {_NO_VERIFY}", parameters=(_NO_VERIFY,))
    tried = sorted({*batches, *([export_batch] if export_batch is not None else [])})
    dtypes = {spec.name: spec.dtype for spec in specs}
    policy = Tolerance(atol, rtol, relative_to="candidate", unordered=unordered)

    def inputs(at: Sequence[int], *, per_sample: bool = False) -> Inputs:
        shapes = {batch: input_shapes_for(specs, batch, pinned) for batch in at}
        if per_sample:  # the fixed model takes any batch, also where the original's was static
            shapes = {batch: {name: (batch, *shape[1:]) if shape else shape for name, shape in by_name.items()}
                      for batch, by_name in shapes.items()}
        return Inputs(shapes, dtypes, ranges, seed)

    reference: Side = onnxruntime_side("original model", original, quiet=True)
    fixed_side = onnxruntime_side("fixed model", fixed, quiet=True)
    described, excluded, notes, at = _ORIGINAL, [], [], list(tried)
    if not repaired and export_batch is None:
        # Nothing known baked: compare directly; look for where the original runs only if a model failed.
        first = compare(reference, fixed_side, inputs(tried), policy, action="verify")
        if first.failure is None or first.failure.kind != "run":
            return _finish(Verification.view(first, reference=described), original, fixed, inputs(tried),
                           export_batch)
    failures = _probe(original, inputs, tried)
    ran = [batch for batch in tried if failures.get(batch) is None]
    if failures and not ran and export_batch is None:
        # Fails everywhere tried, export batch unknown: look for the batch it was exported at.
        for batch in _EXPORT_BATCH_SEARCH:
            if batch not in tried and _probe(original, inputs, [batch]).get(batch, 0) is None:
                export_batch = batch
                notes.append(f"the original runs at batch {batch}, taken as its export batch")
                tried = sorted({*tried, batch})
                ran = [batch]
                break
    if failures and not ran:
        return _original_fails([f for f in failures.values() if f is not None], tried, policy)
    if repaired and export_batch is None and len(ran) < len(tried):
        export_batch = ran[0]  # the original runs only there: its export batch, as far as can be seen
    if repaired and export_batch is not None:
        at = sorted({1, 3, *batches, export_batch})  # a repair is always verified beyond the export batch
        static = _static_batch(fixed)
        if static is not None:  # the fixed model still takes one batch only: nothing beyond it to verify
            at = [static]
        if failures.get(export_batch) is not None:
            return _original_fails([failures[export_batch]], tried, policy)  # type: ignore[list-item]
        if export_batch == 1:
            notes.append("at batch 1 there is nothing to permute: the original is taken to treat samples "
                         "independently")
        else:
            with polygraphy_log(purpose="verification"):
                feed = inputs([export_batch]).feeds()[export_batch]
            why = sample_independence(original, feed, export_batch, atol, rtol)
            if why is not None:
                return _failed(tried, policy, Failure("reference", "original model", why),
                               f"cannot verify per sample: the original at its export batch {export_batch} "
                               f"does not treat its samples independently ({why})",
                               f"{_ORIGINAL} per sample at its export batch {export_batch}")
            notes.append(f"the original treats its samples independently at batch {export_batch} "
                         "(permuting the batch permutes its outputs)")
        reference = per_sample_side(original, specs, export_batch)
        described = f"{_ORIGINAL} per sample at its export batch {export_batch}"
    else:
        at = ran
        excluded = [f"the original fails at {f.describe()}" for f in failures.values() if f is not None]
    shaped = inputs(at, per_sample=reference.kind == "function")
    comparison = compare(reference, fixed_side, shaped, policy, action="verify")
    return _finish(Verification.view(comparison, reference=described, excluded=excluded, notes=notes), original,
                   fixed, shaped, export_batch)


def _finish(result: Verification, original: Path, fixed: Path, shaped: Inputs,
            export_batch: int | None) -> Verification:
    """The messages: which model failed to run (batch and node), and what the user can pass instead."""
    failure = result.failure
    if failure is not None and failure.kind == "run":  # which model failed, at which batch and node
        result.failure, result.message = _which_failed(original, fixed, shaped, failure, export_batch)
    if failure is not None and failure.kind == "inputs":
        result.message += f"; pass {_NO_VERIFY}"
        result.parameters = (_NO_VERIFY,)
    elif failure is not None and failure.kind == "load" and failure.side == "original model":
        result.message += f" (custom ops? pass {_NO_VERIFY} to write it after validation only)"
        result.parameters = (_NO_VERIFY,)
    return result


def _static_batch(model: Path) -> int | None:
    """The batch every input of ``model`` declares as a constant dim 0, if they agree (graph only)."""
    try:
        graph = onnx.load(str(model), load_external_data=False).graph
    except Exception:  # the comparator reports a model that does not load
        return None
    initializers = {init.name for init in graph.initializer}
    dims = {value.type.tensor_type.shape.dim[0].dim_value if value.type.tensor_type.shape.dim
            and value.type.tensor_type.shape.dim[0].HasField("dim_value") else None
            for value in graph.input if value.name not in initializers}
    return next(iter(dims)) if len(dims) == 1 and None not in dims else None


def _probe(original: Path, inputs: Callable[[Sequence[int]], Inputs],
           batches: Sequence[int]) -> dict[int, RunFailure | None]:
    """Where the original runs (None) and how it fails elsewhere; empty when that cannot be known here
    (no random data, or the original does not load: the comparator then says which)."""
    try:
        with polygraphy_log(purpose="verification"):
            feeds = inputs(batches).feeds()
        return probe(original, feeds)
    except Exception:
        return {}


def _which_failed(original: Path, fixed: Path, shaped: Inputs, failure: Failure,
                  export_batch: int | None) -> tuple[Failure, str]:
    """Name the model that failed to run, the batch and the node (the comparator only has the error)."""
    try:
        with polygraphy_log(purpose="verification"):
            feeds = shaped.feeds()
        broken = [f for f in probe(fixed, feeds).values() if f is not None]
        if broken:
            return (Failure("run", "fixed model", broken[0].describe()),
                    f"the fixed model fails to run in ONNX Runtime at {broken[0].describe()}")
        if export_batch is not None:
            copies = {name: np.repeat(value[:1], export_batch, axis=0) for name, value in feeds[shaped.batches[0]].items()}
            broken = [f for f in probe(original, {export_batch: copies}).values() if f is not None]
            if broken:
                return (Failure("run", "original model", broken[0].describe()),
                        f"cannot verify: the original model fails to run in ONNX Runtime at {broken[0].describe()}")
    except Exception:  # keep the comparator's own words
        pass
    return failure, f"a model failed to run: {failure.detail}"


def _failed(batches: list[int], policy: Tolerance, failure: Failure, message: str, reference: str) -> Verification:
    return Verification(False, batches, [], message, policy, "onnxruntime CPU", failure, reference=reference)


def _original_fails(failures: list[RunFailure], batches: list[int], policy: Tolerance) -> Verification:
    """Nothing to compare with: the original fails to run at every batch tried."""
    described = "; ".join(f.describe() for f in failures)
    return _failed(batches, policy, Failure("run", "original model", described),
                   f"cannot verify: the original model fails to run in ONNX Runtime at {described}",
                   _ORIGINAL)
