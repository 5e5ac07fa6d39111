"""The pre-commit hooks (.pre-commit-hooks.yaml) run on a temporary git repository holding models.

The fast tests run each hook's entry, args and file list exactly as pre-commit builds the command (entry
split like a shell, then args, then the staged files that match ``files`` and not ``exclude``). The slow
ones run pre-commit itself (``pre-commit run`` against a clone of this repository), when it is installed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import onnx.parser
import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOKS_FILE = ROOT / ".pre-commit-hooks.yaml"
SAMPLE = ROOT / "samples" / "detector_legacy.onnx"

CLEAN = """
<ir_version: 8, opset_import: ["" : 17]>
agraph (float[N, 4] x) => (float[N, 4] y) {
    y = Relu(x)
}
"""


def load_hooks() -> list[dict[str, object]]:
    text = HOOKS_FILE.read_text(encoding="utf-8")
    try:
        import yaml
    except ImportError:
        return _parse_hooks(text)
    hooks = yaml.safe_load(text)
    assert hooks == _parse_hooks(text)  # the fallback reader agrees with a real YAML parser
    return hooks


def _parse_hooks(text: str) -> list[dict[str, object]]:
    """The subset of YAML the hooks file uses: a list of flat mappings, scalar or [a, b] values."""
    hooks: list[dict[str, object]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("- "):
            hooks.append({})
            line = line[2:]
        key, _, value = line.strip().partition(":")
        value = value.strip()
        hooks[-1][key] = [v.strip() for v in value[1:-1].split(",")] if value.startswith("[") else value
    return hooks


def hook(hook_id: str) -> dict[str, object]:
    (found,) = [h for h in load_hooks() if h["id"] == hook_id]
    return found


def graphfix_executable() -> str:
    """The console script of the graphfix being tested (pre-commit puts its hook env's on PATH)."""
    found = shutil.which("graphfix", path=str(Path(sys.executable).parent)) or shutil.which("graphfix")
    assert found, "the graphfix console script is not installed"
    return found


def run_hook(hook_id: str, repo: Path, files: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a hook as pre-commit does: shlex-split entry + args + the matching files, from the repo root."""
    spec = hook(hook_id)
    include = re.compile(str(spec.get("files", "")))
    exclude = re.compile(str(spec["exclude"])) if spec.get("exclude") else None
    chosen = [f for f in files if include.search(f) and not (exclude and exclude.search(f))]
    command = shlex.split(str(spec["entry"])) + list(spec.get("args", [])) + chosen  # type: ignore[arg-type]
    assert command[0] == "graphfix"
    command[0] = graphfix_executable()
    return subprocess.run(command, check=False, cwd=repo, capture_output=True, text=True, timeout=600)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with a model that graphfix would change, two clean ones and an external-data file."""
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    git(root, "init", "-q")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "user.name", "test")
    shutil.copy(SAMPLE, root / "models" / "detector.onnx")
    clean = onnx.parser.parse_model(CLEAN)
    onnx.save(clean, str(root / "models" / "clean.onnx"))
    onnx.save(clean, str(root / "models" / "clean2.onnx"))
    (root / "models" / "weights.onnx.data").write_bytes(b"\0" * 64)
    (root / "README.md").write_text("models\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "models")
    return root


def staged(repo: Path) -> list[str]:
    return git(repo, "ls-files").split()


def test_the_hooks_file_defines_both_hooks() -> None:
    lint, fix = hook("graphfix-lint"), hook("graphfix-fix-diff")
    assert lint["entry"] == "graphfix lint" and fix["entry"] == "graphfix fix --diff"
    for spec in (lint, fix):
        assert spec["language"] == "python" and spec["name"]
        pattern = re.compile(str(spec["files"]))
        assert pattern.search("models/a.onnx") and not pattern.search("models/a.onnx.data")
        assert not pattern.search("README.md")


def test_lint_hook_fails_on_a_model_with_findings(repo: Path) -> None:
    result = run_hook("graphfix-lint", repo, staged(repo))
    assert result.returncode == 1, result.stderr
    assert "models/detector.onnx" in result.stdout and "GF101" in result.stdout
    assert "weights.onnx.data" not in result.stdout + result.stderr and "README" not in result.stdout


def test_lint_hook_passes_on_clean_models(repo: Path) -> None:
    result = run_hook("graphfix-lint", repo, ["models/clean.onnx", "models/clean2.onnx", "README.md"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_fix_diff_hook_passes_on_one_clean_model(repo: Path) -> None:
    result = run_hook("graphfix-fix-diff", repo, ["models/clean.onnx"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_fix_diff_hook_fails_when_a_model_would_change_and_writes_nothing(repo: Path) -> None:
    before = {name: (repo / name).read_bytes() for name in staged(repo)}
    result = run_hook("graphfix-fix-diff", repo, staged(repo))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "models/detector.onnx" in result.stdout
    assert {name: (repo / name).read_bytes() for name in staged(repo)} == before
    assert git(repo, "status", "--porcelain") == ""


def test_fix_diff_hook_passes_on_several_clean_models(repo: Path) -> None:
    result = run_hook("graphfix-fix-diff", repo, ["models/clean.onnx", "models/clean2.onnx"])
    assert result.returncode == 0, result.stdout + result.stderr


# -- pre-commit itself ---------------------------------------------------------------------------------


def _pre_commit() -> list[str] | None:
    if shutil.which("pre-commit", path=str(Path(sys.executable).parent)):
        return [shutil.which("pre-commit", path=str(Path(sys.executable).parent))]  # type: ignore[list-item]
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "pre_commit"]


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """A clone of this repository with the working tree's hooks file committed, and one pre-commit
    home for the module, so the hook environment is installed once."""
    if _pre_commit() is None:
        pytest.skip("pre-commit is not installed (pip install pre-commit)")
    base = tmp_path_factory.mktemp("hooks")
    clone = base / "graphfix"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, capture_output=True)
    shutil.copy(HOOKS_FILE, clone / ".pre-commit-hooks.yaml")
    git(clone, "add", ".pre-commit-hooks.yaml")
    if git(clone, "status", "--porcelain").strip():
        git(clone, "-c", "user.email=test@example.com", "-c", "user.name=test", "commit", "-qm", "hooks")
    return clone, git(clone, "rev-parse", "HEAD").strip(), base / "pre-commit-home"


def pre_commit_run(repo: Path, hook_repo: tuple[Path, str, Path], hook_id: str,
                   files: list[str]) -> subprocess.CompletedProcess[str]:
    clone, rev, home = hook_repo
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {clone}\n    rev: {rev}\n    hooks:\n"
        "      - id: graphfix-lint\n      - id: graphfix-fix-diff\n")
    git(repo, "add", ".pre-commit-config.yaml")
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run([*_pre_commit(), "run", hook_id, "--files", *files], check=False, cwd=repo, env=env,  # type: ignore[misc]
                          capture_output=True, text=True, timeout=1200)


@pytest.mark.slow
def test_pre_commit_runs_the_lint_hook(repo: Path, hook_repo: tuple[Path, str, Path]) -> None:
    result = pre_commit_run(repo, hook_repo, "graphfix-lint", ["models/detector.onnx", "models/clean.onnx",
                                                               "models/weights.onnx.data"])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "graphfix lint" in result.stdout and "Failed" in result.stdout and "- exit code: 1" in result.stdout
    assert "GF101" in result.stdout and "weights.onnx.data" not in result.stdout.split("exit code")[-1]
    result = pre_commit_run(repo, hook_repo, "graphfix-lint", ["models/clean.onnx"])
    assert result.returncode == 0 and "Passed" in result.stdout, result.stdout + result.stderr


@pytest.mark.slow
def test_pre_commit_runs_the_fix_diff_hook(repo: Path, hook_repo: tuple[Path, str, Path]) -> None:
    result = pre_commit_run(repo, hook_repo, "graphfix-fix-diff", ["models/detector.onnx", "models/clean.onnx"])
    assert "- exit code: 1" in result.stdout, result.stdout + result.stderr
    result = pre_commit_run(repo, hook_repo, "graphfix-fix-diff", ["models/clean.onnx", "models/clean2.onnx"])
    assert result.returncode == 0 and "Passed" in result.stdout, result.stdout + result.stderr
