"""``graphfix lint`` stays light: linting never imports the runtimes or the converters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).parents[2] / "samples"
HEAVY = ("polygraphy", "onnxruntime", "torch", "onnxconverter_common", "tensorrt", "onnxscript")


def test_import_and_lint_import_no_runtime_or_converter():
    code = (
        "import sys\n"
        "import graphfix\n"
        f"graphfix.lint({str(SAMPLES / 'detector_legacy.onnx')!r})\n"
        "from graphfix.cli import main\n"
        f"main(['lint', {str(SAMPLES / 'detector_dynamo.onnx')!r}, '--format', 'sarif'])\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _imported_by(code: str, packages: tuple[str, ...]) -> list[str]:
    probe = code + f"\nimport sys\nprint(sorted(set(sys.modules) & set({packages!r})))\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout.strip().splitlines()[-1])  # a printed list of names


def test_version_and_import_graphfix_import_neither_the_ir_nor_rich():
    light = ("onnx_ir", "onnx", "sympy", "numpy", "rich", *HEAVY)
    assert _imported_by("import graphfix", light) == []
    version = "from graphfix.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass"
    assert _imported_by(version, light) == []


def test_lint_in_json_never_imports_rich_and_lint_in_parallel_stays_light():
    lint = (f"from graphfix.cli import main\nmain(['lint', {str(SAMPLES)!r}, '--format', 'json', '-j', '1'])")
    assert _imported_by(lint, ("rich.table", "rich.markdown", "graphviz", "grandalf", "sympy", *HEAVY)) == []


def test_lint_imports_no_sympy_and_no_compile_stage():
    """onnx-ir's sympy (about 0.3 s) stays unimported (graphfix._deferred), and choosing the TensorRT version
    for the GF5xx rules does not import the compile stage when TensorRT is not installed."""
    lint = (f"from graphfix.cli import main\nmain(['lint', {str(SAMPLES / 'detector_legacy.onnx')!r}])")
    light = ("sympy", "mpmath", "graphfix.compiling", "graphfix.fixing.pipeline", "graphfix.verify")
    assert _imported_by(lint, light) == []


def test_lint_into_a_pipe_never_imports_rich():
    """Text and JSON into a pipe (CI, pre-commit) are written without rich: about 50 ms of start-up."""
    for fmt in ("text", "json"):
        lint = f"from graphfix.cli import main\nmain(['lint', {str(SAMPLES)!r}, '--format', {fmt!r}, '-j', '1'])"
        assert _imported_by(lint, ("rich", "rich.console")) == [], fmt
