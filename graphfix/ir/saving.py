"""The one atomic writer: models, engines, timing caches, reports. Never a half-written file, never the
user's input overwritten by accident.

Everything graphfix writes goes through :func:`staged`: the file is made in a private temporary folder
beside the destination (same file system), checked there by the caller, and only then moved into place:
companions (external data) first, the file itself last, so whoever sees the new file also sees its
data. Any failure (a check that refuses the model, a full disk) removes the temporary folder and leaves
the destination as it was.

- :func:`save_model` writes an onnx-ir model (external data beside it when the model has or needs it);
- :func:`write_bytes_atomic` / :func:`write_text_atomic` write an engine, a timing cache or a report;
- :func:`staged` is for writers that must produce the file themselves (ONNX Runtime's optimised model,
  torch's exporters).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx_ir as ir

from graphfix.errors import GraphfixError, WriteError

# Protobuf cannot hold more than 2 GiB; stay well below when deciding to embed weights.
EMBED_LIMIT_BYTES = 1_800_000_000


def uses_external_data(model: ir.Model) -> bool:
    """Whether any initializer of ``model`` lives in external data."""
    return any(isinstance(v.const_value, ir.ExternalTensor) for v in model.graph.initializers.values())


def weight_bytes(model: ir.Model) -> int:
    """The bytes of all initializers (read from their metadata, not their data)."""
    return sum(v.const_value.nbytes for v in model.graph.initializers.values() if v.const_value is not None)


def check_destination(path: Path, *, inputs: list[Path], in_place: bool) -> None:
    """Refuse outputs that would overwrite an input or land nowhere, before any work is done.

    Raises:
        GraphfixError: The folder does not exist, the path is a folder, it is one of ``inputs`` and
            ``in_place`` is false (parameter ``in_place=True``), or the external data written beside it
            (``<name>.data``) would replace the weights of another input (a model renamed after export
            still names its old ``<name>.data``).
    """
    parent = _parent(path)
    if not parent.is_dir():
        raise GraphfixError(f"{path}: the output folder {parent} does not exist (create it first)")
    if path.is_dir():
        raise GraphfixError(f"{path}: is a directory; give a file name for the output")
    for source in inputs:
        if path.exists() and source.exists() and os.path.samefile(path, source) and not in_place:
            raise GraphfixError(f"{path}: is the input model; give another output path, or pass in_place=True "
                                "to overwrite it", parameters=("in_place=True",))
    companion = parent / f"{path.name}.data"
    if not companion.exists():
        return
    for source in inputs:
        if path.exists() and source.exists() and os.path.samefile(path, source):
            continue  # in place: the input's own data is replaced with it, atomically
        for data in _external_data_files(source):
            if os.path.samefile(companion, data):
                raise GraphfixError(f"{path}: its external data would be written to {companion}, which holds the "
                                    f"weights of the input model {source}; give another output path")


@dataclass
class Staging:
    """A private folder beside a destination. Write ``path`` (and any companion files) there."""

    destination: Path
    folder: Path
    companions: list[str] = field(default_factory=list)  # file names moved before the file itself
    written: list[Path] = field(default_factory=list)  # filled when the files are in place

    @property
    def path(self) -> Path:
        """Where to write the file: the destination's name inside the private folder."""
        return self.folder / self.destination.name

    def add_companion(self, name: str) -> None:
        """Move ``folder / name`` beside the destination too (before the file itself)."""
        if name not in self.companions:
            self.companions.append(name)


@contextlib.contextmanager
def staged(path: str | os.PathLike[str]) -> Iterator[Staging]:
    """Stage a write of ``path``: yield a :class:`Staging` whose ``path`` the caller writes; when the block
    ends without an error, the companions and then the file move into place (``Staging.written``).

    Raises:
        GraphfixError: The destination's folder does not exist.
        WriteError: Writing or moving failed (an ``OSError``: no space, no permission); nothing was written.
    """
    destination = Path(path)
    parent = _parent(destination)
    if not parent.is_dir():
        raise GraphfixError(f"{destination}: the output folder {parent} does not exist")
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{destination.name}.graphfix-", dir=parent))
    except OSError as error:
        raise WriteError(_write_error(destination, error)) from error
    stage = Staging(destination, folder)
    try:
        try:
            yield stage
        except OSError as error:
            if isinstance(error, GraphfixError):
                raise
            raise WriteError(_write_error(destination, error)) from error
        try:
            for name in stage.companions:
                if (folder / name).is_file():
                    target = parent / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(folder / name, target)
                    stage.written.append(target)
            os.replace(stage.path, destination)
            stage.written.append(destination)
        except OSError as error:
            raise WriteError(_write_error(destination, error)) from error
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def save_model(
    model: ir.Model,
    path: str | os.PathLike[str],
    *,
    external: bool | None = None,
    check: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Save ``model`` to ``path`` atomically and return the files written.

    Args:
        model: The model (not modified).
        path: The ``.onnx`` destination; external data goes beside it as ``<name>.data``.
        external: Write weights as external data (default: when the model has external data or its
            weights exceed :data:`EMBED_LIMIT_BYTES`).
        check: Called with the staged file before it moves into place; raise to abort.

    Raises:
        WriteError: Writing failed; nothing was written. Errors from ``check`` propagate; nothing was
            written either.
    """
    from graphfix.progress import LARGE_FILE_BYTES, SILENT, current

    size = weight_bytes(model)
    if external is None:
        external = uses_external_data(model) or size > EMBED_LIMIT_BYTES
    display = current() if size > LARGE_FILE_BYTES else SILENT
    with staged(path) as stage:
        data_name = f"{stage.destination.name}.data"
        with display.task(f"saving {Path(path).name} ({size / 2**20:.0f} MiB)"):
            if external:
                ir.save(model, stage.path, external_data=data_name)
                if _names_external_data(stage.path):
                    stage.add_companion(data_name)
                else:  # every weight was small enough to stay inside: no empty sidecar beside the model
                    (stage.folder / data_name).unlink(missing_ok=True)
            else:
                ir.save(model, stage.path)
        if check is not None:
            check(stage.path)
    return stage.written


def write_bytes_atomic(path: str | os.PathLike[str], data: Any) -> int:
    """Write a bytes-like object (``bytes``, ``memoryview``, TensorRT's ``IHostMemory``) to ``path``
    atomically, synced to disk. Returns the number of bytes written.

    Raises:
        GraphfixError: The folder does not exist.
        WriteError: Writing failed (an ``OSError``); nothing was written.
    """
    view = memoryview(data)  # any buffer: bytes, memoryview, TensorRT's IHostMemory
    with staged(path) as stage:
        with open(stage.path, "wb") as stream:
            stream.write(view)
            stream.flush()
            os.fsync(stream.fileno())
    return view.nbytes


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def _external_data_files(model: Path) -> list[Path]:
    """The external data files ``model`` names that exist (its weights are not read)."""
    import onnx

    from graphfix.ir.loading import external_locations

    try:
        proto = onnx.load(str(model), load_external_data=False)
    except Exception:  # not a readable model: loading it reports that
        return []
    return [f for f in (model.parent / location for location in external_locations(proto)) if f.is_file()]


def _names_external_data(path: Path) -> bool:
    """Whether the model file at ``path`` keeps any tensor in external data (its weights are not read)."""
    import onnx

    from graphfix.ir.loading import external_locations

    return bool(external_locations(onnx.load(str(path), load_external_data=False)))


def _parent(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _write_error(path: Path, error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        return f"{path}: cannot write: no space left on device (nothing was written)"
    return f"{path}: cannot write: {error.strerror or error} (nothing was written)"
