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


def test_the_console_script_exits_quickly_after_lint_with_everything_written(tmp_path):
    """``graphfix lint`` ends the process without teardown: its exit code and all its output still arrive."""
    import shutil

    script = shutil.which("graphfix", path=str(Path(sys.executable).parent))
    assert script is not None
    model = str(SAMPLES / "detector_legacy.onnx")
    report = tmp_path / "report.json"
    result = subprocess.run([script, "lint", model, "--output-file", str(report), "--format", "json"],
                            capture_output=True, text=True)
    assert result.returncode == 1 and report.read_text().rstrip().endswith("}")
    piped = subprocess.run([script, "lint", model, str(SAMPLES / "detector_dynamo.onnx")], capture_output=True,
                           text=True)
    assert piped.returncode == 1 and piped.stdout.splitlines()[-1].startswith("Found ")
    assert piped.stdout.count("GF201") >= 2
    missing = subprocess.run([script, "lint", str(tmp_path / "nope.onnx")], capture_output=True, text=True)
    assert missing.returncode == 2 and "no such file" in missing.stdout + missing.stderr


def test_lint_in_process_leaves_the_cyclic_collector_as_it_was(tmp_path):
    import gc

    from graphfix.cli import main

    assert gc.isenabled()
    report = tmp_path / "report.json"
    assert main(["lint", str(SAMPLES / "detector_legacy.onnx"), "--format", "json", "--output-file", str(report)]) == 1
    assert report.exists()
    assert gc.isenabled()


def test_a_folder_lints_with_the_cyclic_collector_after_its_first_file(tmp_path, monkeypatch):
    """Only the first file of ``graphfix lint`` runs without the collector: a folder's graphs that no finding
    holds are cycles, freed by it."""
    import gc
    import shutil

    from graphfix.cli import lint_jobs, main

    for index in range(3):
        shutil.copy(SAMPLES / "detector_legacy.onnx", tmp_path / f"m{index}.onnx")
    seen = []
    real = lint_jobs.lint_file

    def spy(task, detached=False):
        seen.append(gc.isenabled())
        return real(task, detached)

    monkeypatch.setattr(lint_jobs, "lint_file", spy)
    assert main(["lint", str(tmp_path), "--format", "json", "--jobs", "1", "--output-file", str(tmp_path / "r.json")]) == 1
    assert seen == [False, True, True] and gc.isenabled()
