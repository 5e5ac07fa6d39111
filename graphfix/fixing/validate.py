"""Stage 6, validate: the written model must pass ``onnx.checker``'s full check (with shape inference)."""

from __future__ import annotations

from pathlib import Path

import onnx

from graphfix.errors import VerificationError


def validate(path: Path) -> None:
    """Run ``onnx.checker.check_model(path, full_check=True)``.

    Raises:
        VerificationError: The checker or shape inference refuses the model (a graphfix bug: it reports
            nothing was written).
    """
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as error:  # checker and shape inference errors
        raise VerificationError(f"the fixed model fails onnx.checker: {str(error).strip().splitlines()[0]} "
                                "(nothing was written; please report this)") from error
