"""Calibration data for int8: the user's files checked against the model's inputs, one clear line each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphfix.errors import GraphfixError
from graphfix.precision import CalibrationError, load_calibration
from graphfix.verify import InputSpec

BERT_SPECS = [InputSpec("input_ids", np.dtype(np.int64), (None, 16)),
              InputSpec("attention_mask", np.dtype(np.int64), (None, 16))]
CNN_SPECS = [InputSpec("x", np.dtype(np.float32), (None, 3, 16, 16))]


def _ids(n: int = 4) -> np.ndarray:
    return np.arange(n * 16, dtype=np.int64).reshape(n, 16) % 100


@pytest.mark.parametrize(("case", "specs", "message"), [
    ("missing", BERT_SPECS, "calibration data not found"),
    ("empty_folder", BERT_SPECS, "no .npy or .npz files in this folder"),
    ("text_file", BERT_SPECS, "not a .npz file or a folder"),
    ("npz_missing_input", BERT_SPECS, "no array for input 'attention_mask'"),
    ("npy_bad_name", BERT_SPECS, "name .npy files after the input"),
    ("npy_missing_input", BERT_SPECS, "no attention_mask.npy"),
    ("sample_counts", BERT_SPECS, "different numbers of samples"),
    ("float_ids", BERT_SPECS, "non-integer values"),
    ("wrong_rank", CNN_SPECS, r"expected \[N, 3, 16, 16\]"),
    ("wrong_dims", CNN_SPECS, "axis 2 must be 16"),
    ("strings", CNN_SPECS, "cannot be converted"),
    ("npy_as_npz", CNN_SPECS, "not arrays keyed by input name"),
])
def test_bad_calibration_data(tmp_path: Path, case: str, specs: list[InputSpec], message: str) -> None:
    path = tmp_path / "data"
    if case == "missing":
        pass
    elif case == "empty_folder":
        path.mkdir()
        (path / "notes.txt").write_text("no arrays here")
    elif case == "text_file":
        path = tmp_path / "data.txt"
        path.write_text("1 2 3")
    elif case == "npz_missing_input":
        path = tmp_path / "data.npz"
        np.savez(path, input_ids=_ids())
    elif case in ("npy_bad_name", "npy_missing_input"):
        path.mkdir()
        np.save(path / ("tokens.npy" if case == "npy_bad_name" else "input_ids.npy"), _ids())
    elif case == "sample_counts":
        path = tmp_path / "data.npz"
        np.savez(path, input_ids=_ids(4), attention_mask=np.ones((3, 16), np.int64))
    elif case == "float_ids":
        path = tmp_path / "data.npz"
        np.savez(path, input_ids=_ids().astype(np.float32) + 0.5, attention_mask=np.ones((4, 16)))
    elif case == "wrong_rank":
        path = tmp_path / "data.npz"
        np.savez(path, x=np.zeros((3, 16, 16), np.float32))
    elif case == "wrong_dims":
        path = tmp_path / "data.npz"
        np.savez(path, x=np.zeros((2, 3, 8, 8), np.float32))
    elif case == "strings":
        path = tmp_path / "data.npz"
        np.savez(path, x=np.full((1, 3, 16, 16), "a"))
    elif case == "npy_as_npz":
        path = tmp_path / "data.npz"
        with open(path, "wb") as stream:
            np.save(stream, np.zeros((1, 3, 16, 16), np.float32))
    with pytest.raises(CalibrationError, match=message) as caught:
        load_calibration(path, specs)
    assert isinstance(caught.value, GraphfixError)
    assert "\n" not in str(caught.value)  # one line for the CLI


def test_calibration_casts_when_values_survive(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, input_ids=_ids(5).astype(np.int32), attention_mask=np.ones((5, 16), np.float64))
    calibration = load_calibration(path, BERT_SPECS, batch=2)
    assert [f["input_ids"].shape[0] for f in calibration.batches] == [2, 2, 1]
    assert all(f["input_ids"].dtype == np.int64 and f["attention_mask"].dtype == np.int64
               for f in calibration.batches)

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        np.save(folder / f"{i}.npy", np.random.default_rng(i).standard_normal((2, 3, 16, 16)))  # float64
    calibration = load_calibration(folder, CNN_SPECS, batch=4)
    assert len(calibration) == 3 and all(f["x"].dtype == np.float32 for f in calibration.batches)

    fixed_batch = [InputSpec("x", np.dtype(np.float32), (2, 3, 16, 16))]
    np.savez(tmp_path / "odd.npz", x=np.zeros((3, 3, 16, 16), np.float32))
    with pytest.raises(CalibrationError, match="not a multiple of the model's fixed batch 2"):
        load_calibration(tmp_path / "odd.npz", fixed_batch)
