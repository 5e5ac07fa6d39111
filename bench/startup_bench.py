#!/usr/bin/env python
"""Start-up cost of ``graphfix lint`` against the floor of reading the same model's graph.

Measured in the same run, interleaved, on a warm page cache:

- ``floor``: a process that only does ``import onnx; onnx.load(path, load_external_data=False)``;
- ``graphfix lint MODEL`` (the console script next to this interpreter; exit 0 or 1 counts as success);
- for context, ``python -c pass`` (the interpreter alone) and ``graphfix --version`` (the CLI's imports
  without loading a model).

Then ``python -X importtime`` of the same lint run lists the imports that cost the most (cumulative time
of top-level packages, and the heaviest single modules by self time).

Goal (issue 11): the wall time of ``graphfix lint`` within 3x the floor's. The machine these run on is shared,
so the verdict uses the fastest run of each (``--repeat``), and the table also gives each command's CPU time
(user + system, from ``wait4``), which other processes disturb much less than wall time; the load average
before and after is printed.

Byte code: a user's installed graphfix has its ``.pyc`` files; an editable install under
``PYTHONDONTWRITEBYTECODE=1`` recompiles graphfix in every process (about 0.4 s here). The commands therefore
run without ``PYTHONDONTWRITEBYTECODE`` (the untimed first run writes the ``.pyc`` files), unless
``--as-is``.

The model is the GPT-2-medium-sized external-data export of ``bench/make_large_model.py`` (about 1.6 GB;
the graph file itself is 1.3 MB). Without ``--model`` it is made once into
``$TMPDIR/graphfix-bench/gpt2-medium-legacy`` (about 45 s and 7 GB of RAM, needs torch) and reused.

Usage:
    python bench/startup_bench.py [--model PATH] [--repeat 7] [--top 15] [--json FILE] [--check-goal]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOAL_RATIO = 3.0


def default_model() -> Path:
    folder = Path(tempfile.gettempdir()) / "graphfix-bench" / "gpt2-medium-legacy"
    model = folder / "model.onnx"
    if not (model.exists() and (folder / "model.onnx.data").exists()):
        print(f"making the large model in {folder} (once; about a minute)...", file=sys.stderr)
        subprocess.run([sys.executable, str(HERE / "make_large_model.py"), str(folder)], check=True)
    return model


def graphfix_executable(given: str | None) -> str:
    found = given or shutil.which("graphfix", path=str(Path(sys.executable).parent)) or shutil.which("graphfix")
    if not found:
        sys.exit("graphfix is not installed next to this interpreter (pip install -e .), or pass --graphfix")
    return found


ENV = dict(os.environ)


def timed(command: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run of ``command``."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    process.returncode = code
    if code not in ok:
        sys.exit(f"{' '.join(command)} exited {code}: {stderr.strip()[-500:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def prewarm(model: Path) -> None:
    with open(model, "rb") as handle:  # the graph file; neither process reads the weights
        while handle.read(1 << 20):
            pass


def import_times(model: Path, top: int) -> dict[str, list[tuple[str, float]]]:
    """``-X importtime`` of the lint run: top-level packages by their modules' summed self time, and the
    heaviest modules by self time."""
    code = ("import sys; from graphfix.cli import main; "
            f"sys.exit(main(['lint', {str(model)!r}]))")
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], check=False, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((match.group(4), int(match.group(1)) / 1e6, int(match.group(2)) / 1e6, len(match.group(3))))
    packages: dict[str, float] = {}
    for name, own, _, _ in rows:  # self time summed per distribution root (sympy.core -> sympy)
        root = name.split(".")[0]
        packages[root] = packages.get(root, 0.0) + own
    by_self = sorted(((name, own) for name, own, _, _ in rows), key=lambda item: -item[1])[:top]
    total = sum(own for _, own, _, _ in rows)
    return {"packages": sorted(packages.items(), key=lambda item: -item[1])[:top], "modules": by_self,
            "total": [("all imports", total)]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="an ONNX model (default: the GPT-2-medium export, made once)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each command (default 7)")
    parser.add_argument("--top", type=int, default=15, help="import offenders to list (default 15)")
    parser.add_argument("--graphfix", help="the graphfix executable (default: next to this interpreter)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--check-goal", action="store_true", help=f"exit 1 when lint takes over {GOAL_RATIO}x the floor")
    parser.add_argument("--as-is", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE from the environment (default: drop it, see above)")
    args = parser.parse_args()
    if not args.as_is:
        ENV.pop("PYTHONDONTWRITEBYTECODE", None)

    model = (args.model or default_model()).resolve()
    graphfix = graphfix_executable(args.graphfix)
    prewarm(model)
    commands = {
        "python -c pass": ([sys.executable, "-c", "pass"], (0,)),
        "floor: onnx.load(load_external_data=False)": (
            [sys.executable, "-c", f"import onnx; onnx.load({str(model)!r}, load_external_data=False)"], (0,)),
        "graphfix --version": ([graphfix, "--version"], (0,)),
        "graphfix lint MODEL": ([graphfix, "lint", str(model)], (0, 1)),
    }
    for command, ok in commands.values():  # one untimed run each: caches, .pyc files
        timed(command, ok)
    load_before = load_average()
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for round_index in range(args.repeat):
        names = list(commands)
        if round_index % 2:
            names.reverse()  # alternate the order so drift in machine speed hits both alike
        for name in names:
            command, ok = commands[name]
            wall, used = timed(command, ok)
            times[name].append(wall)
            cpu[name].append(used)
    load_after = load_average()

    floor_name, lint_name = "floor: onnx.load(load_external_data=False)", "graphfix lint MODEL"
    size = model.stat().st_size + sum(p.stat().st_size for p in model.parent.glob(model.name + ".data"))
    print(f"model: {model} ({size / 1e9:.2f} GB with external data); python {sys.version.split()[0]}; "
          f"{args.repeat} runs each, interleaved, warm cache; {os.cpu_count()} CPUs, load average (1, 5, 15 min) "
          f"{load_before} before, {load_after} after; PYTHONDONTWRITEBYTECODE "
          f"{'as in the environment' if args.as_is else 'unset'}\n")
    print("| command | min s | median s | max s | CPU s (min) |\n|---|---|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {min(values):.3f} | {statistics.median(values):.3f} | {max(values):.3f} "
              f"| {min(cpu[name]):.3f} |")
    ratio = min(times[lint_name]) / min(times[floor_name])
    median_ratio = statistics.median(times[lint_name]) / statistics.median(times[floor_name])
    cpu_ratio = min(cpu[lint_name]) / min(cpu[floor_name])
    verdict = "PASS" if ratio <= GOAL_RATIO else "FAIL"
    print(f"\ngraphfix lint / floor = {ratio:.2f}x by the fastest runs (medians {median_ratio:.2f}x, "
          f"CPU time {cpu_ratio:.2f}x); goal <= {GOAL_RATIO:g}x: {verdict}")

    imports = import_times(model, args.top)
    print(f"\nimports during `graphfix lint` (python -X importtime; {imports['total'][0][1]:.3f} s in all):")
    print("\n| top-level package | self time of its modules, s |\n|---|---|")
    for name, seconds in imports["packages"]:
        print(f"| {name} | {seconds:.3f} |")
    print("\n| module | self s |\n|---|---|")
    for name, seconds in imports["modules"]:
        print(f"| {name} | {seconds:.3f} |")

    if args.json:
        args.json.write_text(json.dumps({"model": str(model), "times": times, "cpu": cpu, "ratio": ratio,
                                         "median_ratio": median_ratio, "cpu_ratio": cpu_ratio, "goal": GOAL_RATIO,
                                         "load_average": [load_before, load_after],
                                         "imports": imports, "python": sys.version, "cpus": os.cpu_count()},
                                        indent=2))
    return 1 if args.check_goal and verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
