"""Stage 6, validate: the written model must pass ``onnx.checker``'s full check (with shape inference)."""

from __future__ import annotations

from pathlib import Path

import onnx
import onnx_ir as ir

from graphfix.errors import VerificationError


def _check(model: Path | ir.Model) -> str | None:
    """The checker's first line of complaint, or None when ``model`` passes."""
    try:
        if isinstance(model, Path):
            onnx.checker.check_model(str(model), full_check=True)
        else:
            onnx.checker.check_model(ir.serde.serialize_model(model), full_check=True)
    except Exception as error:  # checker and shape inference errors
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return None


def validate(path: Path, *, original: Path | ir.Model | None = None) -> None:
    """Run ``onnx.checker.check_model(path, full_check=True)``; when it fails, check ``original`` too, so a
    fault the export already had (the legacy exporter's Split whose sizes miss the dim) is named as the
    export's, with the checker's words (which name the node), not as graphfix's.

    Raises:
        VerificationError: The checker or shape inference refuses the model (nothing was written).
    """
    problem = _check(path)
    if problem is None:
        return
    inherited = _check(original) if original is not None else None
    if inherited is not None:
        raise VerificationError(f"the original model already fails onnx.checker: {inherited} (a fault of the "
                                "export, kept by the fixed model; nothing was written; re-export the model, or "
                                "fix that node first)")
    raise VerificationError(f"the fixed model fails onnx.checker: {problem} "
                            "(nothing was written; please report this)")
