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
