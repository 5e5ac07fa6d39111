"""A default install does the main job: ``pip install graphfix`` (no extras) into a new virtual environment,
then the headline command ``graphfix fix model.onnx -o fixed.onnx --compile fp16 --backend onnxruntime``.

pip keeps the configuration it has here (index, local wheels): the new environment inherits it. Slow:
creating the environment and installing the package and its dependencies takes a minute or two.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "detector_legacy.onnx"


@pytest.mark.slow
def test_default_install_runs_fix_with_fp16_compile(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-input", str(ROOT)], check=False, env=env,
                             capture_output=True, text=True, timeout=1800)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], env=env, check=True,
                            capture_output=True, text=True).stdout.lower()
    assert "torch==" not in listed and "tensorrt" not in listed  # both stay optional
    installed = time.perf_counter() - started

    out = tmp_path / "out"
    out.mkdir()
    graphfix = venv / ("Scripts" if os.name == "nt" else "bin") / "graphfix"
    run = subprocess.run([str(graphfix), "fix", str(SAMPLE), "-o", str(out / "fixed.onnx"), "--compile", "fp16",
                          "--backend", "onnxruntime"], check=False, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=900)
    print(f"fresh install {installed:.0f} s, fix + fp16 compile {time.perf_counter() - started - installed:.0f} s")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    for name in ("fixed.onnx", "fixed.fp16.onnx"):
        model = onnx.load(str(out / name))
        onnx.checker.check_model(model)
    fp16 = onnx.load(str(out / "fixed.fp16.onnx"))
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in fp16.graph.initializer)
    assert not any(node.op_type == "Shape" for node in onnx.load(str(out / "fixed.onnx")).graph.node)
