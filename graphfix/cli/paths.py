"""Command-line paths as ruff takes them: files, folders (every ``*.onnx`` below, recursively) and globs.

External-data sidecars (``model.onnx.data``, ``weights.bin``) are never taken for models: folders and globs
only yield ``*.onnx`` files, and a file named on the command line with a sidecar's suffix is skipped.
``--exclude`` patterns and the configuration's ``exclude`` drop matching paths (``fnmatch`` rules; a
pattern without ``/`` also matches the file name alone, or any folder on the way).
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from graphfix.errors import UsageError

MODEL_SUFFIX = ".onnx"
# Names external data is usually written under (torch.onnx, onnx.save_model's location=...).
SIDECAR_SUFFIXES = (".data", "_data", ".bin", ".weights", ".pb")
_GLOB_CHARS = frozenset("*?[")


def is_sidecar(path: Path) -> bool:
    """Whether ``path`` looks like an external-data file rather than a model."""
    return path.suffix != MODEL_SUFFIX and path.name.endswith(SIDECAR_SUFFIXES)


def matches_exclude(path: Path, patterns: Sequence[str], root: Path | None = None) -> bool:
    """Whether ``path`` (relative to ``root``, default the current folder) matches one of ``patterns``."""
    base = (root or Path.cwd()).resolve()
    try:
        relative = PurePosixPath(path.resolve().relative_to(base).as_posix())
    except ValueError:
        relative = PurePosixPath(path.as_posix())
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if fnmatch.fnmatchcase(relative.as_posix(), pattern) or fnmatch.fnmatchcase(relative.as_posix(),
                                                                                     pattern + "/*"):
            return True
        if "/" not in pattern and any(fnmatch.fnmatchcase(part, pattern) for part in relative.parts):
            return True
    return False


def collect_models(paths: Sequence[str], *, exclude: Sequence[str] = (),
                   excluded: Callable[[Path], bool] | None = None) -> list[Path]:
    """The model files ``paths`` name, in order (folders sorted), each once.

    Raises:
        UsageError: A glob matches no model. (A missing file is kept: loading it reports the error.)
    """
    found: list[Path] = []
    for spec in paths:
        path = Path(spec)
        if is_sidecar(path):
            continue
        if path.is_dir():
            candidates = sorted(p for p in path.rglob(f"*{MODEL_SUFFIX}") if p.is_file())
        elif path.is_file():
            candidates = [path]
        elif _GLOB_CHARS & set(spec):
            candidates = []
            for match in sorted(glob.glob(spec, recursive=True)):
                matched = Path(match)
                if matched.is_dir():
                    candidates.extend(sorted(p for p in matched.rglob(f"*{MODEL_SUFFIX}") if p.is_file()))
                elif matched.suffix == MODEL_SUFFIX:
                    candidates.append(matched)
            if not candidates:
                raise UsageError(f"{spec}: the pattern matches no {MODEL_SUFFIX} file")
        else:  # a missing file: reported as that file's error, and the others are still checked
            candidates = [path]
        for candidate in candidates:
            if matches_exclude(candidate, exclude) or (excluded is not None and excluded(candidate)):
                continue
            found.append(candidate)
    unique: dict[str, Path] = {}
    for candidate in found:
        unique.setdefault(os.path.normpath(candidate), candidate)
    return list(unique.values())
