"""int8 calibration data: the user's ``.npz``/``.npy`` files, checked against the model's inputs, or
random data in the same valid ranges as verification (with a warning: the accuracy will be poor)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graphfix.errors import CalibrationError, UsageError
from graphfix.precision.common import first_line
from graphfix.verify.inputs import InputSpec, input_shapes_for

_RANDOM_SEED = 20240611


class RandomCalibrationWarning(UserWarning):
    """int8 scales were computed from random data: the model runs, but accuracy on real data will be poor."""


@dataclass
class Calibration:
    """Calibration batches for :func:`to_int8`: ``{input name: array}`` each, in the model's dtypes."""

    batches: list[dict[str, np.ndarray]]
    random: bool
    source: str

    def __len__(self) -> int:
        return len(self.batches)


def load_calibration(
    path: str | os.PathLike[str] | None,
    specs: Sequence[InputSpec],
    *,
    batch: int = 1,
    samples: int = 8,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> Calibration:
    """Calibration batches for the model whose inputs are ``specs``.

    ``path`` is one ``.npz`` keyed by input name, or a folder of ``.npz`` files (each keyed by input name)
    and/or ``.npy`` files (for a one-input model any name; otherwise ``<input name>.npy``). Arrays hold
    samples along axis 0 (``[N, 3, 224, 224]``); all of them are used, in batches of ``batch`` (of the
    model's batch when it is fixed). Values are cast to the model's dtypes when that keeps every value;
    anything else is a :class:`CalibrationError`.

    ``path=None`` makes ``samples`` random samples (``random=True``): floats uniform in ``ranges[name]``
    (default [0, 1), the range ``graphfix.verify`` draws from), integers uniform in the inclusive range
    ``ranges[name]``, as :func:`graphfix.verify.integer_ranges` gives them (token ids below the table
    they index, 0/1 otherwise).
    """
    if batch < 1 or samples < 1:
        raise UsageError(f"calibration: batch ({batch}) and samples ({samples}) must be at least 1")
    if not specs:
        raise CalibrationError("calibration: the model has no inputs to calibrate")
    if path is None:
        return _random_calibration(specs, batch, samples, ranges or {})
    path = Path(path)
    if not path.exists():
        raise CalibrationError(f"{path}: calibration data not found (give a folder of .npy/.npz files "
                               "or one .npz keyed by input name)")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".npy", ".npz"))
        if not files:
            raise CalibrationError(f"{path}: no .npy or .npz files in this folder")
    elif path.suffix in (".npz", ".npy"):
        files = [path]
    else:
        raise CalibrationError(f"{path}: not a .npz file or a folder of .npy/.npz files")

    batches: list[dict[str, np.ndarray]] = []
    total = 0
    for label, arrays in _records(files, specs, path):
        conformed = {spec.name: _conform(label, spec, arrays[spec.name]) for spec in specs}
        counts = {name: array.shape[0] for name, array in conformed.items()}
        if len(set(counts.values())) != 1:
            shown = ", ".join(f"{name}: {count}" for name, count in counts.items())
            raise CalibrationError(f"{label}: inputs hold different numbers of samples ({shown})")
        count = next(iter(counts.values()))
        if count == 0:
            raise CalibrationError(f"{label}: holds no samples")
        fixed = _fixed_batch(specs)
        step = fixed or batch
        if fixed and count % fixed:
            raise CalibrationError(f"{label}: {count} samples is not a multiple of the model's fixed "
                                   f"batch {fixed}")
        for start in range(0, count, step):
            batches.append({name: np.ascontiguousarray(array[start:start + step])
                            for name, array in conformed.items()})
        total += count
    return Calibration(batches, False, f"{path} ({total} samples, {len(batches)} batches)")


def _records(
    files: Sequence[Path], specs: Sequence[InputSpec], root: Path
) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """One ``(label, {input: array})`` per .npz file, plus one for the folder's .npy files."""
    names = [spec.name for spec in specs]
    loose: dict[str, np.ndarray] = {}
    for file in files:
        if file.suffix == ".npz":
            arrays = _read_arrays(file)
            missing = [name for name in names if name not in arrays]
            if missing:
                raise CalibrationError(f"{file}: no array for input {', '.join(repr(m) for m in missing)} "
                                       f"(it has: {', '.join(arrays) or 'nothing'}; the model's inputs: "
                                       f"{', '.join(names)})")
            yield str(file), arrays
        elif len(names) == 1:
            yield str(file), {names[0]: _read_arrays(file)[""]}
        elif file.stem in names:
            loose[file.stem] = _read_arrays(file)[""]
        else:
            raise CalibrationError(f"{file}: the model has several inputs ({', '.join(names)}); name .npy "
                                   "files after the input they feed, or use .npz files keyed by input name")
    if loose:
        missing = [name for name in names if name not in loose]
        if missing:
            raise CalibrationError(f"{root}: no {', '.join(m + '.npy' for m in missing)} (each input of the "
                                   "model needs its own .npy file)")
        yield str(root), loose


