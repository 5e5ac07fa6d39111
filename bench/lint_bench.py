#!/usr/bin/env python
"""Time `graphfix lint` against the peer tools (onnxsim, onnxslim) on one large ONNX model.

Each tool runs as a subprocess under GNU time (`/usr/bin/time -v`), which reports the wall-clock
time and the peak resident set size ("Maximum resident set size") of the process; this is how the
peers were timed in /work/shared/research/peers.md section 2.

    graphfix lint MODEL          exit code 0 (clean) or 1 (findings) both count as success
    onnxsim MODEL OUT            OUT in a temporary folder, deleted after each run
    onnxslim MODEL OUT           idem

The peers live in their own virtualenv (bench/.venv-peers, created on first use with
`python -m venv` + `pip install onnxsim onnxslim`), so their dependencies never touch graphfix's
environment. graphfix is taken from the current environment (`pip install -e .`).

GNU time is required. On Debian/Ubuntu it is installed with `apt-get install -y time` (the shell
builtin `time` is not enough: it does not report memory). The script stops with a clear message if
/usr/bin/time is missing.

Without a MODEL argument the GPT-2-medium-sized model is built once with make_large_model.py into
bench/.cache/ (git-ignored) and reused.

Usage:
    python bench/lint_bench.py [MODEL] [--repeat N] [--timeout 1800] [--tools graphfix,onnxsim,onnxslim]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / ".cache"
DEFAULT_VENV = BENCH_DIR / ".venv-peers"
GNU_TIME = "/usr/bin/time"
ALL_TOOLS = ("graphfix", "onnxsim", "onnxslim")
PEERS = ("onnxsim", "onnxslim")

# Goals for `graphfix lint` (see bench/README.md).
GOAL_SPEED_RATIO = 1 / 20  # lint wall time < 1/20 of the fastest peer's wall time
GOAL_PEAK_MB = 500  # peak RSS < 500 MB (10^6 bytes)


# --------------------------------------------------------------------------------------------
# helpers


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def human_bytes(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


def check_gnu_time() -> None:
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit(
            f"error: {GNU_TIME} not found. This bench needs GNU time to measure peak memory "
            f"(the shell builtin `time` does not). Install it, e.g. on Debian/Ubuntu:\n"
            f"    apt-get install -y time"
        )
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        subprocess.run([GNU_TIME, "-v", "-o", tf.name, "true"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if "Maximum resident set size" not in Path(tf.name).read_text():
            sys.exit(f"error: {GNU_TIME} -v does not report 'Maximum resident set size'; "
                     f"is it GNU time? (apt-get install -y time)")


def clean_env(extra_path: Path | None = None) -> dict:
    env = dict(os.environ)
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(var, None)
    if extra_path is not None:
        env["PATH"] = f"{extra_path}{os.pathsep}{env.get('PATH', '')}"
    return env


# --------------------------------------------------------------------------------------------
# model


def resolve_model(arg: str | None, exporter: str, layers: int, timeout: float) -> Path:
    if arg:
        p = Path(arg)
        if p.is_dir():
            p = p / "model.onnx"
        if not p.is_file():
            sys.exit(f"error: model {p} not found")
        return p.resolve()
    out_dir = CACHE_DIR / (f"gpt2-medium-{exporter}" if layers == 24 else f"gpt2-{layers}l-{exporter}")
    model = out_dir / "model.onnx"
    if not (model.is_file() and (out_dir / "model.onnx.data").is_file()):
        cmd = [sys.executable, str(BENCH_DIR / "make_large_model.py"), str(out_dir),
               "--exporter", exporter, "--layers", str(layers)]
        log(f"building the default model (once): {shlex.join(cmd)}")
        try:
            subprocess.run(cmd, check=True, timeout=timeout, stdout=sys.stderr)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            sys.exit(f"error: could not build the default model: {e}")
    return model.resolve()


def graph_summary(path: Path) -> dict:
    """Node counts of a model's graph, read without its external weights."""
    import onnx  # graphfix depends on onnx

    m = onnx.load(str(path), load_external_data=False)
    g = m.graph
    consts = {i.name for i in g.initializer} | {o for n in g.node if n.op_type == "Constant" for o in n.output}
    reshapes = [n for n in g.node if n.op_type == "Reshape"]
    out = {
        "nodes": len(g.node),
        "Shape": sum(n.op_type == "Shape" for n in g.node),
        "Reshape": len(reshapes),
        "Reshape_const": sum(len(n.input) > 1 and n.input[1] in consts for n in reshapes),
    }
    del m, g
    return out


