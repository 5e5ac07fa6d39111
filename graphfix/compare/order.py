"""Equality up to the order of tied values: outputs of TopK, ArgMax, NonMaxSuppression and other
sort-like operators whose ties ONNX Runtime may break differently between runs of equal models.

Two arrays are equal up to order when, along some axis, the slices of one are a permutation of the
slices of the other within every index of the leading axes (the rows of a detection output ``[N, 6]``,
or of each image's ``[K, 6]`` in ``[B, K, 6]``): rows are matched after sorting both sides the same way,
then compared elementwise with the tolerances. A float output's last axis (the fields of a row) is never
reordered, so a box whose coordinates moved never passes.
"""

from __future__ import annotations

import numpy as np


def _canonical(array: np.ndarray, axis: int) -> np.ndarray:
    """``array`` as ``[leading, n, rest]`` with the ``n`` slices of each leading index sorted
    lexicographically (first element first)."""
    shape = array.shape
    leading = int(np.prod(shape[:axis], dtype=np.int64))
    grouped = array.reshape(leading, shape[axis], -1)
    out = np.empty_like(grouped)
    for index, rows in enumerate(grouped):
        keys = rows.T[::-1] if rows.shape[1] else np.zeros((1, rows.shape[0]))
        out[index] = rows[np.lexsort(keys)]
    return out


def equal_up_to_order(want: np.ndarray, got: np.ndarray, atol: float, rtol: float) -> bool:
    """Whether ``got`` equals ``want`` once the slices along one axis are matched (see the module).

    Elementwise after matching: ``|got - want| <= atol + rtol * |want|``."""
    if want.shape != got.shape or want.ndim == 0:
        return False
    try:
        ref = np.asarray(want, dtype=np.float64)
        out = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    # The last axis of a float output holds a row's fields (score, box): never reordered. Integer outputs
    # (TopK indices [B, k]) and vectors may reorder along any axis.
    integer = np.issubdtype(np.asarray(want).dtype, np.integer)
    axes = range(ref.ndim) if integer or ref.ndim == 1 else range(ref.ndim - 1)
    for axis in axes:
        if ref.shape[axis] < 2:
            continue
        a, b = _canonical(ref, axis), _canonical(out, axis)
        if np.allclose(b, a, atol=atol, rtol=rtol, equal_nan=True):
            return True
    return False
