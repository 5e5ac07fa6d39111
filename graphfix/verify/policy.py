"""The verification policy: at which batch sizes, with which tolerances, the fixed model must match.

Both models run in ONNX Runtime through the one comparator (:mod:`graphfix.compare`) on the same seeded
random inputs; every output must be within ``atol`` or ``rtol`` of the original's, elementwise (relative
errors relative to the fixed model, as Polygraphy computes them for the second runner).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from graphfix.compare import Comparison, Inputs, Tolerance, compare, onnxruntime_side
from graphfix.deps import require
from graphfix.verify.inputs import InputSpec, input_shapes_for

DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-4

_NO_VERIFY = "verify=False"


@dataclass
class Verification(Comparison):
    """A fix verification: the fixed model against the original (a :class:`~graphfix.compare.Comparison`).

    ``to_dict`` gives the fields ``graphfix fix --format json`` has always written: passed, batches,
    message and per output ``output``, ``batch``, ``max_abs``, ``max_rel``, ``passed``.
    """

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "batches": self.batches,
            "message": self.message,
            "outputs": [{"output": o.output, "batch": o.batch, "max_abs": o.max_abs, "max_rel": o.max_rel,
                         "passed": o.passed} for o in self.outputs],
        }


def verification_batches(specs: Sequence[InputSpec], pinned: Mapping[str, Sequence[int]],
                         export_batches: set[int]) -> list[int]:
    """Batch sizes to verify at: the export batch of baked-batch rewrites, else the original's static
    batch, else the user's batch (or 1) and 3."""
    if export_batches:
        return sorted(export_batches)  # baked-batch rewrites only agree at the export batch
    dims0 = [spec.dims[0] for spec in specs if spec.dims]
    static = [d for d in dims0 if d is not None]
    if dims0 and len(static) == len(dims0):
        return sorted(set(static))  # the original runs at its static batch only
    user = sorted({int(dims[0]) for dims in pinned.values() if dims})
    return sorted({*(user or [1]), 3})


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
) -> Verification:
    """Compare ``fixed`` with ``original`` in ONNX Runtime at ``batches`` (inputs shaped as ``specs``, the
    original's interface, with the non-batch dims ``pinned``).

    Raises:
        MissingDependencyError: onnxruntime or Polygraphy is not installed (parameter ``verify=False``
            skips verification).
        GraphfixError: An input has no declared shape and none is pinned (parameter ``input_shapes``).
    """
    for dependency in ("polygraphy", "onnxruntime"):
        require(dependency, "verification", instead=f"or pass {_NO_VERIFY}", parameters=(_NO_VERIFY,))
    inputs = Inputs({batch: input_shapes_for(specs, batch, pinned) for batch in batches},
                    {spec.name: spec.dtype for spec in specs}, ranges, seed)
    comparison = compare(onnxruntime_side("original model", original), onnxruntime_side("fixed model", fixed),
                         inputs, Tolerance(atol, rtol, relative_to="candidate"), action="verify")
    result = Verification.view(comparison)
    failure = comparison.failure
    if failure is not None and failure.kind == "inputs":
        result.message += f"; pass {_NO_VERIFY}"
        result.parameters = (_NO_VERIFY,)
    elif failure is not None and failure.kind == "load" and failure.side == "original model":
        result.message += f" (custom ops? pass {_NO_VERIFY} to write it after validation only)"
        result.parameters = (_NO_VERIFY,)
    return result