def model_facts(model: Path) -> dict:
    facts = {"path": str(model)}
    files = [model, *model.parent.glob(model.name + ".data")]
    facts["files"] = {p.name: p.stat().st_size for p in files if p.is_file()}
    facts["bytes_total"] = sum(facts["files"].values())
    try:
        import onnx  # graphfix depends on onnx; the graph is read without the weights

        m = onnx.load(str(model), load_external_data=False)
        facts["initializers"] = len(m.graph.initializer)
        facts["opset"] = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None)
        facts["producer"] = f"{m.producer_name} {m.producer_version}".strip()
        del m
        facts["graph"] = graph_summary(model)
    except Exception as e:  # noqa: BLE001 - facts are informational only
        facts["onnx_error"] = repr(e)
    info = model.parent / "export_info.json"
    if info.is_file():
        facts["export_info"] = json.loads(info.read_text())
    return facts


def prewarm(model: Path) -> None:
    """Read the model files once so every tool starts with the same (warm) page cache."""
    for p in [model, *model.parent.glob(model.name + ".data")]:
        with open(p, "rb") as f:
            while f.read(16 << 20):
                pass


# --------------------------------------------------------------------------------------------
# tools


@dataclass
class Tool:
    name: str
    exe: str | None
    version: str | None
    ok_codes: tuple = (0,)
    writes_output: bool = False
    env: dict | None = None
    unavailable: str | None = None  # reason, when the tool cannot run at all

    def command(self, model: Path, out_dir: Path) -> list[str]:
        if self.name == "graphfix":
            return [self.exe, "lint", str(model)]
        return [self.exe, str(model), str(out_dir / "model.onnx")]


def find_graphfix(explicit: str | None) -> Tool:
    version = None
    try:
        from importlib.metadata import PackageNotFoundError, version as _v

        try:
            version = _v("graphfix")
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    # Prefer the console script next to this interpreter: a pyenv shim would add its own start-up time.
    candidates = [explicit] if explicit else [str(Path(sys.executable).parent / "graphfix"),
                                              shutil.which("graphfix")]
    exe = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    tool = Tool("graphfix", exe, version, ok_codes=(0, 1), env=clean_env())
    if exe is None:
        tool.unavailable = "graphfix executable not found (pip install -e /work/main)"
        return tool
    try:
        r = subprocess.run([exe, "lint", "--help"], capture_output=True, text=True, timeout=120,
                           env=tool.env)
        if r.returncode != 0:
            last = (r.stderr or r.stdout).strip().splitlines()[-1:] or [""]
            tool.unavailable = f"`graphfix lint --help` exited {r.returncode}: {last[0][:160]}"
    except (OSError, subprocess.TimeoutExpired) as e:
        tool.unavailable = f"`graphfix lint --help` failed: {e}"
    return tool


def ensure_peer_venv(venv: Path, packages: list[str], reinstall: bool) -> Path:
    """Create bench/.venv-peers and install the peers in it (once). Returns the venv's bin dir."""
    bin_dir = venv / "bin"
    marker = venv / ".graphfix-bench-installed"
    wanted = " ".join(packages)
    if reinstall or not marker.is_file() or marker.read_text().strip() != wanted:
        if not (bin_dir / "python").exists():
            log(f"creating the peers' virtualenv: {sys.executable} -m venv {venv}")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=sys.stderr)
        cmd = [str(bin_dir / "python"), "-m", "pip", "install", "--upgrade", *packages]
        log(f"installing the peers: {shlex.join(cmd)}")
        subprocess.run(cmd, check=True, env=clean_env(), stdout=sys.stderr)
        marker.write_text(wanted + "\n")
    return bin_dir


def peer_versions(bin_dir: Path) -> dict:
    code = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        "for p in ('onnxsim', 'onnxslim', 'onnx', 'onnxruntime', 'onnx-ir', 'numpy', 'protobuf', 'sympy'):\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    r = subprocess.run([str(bin_dir / "python"), "-c", code], capture_output=True, text=True,
                       env=clean_env())
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError:
        return {}