def _read_arrays(file: Path) -> dict[str, np.ndarray]:
    """A .npz as ``{key: array}``, a .npy as ``{"": array}``."""
    try:
        loaded = np.load(file, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            if file.suffix == ".npz":
                raise CalibrationError(f"{file}: holds one array, not arrays keyed by input name (save it "
                                       "with numpy.savez(path, input_name=array, ...))")
            return {"": loaded}
        with loaded:
            if file.suffix == ".npy":
                raise CalibrationError(f"{file}: is an .npz archive; name it .npz")
            return {key: loaded[key] for key in loaded.files}
    except CalibrationError:
        raise
    except Exception as error:
        raise CalibrationError(f"{file}: cannot read: {first_line(error)}") from error


def _conform(label: str, spec: InputSpec, array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if spec.dims is not None:
        expected = "[" + ", ".join(["N"] + [str(d) if d is not None else "?" for d in spec.dims[1:]]) + "]"
        if array.ndim != len(spec.dims):
            raise CalibrationError(f"{label}: input {spec.name!r} has shape {list(array.shape)}, expected "
                                   f"{expected} (rank {len(spec.dims)}, samples along axis 0)")
        for axis, dim in enumerate(spec.dims):
            if axis > 0 and dim is not None and array.shape[axis] != dim:
                raise CalibrationError(f"{label}: input {spec.name!r} has shape {list(array.shape)}, "
                                       f"expected {expected} (axis {axis} must be {dim})")
    return _cast(label, spec, array)


def _cast(label: str, spec: InputSpec, array: np.ndarray) -> np.ndarray:
    """Cast to the model's dtype when every value survives; else a CalibrationError."""
    target = np.dtype(spec.dtype)
    if array.dtype == target:
        return array
    where = f"{label}: input {spec.name!r} is {array.dtype} but the model takes {target}"
    kind = array.dtype.kind
    if target.kind == "f":
        if kind not in "fiub":
            raise CalibrationError(f"{where}; it cannot be converted")
        finite = array[np.isfinite(array)] if kind == "f" else array
        if finite.size and np.abs(finite.astype(np.float64)).max() > np.finfo(target).max:
            raise CalibrationError(f"{where}; its values do not fit in {target}")
        return array.astype(target)
    if target.kind in "iu":
        if kind == "f":
            if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
                raise CalibrationError(f"{where}, and holds non-integer values; save integer data")
        elif kind not in "iub":
            raise CalibrationError(f"{where}; it cannot be converted")
        if array.size:
            info = np.iinfo(target)
            low, high = array.min(), array.max()
            if low < info.min or high > info.max:
                raise CalibrationError(f"{where}; values {low}..{high} do not fit")
        return array.astype(target)
    if target.kind == "b":
        if kind in "iu" and np.isin(array, (0, 1)).all():
            return array.astype(target)
        raise CalibrationError(f"{where}; give booleans (or 0/1 integers)")
    raise CalibrationError(f"{where}; it cannot be converted")


def _fixed_batch(specs: Sequence[InputSpec]) -> int | None:
    """The model's batch when dim 0 of an input is a number (None when it is dynamic)."""
    fixed = [spec.dims[0] for spec in specs if spec.dims and spec.dims[0] is not None]
    return int(fixed[0]) if fixed else None


def _random_calibration(
    specs: Sequence[InputSpec], batch: int, samples: int, ranges: Mapping[str, tuple[float, float]]
) -> Calibration:
    step = _fixed_batch(specs) or batch
    shapes = input_shapes_for(specs, step, {})
    rng = np.random.default_rng(_RANDOM_SEED)
    count = max(1, math.ceil(samples / step))
    batches = []
    for _ in range(count):
        feeds: dict[str, np.ndarray] = {}
        for spec in specs:
            dtype, shape = np.dtype(spec.dtype), shapes[spec.name]
            if dtype.kind == "b":
                feeds[spec.name] = rng.integers(0, 2, size=shape).astype(bool)
            elif dtype.kind in "iu":
                low, high = ranges.get(spec.name, (0, 1))
                feeds[spec.name] = rng.integers(int(low), int(high) + 1, size=shape).astype(dtype)
            else:
                low, high = ranges.get(spec.name, (0.0, 1.0))
                feeds[spec.name] = rng.uniform(low, high, size=shape).astype(dtype)
        batches.append(feeds)
    return Calibration(batches, True, f"random data ({count} batches of {step}; no calibration data given)")
