"""Long fuzz run: random shape programs x both torch exporters, judged against torch eager in ONNX Runtime.

    python bench/fuzz_shapes.py --count 300 --seed 0 --out bench/.cache/fuzz      # 300 programs x 2 exporters
    python bench/fuzz_shapes.py --replay 1234 --exporter legacy --out /tmp/one      # one case, verbose
    python bench/fuzz_shapes.py --analyse --out bench/.cache/fuzz                  # group the non-ok cases

The programs come from tests/property/shape_programs.py and the verdicts from tests/property/judge.py
(export-failed, crash, wrong, bad-export, error, caught, refused, left, ok; see that module). Program i
has seed ``--seed + i``.

Writes into ``--out``:
- ``results.jsonl``: one JSON line per (program, exporter), appended as each finishes. A new run with
  the same ``--out`` skips the cases already there (``--fresh`` starts over), so an interrupted run
  resumes where it stopped;
- ``summary.json``: the counts per exporter, per exporter and mode, per exporter and pattern, and the
  list of non-ok cases; rewritten every 10 cases, at the end and on Ctrl-C;
- ``cases/<exporter>-seed<S>/`` for every case that is not ok (and not export-failed): the original ONNX,
  what graphfix wrote or would have written with force, ``program.py`` (the program's source),
  ``result.json`` and ``summary.txt`` (graphfix's messages, findings before/after, batches run).

Runs in one process (one core). Each case has a time limit (``--timeout``, default 300 s); a case over
it is recorded as ``timeout``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from property.judge import (
    EXPORTERS,
    MODES,
    CaseResult,
    ModeResult,
    format_table,
    judge,
    left_is_known,
    tally,
)
from property.shape_programs import generate


class CaseTimeout(BaseException):  # BaseException: the judge's own `except Exception` must not swallow it
    pass


def _alarm(signum, frame):
    raise CaseTimeout


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    import graphfix

    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "graphfix": f"{graphfix.__version__} ({commit})",
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
    }


def _load(path: Path) -> list[CaseResult]:
    results = []
    for line in path.read_text().splitlines() if path.exists() else []:
        data = json.loads(line)
        modes = {}
        for name, m in data.pop("modes").items():
            m["fails_at"] = {int(k): v for k, v in m["fails_at"].items()}
            m["wrong_at"] = {int(k): v for k, v in m["wrong_at"].items()}
            modes[name] = ModeResult(**m)
        data["original_fails_at"] = {int(k): v for k, v in data["original_fails_at"].items()}
        results.append(CaseResult(**data, modes=modes))
    return results


def _non_ok(result: CaseResult) -> bool:
    return result.verdict not in ("ok", "export-failed")


def _keep(result: CaseResult, workdir: Path, dest: Path) -> None:
    program = generate(result.seed)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(workdir, dest)
    (dest / "program.py").write_text(program.describe())
    (dest / "result.json").write_text(json.dumps(result.to_dict(), indent=1, sort_keys=True))
    (dest / "summary.txt").write_text(
        result.summary() + "\n\nreproduce: python bench/fuzz_shapes.py --replay "
        f"{result.seed} --exporter {result.exporter} --out /tmp/fuzz-replay\n"
    )


def _summary(
    results: list[CaseResult],
    args: argparse.Namespace,
    versions: dict[str, str],
    seconds: float,
    finished: bool,
) -> dict[str, object]:
    counts = tally(results)
    non_ok = []
    for r in results:
        if not _non_ok(r):
            continue
        non_ok.append(
            {
                "seed": r.seed,
                "exporter": r.exporter,
                "verdict": r.verdict,
                "patterns": r.patterns,
                "bake": r.bake,
                "export_batch": r.export_batch,
                "original_runs_at": r.original_runs_at,
                "modes": {
                    m.mode: {
                        "verdict": m.verdict,
                        "why": m.why,
                        "message": m.message[:400],
                        "remaining": m.remaining_codes,
                        "left_known": m.verdict == "left" and left_is_known(r, m),
                    }
                    for m in r.modes.values()
                },
            }
        )
    return {
        "seed": args.seed,
        "count": args.count,
        "exporters": args.exporters,
        "finished": finished,
        "seconds": round(seconds, 1),
        "versions": versions,
        **counts,
        "non_ok": non_ok,
    }


def _write_summary(out: Path, summary: dict[str, object]) -> None:
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(out / "summary.json")


def _print_tables(summary: dict[str, object]) -> None:
    totals = summary["totals"]  # type: ignore[index]
    print(format_table({k: v for k, v in totals.items()}, "exporter"))  # type: ignore[union-attr]
    for exporter, modes in summary["per_mode"].items():  # type: ignore[union-attr]
        print()
        print(format_table(modes, f"{exporter}: mode"))
    for exporter, patterns in summary["per_pattern"].items():  # type: ignore[union-attr]
        if exporter == "all":
            continue
        print()
        print(format_table(dict(sorted(patterns.items())), f"{exporter}: pattern"))


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    if args.fresh and results_path.exists():
        results_path.unlink()
        shutil.rmtree(out / "cases", ignore_errors=True)
    results = _load(results_path)
    done = {(r.seed, r.exporter) for r in results}
    versions = _versions()
    todo = [
        (seed, exporter)
        for seed in range(args.seed, args.seed + args.count)
        for exporter in args.exporters
        if (seed, exporter) not in done
    ]
    print(f"{len(done)} cases already in {results_path}; {len(todo)} to run ({versions})", flush=True)
    start = time.perf_counter()
    signal.signal(signal.SIGALRM, _alarm)
    finished = False
    try:
        with results_path.open("a") as sink:
            for n, (seed, exporter) in enumerate(todo, 1):
                program = generate(seed)
                workdir = Path(tempfile.mkdtemp(prefix=f"fuzz-{exporter}-{seed}-"))
                signal.alarm(args.timeout)
                try:
                    result = judge(program, exporter, workdir)
                except CaseTimeout:
                    result = CaseResult(
                        seed,
                        exporter,
                        program.export_batch,
                        list(program.patterns),
                        program.bake,
                        verdict="timeout",
                        export_error=f"over {args.timeout} s",
                    )
                finally:
                    signal.alarm(0)
                if exporter == "dynamo":
                    import torch

                    torch._dynamo.reset()  # keep memory flat over hundreds of exports
                sink.write(json.dumps(result.to_dict(), sort_keys=True) + "\n")
                sink.flush()
                results.append(result)
                if _non_ok(result) or args.keep_ok:
                    _keep(result, workdir, out / "cases" / f"{exporter}-seed{seed}")
                shutil.rmtree(workdir, ignore_errors=True)
                modes = " ".join(f"{m.mode}={m.verdict}" for m in result.modes.values())
                print(
                    f"[{n}/{len(todo)}] {exporter} seed {seed}: {result.verdict} ({modes}) "
                    f"{result.seconds:.1f}s",
                    flush=True,
                )
                if n % 10 == 0:
                    _write_summary(out, _summary(results, args, versions, time.perf_counter() - start, False))
        finished = True
    except KeyboardInterrupt:
        print("interrupted: partial results written", flush=True)
    summary = _summary(results, args, versions, time.perf_counter() - start, finished)
    _write_summary(out, summary)
    print()
    _print_tables(summary)
    print(f"\n{out / 'summary.json'}; non-ok cases under {out / 'cases'}")
    return 0 if finished else 130


def replay(args: argparse.Namespace) -> int:
    program = generate(args.replay)
    out = Path(args.out)
    exporters = [args.exporter] if args.exporter else list(EXPORTERS)
    print(program.describe())
    for exporter in exporters:
        workdir = out / f"{exporter}-seed{args.replay}"
        shutil.rmtree(workdir, ignore_errors=True)
        result = judge(program, exporter, workdir)
        (workdir / "program.py").write_text(program.describe())
        (workdir / "result.json").write_text(json.dumps(result.to_dict(), indent=1, sort_keys=True))
        print(result.summary())
        for mode in MODES:
            m = result.modes.get(mode)
            if m is not None and m.traceback:
                print(m.traceback)
        print(f"files in {workdir}")
    return 0


# ---- grouping the non-ok results into kinds ------------------------------------------------------------

KINDS = {
    "W1": "wrong: --unsafe-fixes repairs the baked Reshape but leaves the export batch in other constants "
    "(Slice end, Pad, Tile/Expand repeats); the model runs at other batches with wrong rows, verified "
    "at the export batch only",
    "W?": "wrong: other",
    "C?": "crash",
    "B1": "bad export: the legacy exporter wrote an invalid Split (sizes do not sum to the dim); graphfix says "
    "'the fixed model fails onnx.checker ... please report this'",
    "B2": "bad export: the legacy exporter wrote a Split that fails at run time at every batch; graphfix says "
    "'the fixed model does not match the original (a model failed to run ...)'",
    "B?": "bad export: other",
    "E1": "--dynamic-batch refused on a static batch that torch.export made static: 'N node(s) bake the batch'",
    "E2": "--dynamic-batch refused: 'outputs y do not follow dim 0 of the inputs'",
    "E?": "error: other GraphfixError",
    "R1": "refused: the original fails at the verification batches (1/3); graphfix itself reports the baked "
    "batch as GF103 (in lint or after the safe fixes) and still says 'the fixed model does not match the "
    "original'",
    "R2": "refused: the original fails at the verification batches (1/3); the baked batch is not reported as "
    "GF103 (only GF101/GF902), and graphfix says 'the fixed model does not match the original'",
    "R3": "refused: the original runs at 1/3 but is silently wrong there (sample mixing); verification compares "
    "with it",
    "K?": "caught: verification refused a model that is really wrong",
    "L1": "left (unsafe): the baked batch is reported (GF103) but not repaired",
    "L2": "left: GF101 remains on a computation that really depends on the batch (already minimal), the "
    "model runs at every batch",
    "L3": "left: GF201 remains (Resize by sizes whose ratio is not exact), the model runs at every batch",
    "L4": "left (unsafe): written with exit 0 and nothing reported, but the model still fails at some batches "
    "(a baked batch the analysis does not see)",
    "L5": "left (unsafe): the baked batch is reported only as GF902 (analysis incomplete) or not at all, the "
    "model fails at other batches",
    "L?": "left: other",
}


def kind_of(result: CaseResult, mode: ModeResult) -> str | None:
    """The kind (a key of KINDS) of one non-ok mode result, or None for ok and documented leftovers."""
    v, msg, codes = mode.verdict, mode.message, set(mode.remaining_codes)
    lint = {f.split()[0] for f in result.lint}
    if v == "wrong":
        fails = set(result.original_fails_at)
        return "W1" if result.bake and mode.mode == "unsafe" and set(mode.wrong_at) <= fails else "W?"
    if v == "crash":
        return "C?"
    if v == "bad-export":
        if "Split" in msg and "onnx.checker" in msg:
            return "B1"
        if "Split" in msg or any("Split" in e for e in result.original_fails_at.values()):
            return "B2"
        return "B?"
    if v == "error":
        if "--dynamic-batch refused" in msg and "bake the batch" in msg:
            return "E1"
        return "E2" if "do not follow dim 0" in msg else "E?"
    if v == "refused":
        if "failed to run" in msg:
            return "R1" if "GF103" in lint | codes else "R2"
        return "R3"
    if v == "caught":
        return "K?"
    if v == "left":
        if left_is_known(result, mode):
            return None
        fails = [b for b in (1, 2, 3, 4) if b not in mode.runs_at]
        if "GF103" in codes:
            return "L1"
        if not fails and codes == {"GF101"}:
            return "L2"
        if not fails and codes == {"GF201"}:
            return "L3"
        if fails and not codes and mode.exit == 0:
            return "L4"
        if fails:
            return "L5"
        return "L?"
    return None


def analyse(args: argparse.Namespace) -> int:
    out = Path(args.out)
    results = _load(out / "results.jsonl")
    groups: dict[str, dict[str, list[tuple[CaseResult, ModeResult]]]] = {}
    for r in results:
        for m in r.modes.values():
            kind = kind_of(r, m)
            if kind:
                groups.setdefault(kind, {}).setdefault(r.exporter, []).append((r, m))
    report: dict[str, object] = {}
    for kind, description in KINDS.items():
        if kind not in groups:
            continue
        print(f"{kind}: {description}")
        entry: dict[str, object] = {"description": description}
        for exporter, items in groups[kind].items():
            seeds = sorted({r.seed for r, _ in items})
            modes = sorted({m.mode for _, m in items})
            example_r, example_m = min(items, key=lambda rm: (len(generate(rm[0].seed).source), rm[0].seed))
            command = f"python bench/fuzz_shapes.py --replay {example_r.seed} --exporter {exporter}"
            print(
                f"  {exporter}: {len(items)} mode results in {len(seeds)} cases (modes {', '.join(modes)}); "
                f"shortest: seed {example_r.seed} ({example_m.mode}: {example_m.why})"
            )
            if example_m.message:
                print(f"    message: {example_m.message[:300]}")
            print(f"    {command}")
            entry[exporter] = {
                "mode_results": len(items),
                "cases": len(seeds),
                "seeds": seeds,
                "example": {
                    "seed": example_r.seed,
                    "mode": example_m.mode,
                    "why": example_m.why,
                    "message": example_m.message,
                    "remaining": example_m.remaining,
                    "command": command,
                },
            }
        report[kind] = entry
    (out / "kinds.json").write_text(json.dumps(report, indent=1))
    print(f"\n{out / 'kinds.json'}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=100, help="number of programs (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first program (default 0)")
    parser.add_argument("--out", default=str(ROOT / "bench" / ".cache" / "fuzz"), help="output folder")
    parser.add_argument("--exporters", default=",".join(EXPORTERS), help="legacy,dynamo (default both)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per case (default 300)")
    parser.add_argument("--fresh", action="store_true", help="discard the results already in --out")
    parser.add_argument("--keep-ok", action="store_true", help="also keep the files of ok cases")
    parser.add_argument("--replay", type=int, metavar="SEED", help="run one program and print everything")
    parser.add_argument("--exporter", choices=EXPORTERS, help="with --replay: only this exporter")
    parser.add_argument(
        "--analyse",
        action="store_true",
        help="group the non-ok results already in --out into kinds (kinds.json)",
    )
    args = parser.parse_args()
    args.exporters = [e for e in args.exporters.split(",") if e]
    unknown = set(args.exporters) - set(EXPORTERS)
    if unknown:
        parser.error(f"unknown exporter(s) {', '.join(sorted(unknown))}")
    if args.analyse:
        return analyse(args)
    return replay(args) if args.replay is not None else run(args)


if __name__ == "__main__":
    sys.exit(main())