def local_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for p in ("graphfix", "onnx", "onnx-ir", "numpy", "protobuf", "torch"):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            pass
    return out


# --------------------------------------------------------------------------------------------
# timing


@dataclass
class Run:
    status: str  # "ok", "exit N", "timeout", "signal N", "error"
    ok: bool
    wall_s: float | None = None
    peak_rss_kib: int | None = None
    user_s: float | None = None
    sys_s: float | None = None
    exit_code: int | None = None
    output_bytes: int | None = None
    output_files: int | None = None
    graph: dict | None = None  # node counts of the output model (--inspect-outputs)
    log: str | None = None
    tail: str | None = None


def parse_elapsed(s: str) -> float:
    # "h:mm:ss" or "m:ss.ss"
    parts = [float(x) for x in s.strip().split(":")]
    secs = 0.0
    for p in parts:
        secs = secs * 60 + p
    return secs


def parse_gnu_time(text: str) -> dict:
    out = {}
    m = re.search(r"Elapsed \(wall clock\) time \([^)]*\):\s*(\S+)", text)
    if m:
        out["wall_s"] = parse_elapsed(m.group(1))
    m = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", text)
    if m:
        out["peak_rss_kib"] = int(m.group(1))
    m = re.search(r"User time \(seconds\):\s*([\d.]+)", text)
    if m:
        out["user_s"] = float(m.group(1))
    m = re.search(r"System time \(seconds\):\s*([\d.]+)", text)
    if m:
        out["sys_s"] = float(m.group(1))
    m = re.search(r"Command terminated by signal (\d+)", text)
    if m:
        out["signal"] = int(m.group(1))
    m = re.search(r"Exit status:\s*(-?\d+)", text)
    if m:
        out["exit_code"] = int(m.group(1))
    return out


def tail_of(path: Path, n: int = 3) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines()[1:] if ln.strip()]  # [0] = "$ cmd"
    except OSError:
        return ""
    return " | ".join(ln.strip()[:200] for ln in lines[-n:])


def run_once(tool: Tool, model: Path, timeout: float, log_path: Path, tmp_root: str | None,
             inspect: bool = False) -> Run:
    with tempfile.TemporaryDirectory(prefix=f"bench-{tool.name}-", dir=tmp_root) as tmp:
        out_dir = Path(tmp) / "out"
        out_dir.mkdir()
        time_file = Path(tmp) / "gnu-time.txt"
        cmd = [GNU_TIME, "-v", "-o", str(time_file), *tool.command(model, out_dir)]
        with open(log_path, "w") as logf:
            logf.write(f"$ {shlex.join(tool.command(model, out_dir))}\n")
            logf.flush()
            t0 = time.perf_counter()
            try:
                # Own process group, so a timeout kills the tool and not only /usr/bin/time.
                proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=tool.env, start_new_session=True)
            except OSError as e:
                return Run("error", False, log=str(log_path), tail=str(e))
            try:
                proc.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
            own_wall = time.perf_counter() - t0
        gt = parse_gnu_time(time_file.read_text(errors="replace")) if time_file.is_file() else {}
        run = Run("error", False, wall_s=gt.get("wall_s", own_wall), peak_rss_kib=gt.get("peak_rss_kib"),
                  user_s=gt.get("user_s"), sys_s=gt.get("sys_s"), exit_code=gt.get("exit_code"),
                  log=str(log_path))
        if timed_out:
            run.status, run.wall_s = f"timeout ({timeout:g} s)", own_wall
        elif "signal" in gt:
            sig = gt["signal"]
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            run.status = f"killed by {name}" + (" (OOM?)" if sig == signal.SIGKILL else "")
        elif run.exit_code is None:
            run.exit_code = proc.returncode
            run.status = f"exit {proc.returncode} (no GNU time report)"
        elif run.exit_code in tool.ok_codes:
            run.status, run.ok = "ok", True
        else:
            run.status = f"exit {run.exit_code}"
        if tool.writes_output:
            files = [p for p in out_dir.rglob("*") if p.is_file()]
            run.output_files, run.output_bytes = len(files), sum(p.stat().st_size for p in files)
            if run.ok and not files:
                run.ok, run.status = False, "exit 0 but wrote no output"
            if run.ok and inspect and (out_dir / "model.onnx").is_file():
                try:
                    run.graph = graph_summary(out_dir / "model.onnx")
                except Exception as e:  # noqa: BLE001 - informational only
                    run.graph = {"error": repr(e)[:200]}
        if not run.ok:
            run.tail = tail_of(log_path)
        return run


