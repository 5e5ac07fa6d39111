"""graphfix: make PyTorch ONNX exports TensorRT-friendly.

    import graphfix
    report = graphfix.lint("model.onnx")            # findings, read-only
    for finding in report.findings:
        print(finding.code, finding.message)

    result = graphfix.fix("model.onnx", "fixed.onnx")  # rewritten, verified, written atomically
    runner = graphfix.load("fixed.onnx")               # run it: {input name: array} -> {output name: array}

The CLI (``graphfix lint``, ``fix``, ``compile``, ``run``, ``rules``, ``rule CODE``) is a thin layer on this
API.
"""

from __future__ import annotations

__version__ = "0.1.0"

from collections.abc import Mapping, Sequence  # noqa: E402

from graphfix.engine import Finding, Options, Report, Safety, lint_loaded, parse_selectors  # noqa: E402
from graphfix.errors import GraphfixError, ModelError, UsageError  # noqa: E402
from graphfix.loading import ModelSource  # noqa: E402
from graphfix.runner import Runner, load  # noqa: E402


def lint(
    model: ModelSource,
    *,
    input_shapes: Mapping[str, Sequence[int]] | Sequence[str] | None = None,
    select: str | Sequence[str] | None = None,
    ignore: str | Sequence[str] | None = None,
    trt_version: str | None = None,
) -> Report:
    """Find the export-rule violations in a model (a path, an ``onnx.ModelProto`` or an ``onnx_ir.Model``).

    ``input_shapes`` pins non-batch input dims, as ``{"x": [1, 3, 224, 224]}`` or ``["x:1x3x224x224"]``;
    dim 0 stays the dynamic batch. ``select``/``ignore`` take code prefixes (``"GF1,GF201"``).
    ``trt_version`` is the TensorRT version the GF5xx rules check (``"8.6"``, ``"10"``, ``"10.12"``, ``"11"``;
    default: the installed TensorRT's, else the newest support table); ``report.trt_version`` names it.
    Raises ``ModelError`` for a model that cannot be read, ``UsageError`` for bad options.
    """
    from graphfix.loading import load as load_model

    from graphfix.targets.target import check_version_text

    options = Options(input_shapes=_input_shapes(input_shapes), trt_version=check_version_text(trt_version))
    loaded = load_model(model)
    report, _ = lint_loaded(loaded, options, parse_selectors(select), parse_selectors(ignore))
    return report


def _input_shapes(shapes: Mapping[str, Sequence[int]] | Sequence[str] | None) -> dict[str, list[int]]:
    from graphfix.analysis import parse_input_shapes

    if shapes is None:
        return {}
    if isinstance(shapes, Mapping):
        return {name: [int(d) for d in dims] for name, dims in shapes.items()}
    return parse_input_shapes(list(shapes))


def fix(model: ModelSource, output: str | None = None, **options: object):  # noqa: ANN201
    """Rewrite a model so it follows the export rules; see ``graphfix.fixing.fix`` for the options."""
    from graphfix.fixing import fix as run_fix

    return run_fix(model, output, **options)  # type: ignore[arg-type]


def compile(model: str, **options: object):  # noqa: A001, ANN201 - mirrors the CLI command
    """Precision transform, engine and comparison; see ``graphfix.compiling.compile_model``."""
    from graphfix.compiling import compile_model

    return compile_model(model, **options)  # type: ignore[arg-type]


__all__ = ["Finding", "GraphfixError", "ModelError", "Report", "Runner", "Safety", "UsageError", "__version__",
           "compile", "fix", "lint", "load"]
