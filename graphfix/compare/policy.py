"""Tolerance policies: each caller states how outputs are judged; the comparator applies it.

- :class:`Tolerance`, elementwise: Polygraphy's ``SimpleCompareFunc`` (``atol``/``rtol`` and its
  ``check_error_stat``). Fix verification and engine comparisons use it.
- :class:`Thresholds`, similarity: cosine similarity and SNR (and optionally an elementwise bound),
  computed by :mod:`graphfix.compare.stats`. Precision checks use it: fp16 and int8 change every value a
  little, so what matters is that the output as a whole keeps its direction and its energy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Tolerance:
    """Elementwise tolerances, judged by Polygraphy's ``SimpleCompareFunc``.

    ``check_error_stat="elemwise"`` fails an output when any element misses both tolerances;
    ``"quantile"`` checks the 99th percentile errors. Relative errors are relative to ``relative_to``'s
    output (Polygraphy divides by the second runner's output). An output named in ``unordered`` (one
    downstream of TopK, ArgMax, NonMaxSuppression...) that fails elementwise passes when it is equal up to
    the order of tied values (:func:`graphfix.compare.order.equal_up_to_order`).
    """

    atol: float
    rtol: float
    check_error_stat: str = "elemwise"
    relative_to: Literal["reference", "candidate"] = "reference"
    unordered: frozenset[str] = frozenset()

    def describe(self) -> str:
        return (f"|diff| <= {self.atol:g} or <= {self.rtol:g}*|{self.relative_to}| "
                f"({self.check_error_stat})")


@dataclass(frozen=True)
class Thresholds:
    """When one output passes: ``cosine >= cosine``, ``snr_db >= snr_db`` (if set), and every element
    within ``atol + rtol * |reference|`` (if ``atol`` is set). Non-finite values where the reference is
    finite always fail."""

    cosine: float
    snr_db: float | None = None
    atol: float | None = None
    rtol: float | None = None

    def describe(self) -> str:
        parts = [f"cosine >= {self.cosine:g}"]
        if self.snr_db is not None:
            parts.append(f"SNR >= {self.snr_db:g} dB")
        if self.atol is not None:
            parts.append(f"|diff| <= {self.atol:g} + {self.rtol or 0:g}*|ref|")
        return ", ".join(parts)


Policy = Tolerance | Thresholds
"""A tolerance policy: elementwise (:class:`Tolerance`) or similarity (:class:`Thresholds`)."""