@dataclass
class Result:
    tool: str
    version: str | None
    command: str
    runs: list = field(default_factory=list)
    unavailable: str | None = None

    @property
    def ok_runs(self) -> list:
        return [r for r in self.runs if r.ok]

    @property
    def ok(self) -> bool:
        return bool(self.runs) and len(self.ok_runs) == len(self.runs)

    def median(self, attr: str):
        vals = [getattr(r, attr) for r in self.ok_runs if getattr(r, attr) is not None]
        return statistics.median(vals) if vals else None

    def status(self) -> str:
        if self.unavailable:
            return "not run: " + self.unavailable
        if not self.runs:
            return "not run"
        if self.ok:
            return "ok"
        bad = [r.status for r in self.runs if not r.ok]
        if self.ok_runs:
            return f"{len(self.ok_runs)}/{len(self.runs)} ok; " + ", ".join(sorted(set(bad)))
        return ", ".join(sorted(set(bad)))


# --------------------------------------------------------------------------------------------
# report


def fmt_s(x):
    return "–" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.1f}")


def fmt_mb_kib(kib):
    return "–" if kib is None else f"{kib * 1024 / 1e6:,.0f}"


def table(results: list[Result], repeat: int) -> str:
    head = ["Tool", "Version", "Status", "Wall (s)", "Peak RSS (MB)", "CPU user+sys (s)", "Output"]
    if repeat > 1:
        head[3] = f"Wall (s), median of {repeat} [min–max]"
        head[4] = f"Peak RSS (MB), median [max]"
    rows = []
    for res in results:
        runs = res.ok_runs or res.runs  # show failed figures (e.g. time to crash) when nothing succeeded
        walls = [r.wall_s for r in runs if r.wall_s is not None]
        rss = [r.peak_rss_kib for r in runs if r.peak_rss_kib is not None]
        cpu = [r.user_s + r.sys_s for r in runs if r.user_s is not None and r.sys_s is not None]
        wall = fmt_s(statistics.median(walls)) if walls else "–"
        mem = fmt_mb_kib(statistics.median(rss)) if rss else "–"
        if repeat > 1 and walls:
            wall += f" [{fmt_s(min(walls))}–{fmt_s(max(walls))}]"
        if repeat > 1 and rss:
            mem += f" [{fmt_mb_kib(max(rss))}]"
        outs = [r for r in runs if r.output_bytes is not None]
        out = (f"{human_bytes(outs[0].output_bytes)} in {outs[0].output_files} file(s)" if outs
               else ("lint report" if res.tool == "graphfix" and res.runs else "–"))
        graphs = [r.graph for r in runs if r.graph and "nodes" in r.graph]
        if graphs:
            g = graphs[0]
            out += (f"; {g['nodes']} nodes, {g['Shape']} Shape, "
                    f"{g['Reshape_const']}/{g['Reshape']} Reshape with a constant shape")
        status = res.status()
        tails = [r.tail for r in res.runs if r.tail]
        if tails:
            status += f" — `{tails[0][-160:]}`"
        status = status.replace("|", "\\|")
        if not res.ok_runs and res.runs:
            wall, mem = f"({wall})", f"({mem})"  # figures of failed runs: in parentheses
        rows.append([res.tool, res.version or "?", status, wall, mem,
                     fmt_s(statistics.median(cpu)) if cpu else "–", out])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def goals(results: list[Result]) -> tuple[list[str], bool]:
    by = {r.tool: r for r in results}
    gf = by.get("graphfix")
    peers = [r for r in results if r.tool in PEERS and r.ok]
    lines, all_pass = [], True
    fastest = min(peers, key=lambda r: r.median("wall_s")) if peers else None
    if gf is None or not gf.ok:
        why = "graphfix was not run" if gf is None or not gf.runs else "graphfix lint did not succeed"
        if gf is not None and gf.unavailable:
            why = "graphfix not available"
        lines.append(f"- speed (lint < 1/20 of the fastest peer's wall time): N/A ({why})")
        lines.append(f"- memory (lint peak RSS < {GOAL_PEAK_MB} MB): N/A ({why})")
        return lines, False
    gf_wall, gf_mb = gf.median("wall_s"), gf.median("peak_rss_kib") * 1024 / 1e6
    if fastest is None:
        lines.append("- speed (lint < 1/20 of the fastest peer's wall time): N/A (no peer succeeded)")
        all_pass = False
    else:
        fw = fastest.median("wall_s")
        ratio = gf_wall / fw if fw else float("inf")
        ok = ratio < GOAL_SPEED_RATIO
        all_pass &= ok
        frac = f" (= 1/{1 / ratio:.1f})" if 0 < ratio < float("inf") else ""
        lines.append(f"- ratio graphfix / fastest peer ({fastest.tool}): wall {gf_wall:.2f} s / {fw:.2f} s = "
                     f"{ratio:.3f}{frac}")
        mem_ratio = gf.median("peak_rss_kib") / fastest.median("peak_rss_kib")
        lines.append(f"- peak RSS graphfix / {fastest.tool}: {gf_mb:,.0f} MB / "
                     f"{fastest.median('peak_rss_kib') * 1024 / 1e6:,.0f} MB = {mem_ratio:.3f}")
        lines.append(f"- speed goal (lint < 1/20 = {GOAL_SPEED_RATIO:.2f} of the fastest peer): "
                     f"{'PASS' if ok else 'FAIL'} ({ratio:.3f})")
    ok = gf_mb < GOAL_PEAK_MB
    all_pass &= ok
    lines.append(f"- memory goal (lint peak RSS < {GOAL_PEAK_MB} MB): {'PASS' if ok else 'FAIL'} ({gf_mb:,.0f} MB)")
    return lines, all_pass


# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("model", nargs="?", help="model.onnx (or its folder); default: build the GPT-2-medium "
                                             "model into bench/.cache/ once and reuse it")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; the median is reported (default 1)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run before it is killed (default 1800)")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS),
                    help=f"comma-separated subset of {','.join(ALL_TOOLS)} (default: all)")
    ap.add_argument("--graphfix", help="graphfix executable (default: next to this Python, else on PATH)")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="virtualenv for the peers (default bench/.venv-peers)")
    ap.add_argument("--peer-packages", default="onnxsim onnxslim",
                    help="pip requirements installed into the peers' venv, e.g. 'onnxsim==0.8.1 onnxslim==0.1.98'")
    ap.add_argument("--reinstall-peers", action="store_true", help="re-run pip install in the peers' venv")
    ap.add_argument("--exporter", choices=["legacy", "dynamo"], default="legacy",
                    help="exporter used for the default model (default legacy)")
    ap.add_argument("--layers", type=int, default=24, help="layers of the default model (default 24)")
    ap.add_argument("--tmp-dir", help="where the peers write their output (default: system temp dir)")
    ap.add_argument("--no-prewarm", action="store_true",
                    help="do not read the model into the page cache before timing")
    ap.add_argument("--json", type=Path, help="also write the raw results to this JSON file "
                                              "(default bench/.cache/results/<timestamp>.json)")
    ap.add_argument("--inspect-outputs", action="store_true",
                    help="count nodes / Shape ops / constant-shape Reshapes in each peer's output "
                         "(reads the output graph into the bench process; not timed)")
    ap.add_argument("--check-goals", action="store_true", help="exit 1 when a graphfix goal is not met")
    args = ap.parse_args(argv)

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = [t for t in tools if t not in ALL_TOOLS]
    if bad:
        ap.error(f"unknown tool(s): {', '.join(bad)}")
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")

    check_gnu_time()
    model = resolve_model(args.model, args.exporter, args.layers, args.timeout)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_dir = CACHE_DIR / "logs" / stamp
    log_dir.mkdir(parents=True, exist_ok=True)

    tool_objs: list[Tool] = []
    peer_env_versions: dict = {}
    if "graphfix" in tools:
        tool_objs.append(find_graphfix(args.graphfix))
    wanted_peers = [t for t in tools if t in PEERS]
    if wanted_peers:
        try:
            bin_dir = ensure_peer_venv(args.venv, args.peer_packages.split(), args.reinstall_peers)
            peer_env_versions = peer_versions(bin_dir)
            install_error = None
        except (subprocess.CalledProcessError, OSError) as e:
            bin_dir, install_error = args.venv / "bin", f"peer venv setup failed: {e}"
        for name in wanted_peers:
            exe = bin_dir / name
            t = Tool(name, str(exe), peer_env_versions.get(name), writes_output=True,
                     env=clean_env(extra_path=bin_dir))
            if install_error:
                t.unavailable = install_error
            elif not os.access(exe, os.X_OK):
                t.unavailable = f"{exe} not found after pip install"
            tool_objs.append(t)

    facts = model_facts(model)
    if not args.no_prewarm:
        log("pre-warming the page cache with the model files...")
        prewarm(model)

    results: list[Result] = []
    for tool in tool_objs:
        res = Result(tool.name, tool.version,
                     shlex.join(tool.command(model, Path("OUT"))) if tool.exe else tool.name,
                     unavailable=tool.unavailable)
        results.append(res)
        if tool.unavailable:
            log(f"[{tool.name}] skipped: {tool.unavailable}")
            continue
        for i in range(args.repeat):
            log_path = log_dir / f"{tool.name}-{i + 1}.log"
            log(f"[{tool.name}] run {i + 1}/{args.repeat}: {res.command}")
            run = run_once(tool, model, args.timeout, log_path, args.tmp_dir, inspect=args.inspect_outputs)
            res.runs.append(run)
            rss = f"{run.peak_rss_kib * 1024 / 1e6:,.0f} MB" if run.peak_rss_kib else "?"
            log(f"[{tool.name}]   -> {run.status}, wall {fmt_s(run.wall_s)} s, peak RSS {rss} (log {log_path})")

    # ---- report
    mem_total = None
    try:
        mem_total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        pass
    print(f"# graphfix lint bench — {stamp}\n")
    ei = facts.get("export_info", {})
    desc = (f"{ei.get('layers')} layers, {ei.get('params', 0) / 1e6:.0f}M params, {ei.get('exporter')} exporter, "
            f"torch {ei.get('torch')}, " if ei else "")
    g = facts.get("graph") or {}
    gdesc = (f"{g['nodes']} nodes, {g['Shape']} Shape, {g['Reshape_const']}/{g['Reshape']} Reshape with a constant "
             f"shape, " if g else "")
    print(f"Model: `{facts['path']}` ({desc}{gdesc}opset {facts.get('opset', '?')}, "
          f"{human_bytes(facts['bytes_total'])} on disk: "
          + ", ".join(f"{k} {human_bytes(v)}" for k, v in facts["files"].items()) + ")")
    print(f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"{human_bytes(mem_total) if mem_total else '?'} RAM; Python {platform.python_version()}; "
          f"page cache {'warm' if not args.no_prewarm else 'not pre-warmed'}; timeout {args.timeout:g} s")
    lv = local_versions()
    print("graphfix env: " + ", ".join(f"{k} {v}" for k, v in lv.items()))
    if peer_env_versions:
        print(f"peers env ({args.venv}): " + ", ".join(f"{k} {v}" for k, v in peer_env_versions.items()))
    print()
    print(table(results, args.repeat))
    print()
    print("Commands (under `/usr/bin/time -v`; OUT is a fresh temporary folder):")
    for res in results:
        print(f"- `{res.command}`")
    print()
    goal_lines, all_pass = goals(results)
    print("Goals for graphfix lint:")
    print("\n".join(goal_lines))
    print(f"\nLogs: {log_dir}")

    json_path = args.json or (CACHE_DIR / "results" / f"{stamp}.json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({
        "stamp": stamp, "model": facts, "graphfix_env": lv, "peers_env": peer_env_versions,
        "repeat": args.repeat, "timeout": args.timeout, "prewarm": not args.no_prewarm,
        "results": [{"tool": r.tool, "version": r.version, "command": r.command, "status": r.status(),
                     "median_wall_s": r.median("wall_s"), "median_peak_rss_kib": r.median("peak_rss_kib"),
                     "runs": [asdict(x) for x in r.runs]} for r in results],
        "goals": goal_lines,
    }, indent=2) + "\n")
    print(f"Raw results: {json_path}")
    return 1 if (args.check_goals and not all_pass) else 0


if __name__ == "__main__":
    sys.exit(main())
