#!/usr/bin/env python
"""Time `graphfix lint FOLDER` on a folder of many small models, with one job and with one per core.

The folder (bench/.cache/folder-N/, git-ignored) holds N models in sub-folders: copies of the two samples
(samples/detector_legacy.onnx, and samples/detector_dynamo.onnx with its external-data sidecar), so half
the files have a `.onnx.data` beside them that must not be taken for a model. Each configuration runs as a
subprocess (`graphfix lint FOLDER --jobs J --format json`), `--repeat` times; the median wall time is
reported, and the JSON reports of 1 and N jobs must agree (same files, same order, same findings).

Usage:
    python bench/folder_bench.py [--models 60] [--jobs 1,2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


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


def run(folder: Path, jobs: int) -> tuple[float, dict[str, object]]:
    graphfix = shutil.which("graphfix", path=str(Path(sys.executable).parent)) or "graphfix"
    started = time.perf_counter()
    done = subprocess.run([graphfix, "lint", str(folder), "--jobs", str(jobs), "--format", "json"],
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"graphfix lint failed ({done.returncode}): {done.stderr[-2000:]}")
    document = json.loads(done.stdout)
    for entry in document["files"]:
        entry.pop("seconds")
    return seconds, document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=60)
    parser.add_argument("--jobs", default=f"1,{len(os.sched_getaffinity(0))}")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = make_folder(args.models)
    results: dict[int, float] = {}
    documents = []
    for jobs in sorted({int(j) for j in args.jobs.split(",")}):
        times = []
        for _ in range(args.repeat):
            seconds, document = run(folder, jobs)
            times.append(seconds)
        documents.append(document)
        results[jobs] = statistics.median(times)
        print(f"jobs={jobs}: median {results[jobs]:.2f} s over {args.repeat} runs "
              f"({', '.join(f'{t:.2f}' for t in times)}); {len(document['files'])} files, "
              f"{document['summary']['findings']} findings")
    assert all(d == documents[0] for d in documents), "the reports differ between job counts"
    assert len(documents[0]["files"]) == args.models, "a sidecar was taken for a model, or a model was missed"
    base = results[min(results)]
    for jobs, seconds in results.items():
        print(f"  {jobs} job(s): {seconds:.2f} s, speed-up x{base / seconds:.2f}")
    print(json.dumps({"models": args.models, "cores": len(os.sched_getaffinity(0)),
                      "median_seconds": results}, indent=None))


if __name__ == "__main__":
    main()
