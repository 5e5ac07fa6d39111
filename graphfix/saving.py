"""Writing outputs atomically: never a half-written file, never the user's input overwritten by accident.

A model is written into a private temporary folder beside the destination (same file system), checked
there by the caller, and only then moved into place: external data first, the ``.onnx`` last. Any
failure (a check that refuses the model, a full disk) removes the temporary folder and leaves the
destination as it was.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import onnx_ir as ir

from graphfix.errors import GraphfixError

# Protobuf cannot hold more than 2 GiB; stay well below when deciding to embed weights.
EMBED_LIMIT_BYTES = 1_800_000_000


def uses_external_data(model: ir.Model) -> bool:
    return any(isinstance(v.const_value, ir.ExternalTensor) for v in model.graph.initializers.values())


def weight_bytes(model: ir.Model) -> int:
    return sum(v.const_value.nbytes for v in model.graph.initializers.values() if v.const_value is not None)


def check_destination(path: Path, *, inputs: list[Path], in_place: bool) -> None:
    """Refuse outputs that would overwrite an input or land nowhere, before any work is done."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise GraphfixError(f"{path}: the output folder {parent} does not exist (create it first)")
    if path.is_dir():
        raise GraphfixError(f"{path}: is a directory; give a file name for the output")
    for source in inputs:
        if path.exists() and source.exists() and os.path.samefile(path, source) and not in_place:
            raise GraphfixError(f"{path}: is the input model; give another -o, or add --in-place to overwrite it")


def save_model(
    model: ir.Model,
    path: Path,
    *,
    external: bool | None = None,
    check: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Save ``model`` to ``path`` atomically; ``check(temp_path)`` may raise to abort. Returns files written."""
    path = Path(path)
    if external is None:
        external = uses_external_data(model) or weight_bytes(model) > EMBED_LIMIT_BYTES
    parent = path.parent if str(path.parent) else Path(".")
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.graphfix-", dir=parent))
    try:
        staged = staging / path.name
        data_name = f"{path.name}.data"
        try:
            if external:
                ir.save(model, staged, external_data=data_name)
            else:
                ir.save(model, staged)
        except OSError as error:
            raise GraphfixError(_write_error(path, error)) from error
        if check is not None:
            check(staged)
        written = []
        try:
            if (staging / data_name).exists():
                os.replace(staging / data_name, parent / data_name)
                written.append(parent / data_name)
            os.replace(staged, path)
            written.append(path)
        except OSError as error:
            raise GraphfixError(_write_error(path, error)) from error
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(Path(path), text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write a small file through a temporary file in the same folder and a rename."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise GraphfixError(f"{path}: the output folder {parent} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except OSError as error:
        raise GraphfixError(_write_error(path, error)) from error
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _write_error(path: Path, error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        return f"{path}: cannot write: no space left on device (nothing was written)"
    return f"{path}: cannot write: {error.strerror or error} (nothing was written)"
