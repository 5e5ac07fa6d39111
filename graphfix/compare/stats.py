"""Per-output statistics of one comparison, and the similarity judgement (:class:`Thresholds`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from graphfix.compare.policy import Thresholds


@dataclass
class OutputComparison:
    """How one output of the candidate compares with the reference at one batch size.

    ``max_abs``/``max_rel`` are the largest absolute and relative differences (relative to the side the
    policy names), ``cosine`` the cosine similarity and ``snr_db`` the signal-to-noise ratio of the
    candidate against the reference (in dB; inf when equal), ``nonfinite`` the count of values that are
    inf/nan in the candidate but not in the reference. An output the candidate lacks, or gives with
    another shape, fails with ``problem`` saying so; a different dtype is recorded, not judged.
    ``tie_order`` marks an output that is equal only up to the order of tied values.
    """

    output: str
    batch: int
    max_abs: float
    max_rel: float
    cosine: float
    snr_db: float
    nonfinite: int
    passed: bool
    problem: str = ""
    shape_mismatch: bool = False
    dtype_mismatch: bool = False
    missing: bool = False
    tie_order: bool = False  # passed only up to the order of tied values

    def to_dict(self) -> dict[str, object]:
        """Every statistic, with non-finite floats as None (JSON has no inf/nan)."""
        return {key: (None if isinstance(value, float) and not math.isfinite(value) else value)
                for key, value in vars(self).items()}


def statistics(name: str, batch: int, want: np.ndarray, got: np.ndarray | None) -> OutputComparison:
    """Compare ``got`` (the candidate's output, None when it has none) with ``want`` (the reference's):
    statistics only, ``passed`` True unless the output is missing or has another shape."""
    nan = float("nan")
    if got is None:
        return OutputComparison(name, batch, nan, nan, nan, nan, 0, False, "missing from the candidate",
                                missing=True)
    dtype_mismatch = np.asarray(got).dtype != np.asarray(want).dtype
    if want.shape != got.shape:
        return OutputComparison(name, batch, nan, nan, nan, nan, 0, False,
                                f"shape {list(got.shape)}, expected {list(want.shape)}", shape_mismatch=True,
                                dtype_mismatch=dtype_mismatch)
    try:
        ref = np.asarray(want, dtype=np.float64)
        out = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):  # strings: equal or not
        equal = bool(np.array_equal(want, got))
        return OutputComparison(name, batch, 0.0 if equal else nan, 0.0 if equal else nan, 1.0 if equal else 0.0,
                                math.inf if equal else -math.inf, 0, equal, "" if equal else "values differ",
                                dtype_mismatch=dtype_mismatch)
    ref_finite, out_finite = np.isfinite(ref), np.isfinite(out)
    # Non-finite where the reference is finite (overflow), or a different non-finite value.
    broken = (ref_finite & ~out_finite) | (~ref_finite & ~((ref == out) | (np.isnan(ref) & np.isnan(out))))
    nonfinite = int(broken.sum())
    both = ref_finite & out_finite
    r, o = ref[both], out[both]
    diff = np.abs(o - r)
    max_abs = float(diff.max()) if diff.size else 0.0
    nonzero = r != 0
    max_rel = float((diff[nonzero] / np.abs(r[nonzero])).max()) if nonzero.any() else 0.0
    ref_norm, out_norm = float(np.linalg.norm(r)), float(np.linalg.norm(o))
    if ref_norm == 0.0 and out_norm == 0.0:
        cosine = 1.0
    elif ref_norm == 0.0 or out_norm == 0.0:
        cosine = 0.0
    else:
        cosine = float(np.dot(r, o) / (ref_norm * out_norm))
    noise = float(np.sum((o - r) ** 2))
    signal = float(np.sum(r**2))
    snr_db = math.inf if noise == 0.0 else (-math.inf if signal == 0.0 else 10.0 * math.log10(signal / noise))
    if nonfinite:
        max_abs, snr_db = math.inf, -math.inf
    return OutputComparison(name, batch, max_abs, max_rel, cosine, snr_db, nonfinite, True,
                            dtype_mismatch=dtype_mismatch)


def judge(stats: OutputComparison, want: np.ndarray, got: np.ndarray | None, limits: Thresholds) -> None:
    """Set ``stats.passed`` and ``stats.problem`` from the similarity ``limits``."""
    if stats.missing or stats.shape_mismatch or got is None:
        stats.passed = False
        return
    reasons = []
    nonfinite = stats.nonfinite
    if nonfinite:
        reasons.append(f"{nonfinite} non-finite value(s) where fp32 is finite (fp16 overflow?)")
    if stats.cosine < limits.cosine:
        reasons.append(f"cosine {stats.cosine:.6f} < {limits.cosine:g}")
    if limits.snr_db is not None and stats.snr_db < limits.snr_db and not nonfinite:
        reasons.append(f"SNR {stats.snr_db:.1f} dB < {limits.snr_db:g} dB")
    if limits.atol is not None and not nonfinite:
        ref = np.asarray(want, dtype=np.float64)
        out = np.asarray(got, dtype=np.float64)
        both = np.isfinite(ref) & np.isfinite(out)
        r, o = ref[both], out[both]
        allowed = limits.atol + (limits.rtol or 0.0) * np.abs(r)
        outside = int((np.abs(o - r) > allowed).sum())
        if outside:
            reasons.append(f"{outside} value(s) beyond {limits.atol:g} + {limits.rtol or 0:g}*|ref| "
                           f"(max abs {stats.max_abs:.3g}, max rel {stats.max_rel:.3g})")
    stats.passed = not reasons
    stats.problem = "; ".join(reasons)
