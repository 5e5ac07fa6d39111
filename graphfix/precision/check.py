"""Checking a precision transform: the transformed model against the fp32 original, by similarity.

Both run on the same seeded random inputs as verification, through the one comparator
(:mod:`graphfix.compare`), at every batch size the caller asks for; each output is judged by thresholds
that fit the precision (:data:`DEFAULT_THRESHOLDS`): max abs / max rel error, cosine similarity, SNR (dB).
fp16 graphs run through the emulation of :mod:`.emulate` (ONNX Runtime would hide fp16 overflow);
``runner="reference"`` runs the file itself in ``onnx.reference`` instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graphfix.compare import Comparison, Inputs, Thresholds, compare, onnxruntime_side
from graphfix.compare.log import first_line
from graphfix.errors import UsageError
from graphfix.precision.common import META_RANDOM, check_precision, read_structure
from graphfix.precision.emulate import candidate_side

DEFAULT_THRESHOLDS: dict[str, Thresholds] = {
    # Same tolerances as graphfix.verify: an fp32 "transform" must not change the numbers.
    "fp32": Thresholds(cosine=0.99999, atol=1e-5, rtol=1e-4),
    # fp16 rounds every stored value by up to 2**-11 (~5e-4) relative; a few dozen layers accumulate
    # to ~1e-3. 1e-2 abs + 1e-2 rel leaves an order of magnitude of margin and still catches a wrong
    # Cast or a clipped weight; cosine >= 0.999 (an SNR of about 27 dB) catches errors spread
    # everywhere. Overflow (inf/nan) always fails.
    "fp16": Thresholds(cosine=0.999, atol=1e-2, rtol=1e-2),
    # int8 has 8 bits per tensor: element-wise tolerances make no sense, similarity does. cosine >= 0.98
    # is the usual PTQ acceptance bar (about 14 dB if the error is all "direction"). Cosine is blind to
    # scale, so SNR >= 14 dB is required too: it fails a wrong gain or offset (an output 25% too large
    # has cosine 1.0 but 12 dB). "cosine or SNR >= 20 dB" would add nothing: SNR >= 20 dB means the error
    # is <= 10% of the signal, i.e. cosine >= 0.995.
    "int8": Thresholds(cosine=0.98, snr_db=14.0),
}



@dataclass
class PrecisionReport(Comparison):
    """A precision check (a :class:`~graphfix.compare.Comparison` judged by :class:`Thresholds`)."""

    precision: str = "fp32"
    random_calibration: bool = False

    @property
    def thresholds(self) -> Thresholds:
        assert isinstance(self.policy, Thresholds)
        return self.policy

    def to_dict(self) -> dict[str, object]:
        return {
            "precision": self.precision,
            "passed": self.passed,
            "batches": self.batches,
            "thresholds": vars(self.thresholds),
            "runner": self.runner,
            "random_calibration": self.random_calibration,
            "message": self.message,
            "outputs": [{key: value for key, value in o.to_dict().items()
                         if key not in ("shape_mismatch", "dtype_mismatch", "missing")} for o in self.outputs],
        }


def compare_precision(
    original: str | os.PathLike[str],
    transformed: str | os.PathLike[str],
    feeds_by_batch: Mapping[int, Mapping[str, tuple[int, ...]]],
    *,
    precision: str,
    dtypes: Mapping[str, np.dtype],
    ranges: Mapping[str, tuple[float, float]],
    seed: int = 0,
    thresholds: Thresholds | None = None,
    runner: str = "auto",
) -> PrecisionReport:
    """Run ``original`` and ``transformed`` on the same seeded random inputs (those verification feeds) at
    each batch size and judge every output against ``thresholds`` (default: :data:`DEFAULT_THRESHOLDS`
    for ``precision``).

    ``runner="auto"``: ONNX Runtime CPU, fp16 tensors emulated (:mod:`graphfix.precision.emulate`);
    ``runner="reference"``: the transformed file in ``onnx.reference.ReferenceEvaluator``.

    Raises:
        UsageError: An unknown precision or runner.
        ModelError: ``transformed`` cannot be read.
    """
    check_precision(precision)
    if runner not in ("auto", "reference"):
        raise UsageError(f"runner {runner!r}: expected 'auto' or 'reference'")
    limits = thresholds or DEFAULT_THRESHOLDS[precision]
    original, transformed = Path(original), Path(transformed)
    structure = read_structure(transformed)
    meta = {p.key: p.value for p in structure.metadata_props}
    random_calibration = meta.get(META_RANDOM) == "true"
    inputs = Inputs(feeds_by_batch, dtypes, ranges, seed)
    try:
        candidate = candidate_side(transformed, structure, runner, f"{precision} model")
    except Exception as error:
        return PrecisionReport(False, list(feeds_by_batch), [], f"the {precision} model cannot be loaded: "
                               f"{first_line(error)}", limits, "onnxruntime CPU", precision=precision,
                               random_calibration=random_calibration)
    comparison = compare(onnxruntime_side("original model", original), candidate, inputs, limits,
                         action="check the precision")
    report = PrecisionReport.view(comparison, precision=precision, random_calibration=random_calibration)
    notes = []
    if random_calibration:
        notes.append("int8 scales came from random calibration data: accuracy on real inputs will be poor")
    if report.passed:
        worst = report.worst()
        summary = (f"{precision}: {len({o.output for o in report.outputs})} output(s) within "
                   f"{limits.describe()} at batch {', '.join(map(str, report.batches))}")
        if worst is not None:
            summary += (f" (worst: {worst.output!r} cosine {worst.cosine:.6f}, SNR {worst.snr_db:.1f} dB, "
                        f"max abs {worst.max_abs:.3g})")
        report.message = "; ".join([summary, *notes])
    else:
        report.message = "; ".join([m for m in (comparison.message, *notes) if m]) or "no outputs were compared"
    return report
