"""graphfix: make PyTorch ONNX exports TensorRT-friendly.

    import graphfix
    report = graphfix.lint("model.onnx")            # findings, read-only
    for finding in report.findings:
        print(finding.code, finding.message)

    result = graphfix.fix("model.onnx", "fixed.onnx")  # rewritten, verified, written atomically
    compiled = graphfix.compile("fixed.onnx", precision="fp16", reference="model.onnx")
    runner = graphfix.load("fixed.onnx")               # run it: {input name: array} -> {output name: array}
    graphfix.register_op("HSwish", fn)                 # a custom op's reference: verify through it

    from graphfix.export import export                 # torch -> ONNX, only the batch dynamic (needs torch)

The pipeline, one package per stage: :mod:`graphfix.ir` (load, write), :mod:`graphfix.analyse`,
:mod:`graphfix.linting` (rules in ``graphfix.rules``), :mod:`graphfix.fixing`, :mod:`graphfix.verify`,
:mod:`graphfix.precision`, :mod:`graphfix.compiling`, :mod:`graphfix.compare`; :mod:`graphfix.cli` is a thin
layer on this API.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any  # noqa: E402

from graphfix import _deferred  # noqa: E402
from graphfix.errors import (  # noqa: E402
    CalibrationError,
    CompileError,
    GraphfixError,
    MissingDependencyError,
    ModelError,
    PrecisionError,
    TensorRTBuildError,
    UsageError,
    VerificationError,
    WriteError,
)

_deferred.install()  # onnx-ir's sympy is imported when first used, not with onnx-ir (see the module)

if TYPE_CHECKING:
    from graphfix.api import compile, fix, lint, load
    from graphfix.ir.loading import ModelSource
    from graphfix.linting import Finding, Report, Safety
    from graphfix.plugins.registry import register_op

# Imported on first use (PEP 562): `import graphfix` and `graphfix --version` stay cheap (no onnx-ir,
# which imports sympy), and `graphfix lint` imports only what lint uses.
_LAZY = {"compile": "graphfix.api", "fix": "graphfix.api", "lint": "graphfix.api", "load": "graphfix.api",
         "ModelSource": "graphfix.ir.loading", "Finding": "graphfix.linting", "Report": "graphfix.linting",
         "Safety": "graphfix.linting", "register_op": "graphfix.plugins.registry"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'graphfix' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["CalibrationError", "CompileError", "Finding", "GraphfixError", "MissingDependencyError", "ModelError",
           "ModelSource", "PrecisionError", "Report", "Safety", "TensorRTBuildError", "UsageError",
           "VerificationError", "WriteError", "__version__", "compile", "fix", "lint", "load", "register_op"]
