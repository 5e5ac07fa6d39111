#!/usr/bin/env python
"""Time `graphfix lint FOLDER` on a folder of many small models, and on a few large ones, at several job counts.

Small: bench/.cache/folder-N/ (git-ignored) holds N models in sub-folders: copies of the two samples
(samples/detector_legacy.onnx, and samples/detector_dynamo.onnx with its external-data sidecar), so half
the files have a `.onnx.data` beside them that must not be taken for a model.

Large (`--large K`): $TMPDIR/graphfix-bench/large-K/ holds K copies of the GPT-2-medium-sized export's graph
file (about 1.3 MB, 2603 nodes), each beside a hard link to the one 1.6 GB external-data file (lint reads no
weights). The model is made by bench/make_large_model.py when missing (see startup_bench.py).

Each configuration runs as a subprocess, `graphfix lint FOLDER --format json` with `--jobs J`, or without
`--jobs` ("auto": the cores, when the files are worth a pool), `--repeat` times, the configurations
interleaved round by round so drift in machine speed hits all alike. Reported: the fastest and the median
wall time, and the CPU time (user + system of the process and its pool workers, from `wait4`), which other
processes disturb much less than wall time on a shared machine; the load average before and after. The JSON
reports of every configuration must agree (same files, same order, same findings).

As in startup_bench.py, PYTHONDONTWRITEBYTECODE is dropped so an editable install runs from .pyc files, as an
installed one does.

Usage:
    python bench/folder_bench.py [--models 60] [--large 0] [--jobs 1,2,auto] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def make_folder(count: int) -> Path:
    folder = ROOT / "bench" / ".cache" / f"folder-{count}"
    if folder.exists():
        shutil.rmtree(folder)
    for i in range(count):
        sub = folder / f"group{i % 7}" / f"model{i:03d}"
        sub.mkdir(parents=True)
        if i % 2:
            shutil.copy(SAMPLES / "detector_dynamo.onnx", sub / "detector_dynamo.onnx")
            shutil.copy(SAMPLES / "detector_dynamo.onnx.data", sub / "detector_dynamo.onnx.data")
        else:
            shutil.copy(SAMPLES / "detector_legacy.onnx", sub / "detector_legacy.onnx")
    return folder


def large_model() -> Path:
    folder = Path(tempfile.gettempdir()) / "graphfix-bench" / "gpt2-medium-legacy"
    model = folder / "model.onnx"
    if not (model.exists() and (folder / "model.onnx.data").exists()):
        print(f"making the large model in {folder} (once; about a minute)...", file=sys.stderr)
        subprocess.run([sys.executable, str(ROOT / "bench" / "make_large_model.py"), str(folder)], check=True)
    return model


def make_large_folder(count: int) -> Path:
    """Beside the large model (same file system): hard links to its data (graphfix refuses a symbolic link
    that leads out of the model's folder)."""
    model = large_model()
    folder = model.parent.parent / f"large-{count}"
    if folder.exists():
        shutil.rmtree(folder)
    for i in range(count):
        sub = folder / f"model{i:02d}"
        sub.mkdir(parents=True)
        shutil.copy(model, sub / "model.onnx")
        os.link(model.parent / "model.onnx.data", sub / "model.onnx.data")
    return folder


def run(folder: Path, jobs: str) -> tuple[float, float, dict[str, object]]:
    """(wall s, CPU s of the process and its workers, the JSON report without timings)."""
    graphfix = shutil.which("graphfix", path=str(Path(sys.executable).parent)) or "graphfix"
    command = [graphfix, "lint", str(folder), "--format", "json"] + ([] if jobs == "auto" else ["--jobs", jobs])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=ENV)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if code not in (0, 1):
        raise SystemExit(f"graphfix lint failed ({code}): {stderr[-2000:]}")
    document = json.loads(stdout)
    for entry in document["files"]:
        entry.pop("seconds")
    return seconds, usage.ru_utime + usage.ru_stime, document


def measure(name: str, folder: Path, configurations: list[str], repeat: int) -> dict[str, dict[str, float]]:
    run(folder, configurations[0])  # untimed: .pyc files, page cache
    walls: dict[str, list[float]] = {c: [] for c in configurations}
    cpus: dict[str, list[float]] = {c: [] for c in configurations}
    documents: dict[str, dict[str, object]] = {}
    before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    for round_index in range(repeat):
        order = configurations if round_index % 2 == 0 else configurations[::-1]
        for jobs in order:
            seconds, cpu, document = run(folder, jobs)
            walls[jobs].append(seconds)
            cpus[jobs].append(cpu)
            documents[jobs] = document
    after = " ".join(f"{v:.2f}" for v in os.getloadavg())
    first = documents[configurations[0]]
    assert all(d == first for d in documents.values()), "the reports differ between job counts"
    files = len(first["files"])  # type: ignore[arg-type]
    findings = first["summary"]["findings"]  # type: ignore[index]
    print(f"\n{name}: {folder} ({files} files, {findings} findings); {repeat} runs each, interleaved; "
          f"{len(os.sched_getaffinity(0))} cores, load average (1, 5, 15 min) {before} before, {after} after\n")
    print("| --jobs | min s | median s | CPU s (min) | speed-up (min wall vs --jobs 1) |\n|---|---|---|---|---|")
    base = min(walls.get("1", walls[configurations[0]]))
    results = {}
    for jobs in configurations:
        fastest = min(walls[jobs])
        results[jobs] = {"min": fastest, "median": statistics.median(walls[jobs]), "cpu": min(cpus[jobs])}
        print(f"| {jobs} | {fastest:.2f} | {statistics.median(walls[jobs]):.2f} | {min(cpus[jobs]):.2f} "
              f"| x{base / fastest:.2f} |")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=60, help="small models (0: none)")
    parser.add_argument("--large", type=int, default=0, help="copies of the GPT-2-medium-sized graph (default 0)")
    parser.add_argument("--jobs", default=f"1,{len(os.sched_getaffinity(0))},auto",
                        help="comma-separated job counts; 'auto' runs without --jobs (default: 1,<cores>,auto)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    configurations = list(dict.fromkeys(j.strip() for j in args.jobs.split(",")))
    summary: dict[str, object] = {"cores": len(os.sched_getaffinity(0))}
    if args.models:
        folder = make_folder(args.models)
        summary[f"small-{args.models}"] = measure(f"{args.models} small models", folder, configurations, args.repeat)
    if args.large:
        folder = make_large_folder(args.large)
        summary[f"large-{args.large}"] = measure(f"{args.large} large models", folder, configurations, args.repeat)
    print("\n" + json.dumps(summary))


if __name__ == "__main__":
    main()
