#!/usr/bin/env python
"""Compare `graphfix fix` with the peer tools on the same models: time, memory, and what comes out.

Tools, each a subprocess under GNU time (`/usr/bin/time -v`: wall-clock time, peak RSS), the way
bench/lint_bench.py times `graphfix lint` (its helpers are imported, not copied):

    graphfix fix MODEL -o OUT                     verification in ONNX Runtime included
    graphfix fix MODEL -o OUT --no-verify         the rewrite alone (onnx.checker still runs)
    onnxsim MODEL OUT                             bench/.venv-peers
    onnxslim MODEL OUT                            bench/.venv-peers
    polygraphy surgeon sanitize MODEL --fold-constants -o OUT [--save-external-data]
                                                  bench/.venv-peers; --save-external-data is added
                                                  when MODEL keeps its weights in external data

Every output is then inspected (not timed, in a separate worker process so that a crash of onnx or
ONNX Runtime is a row, not the end of the bench):

- nodes: top-level graph nodes;
- Shape ops: `Shape` and `Size` nodes;
- shape-derived nodes: nodes that take, directly or through other shape-derived nodes, the output of
  a Shape/Size node. The walk goes forward from every Shape/Size output and passes through a node's
  outputs only while they are shape-like (rank 0 or 1 with at most 16 elements after ONNX shape
  inference; a 1-D integer/bool tensor of unknown length counts too). So the consumer of a chain (a
  Reshape, Resize, Expand, ConstantOfShape, Range, ...) is counted, but not what its data output feeds;
- batch dynamic: dim 0 of every graph input and output is a `dim_param`;
- numerics: the original and the output run in ONNX Runtime (this environment's onnxruntime, CPU,
  basic graph optimizations) on the same random valid inputs at batch 1 and 3 (batch 2 only, for
  models that bake the export batch 2). "ok" when every output has the reference shape and
  allclose(rtol 1e-3, atol 1e-4); "DIFF" otherwise; "broken" when the output model does not load or
  run, or returns another shape (another batch). The max abs error is always shown.

Models: the 24-layer GPT-2-medium legacy export (bench/.cache/gpt2-medium-legacy, built by
make_large_model.py if missing; the dynamo export with --large-dynamo), plus every zoo entry of
tests/models/zoo.py exported with both torch exporters (bench/.cache/zoo).

Usage:
    python bench/fix_bench.py [MODEL ...] [--large-dynamo] [--skip-large | --small-only] [--skip-small]
                              [--repeat N] [--timeout S] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
import lint_bench as lb  # noqa: E402 - the lint bench's helpers (GNU time, peers venv, model building)

CACHE_DIR = lb.CACHE_DIR
ZOO_DIR = CACHE_DIR / "zoo"

TOOLS = ("graphfix", "graphfix-noverify", "onnxsim", "onnxslim", "polygraphy")
LABELS = {"graphfix": "graphfix fix", "graphfix-noverify": "graphfix fix --no-verify",
          "onnxsim": "onnxsim", "onnxslim": "onnxslim", "polygraphy": "polygraphy sanitize --fold-constants"}
PEERS = ("onnxsim", "onnxslim", "polygraphy")
# Installed on top of lint_bench's onnxsim/onnxslim, with a marker of their own so the two benches
# never make each other reinstall. polygraphy's constant folding needs onnx-graphsurgeon and onnxruntime.
# Note: with onnxruntime importable, onnxslim folds more as well (its bundled graphsurgeon uses ORT).
EXTRA_PEER_PACKAGES = "polygraphy onnx-graphsurgeon onnxruntime"

GOAL_SPEED_RATIO = 1 / 3  # fix --no-verify wall time < 1/3 of the fastest successful peer's
GOAL_PEAK_MB = 500  # fix peak RSS < 500 MB (10^6 bytes) when the weights are external

SHAPE_OPS = ("Shape", "Size")
SHAPE_LIKE_MAX_ELEMENTS = 16
# Used only when shape inference says nothing about a tensor: ops that typically do shape arithmetic.
SHAPE_ARITH_OPS = {"Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "Add", "Sub", "Mul", "Div",
                   "Floor", "Ceil", "Equal", "Where", "Mod", "Neg", "Abs", "Max", "Min", "ReduceProd",
                   "Identity", "Not", "Less", "Greater", "ConstantOfShape", "Sqrt", "Range"}
NUM_RTOL, NUM_ATOL = 1e-3, 1e-4


# --------------------------------------------------------------------------------------------
# tools


@dataclass
class FixTool(lb.Tool):
    """A lint_bench Tool whose output outlives lint_bench.run_once (it deletes its own out_dir).

    ``argv(model, out_path)`` builds the command; ``out_path`` is set before every run to a file in a
    folder the bench owns, so the output can be inspected and run after timing.
    """

    key: str = ""
    argv: Callable | None = None
    out_path: Path | None = None

    def command(self, model: Path, out_dir: Path) -> list[str]:
        return self.argv(model, self.out_path or out_dir / "model.onnx")


def has_external_data(model: Path) -> bool:
    try:
        import onnx

        m = onnx.load(str(model), load_external_data=False)
        return any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)
    except Exception:  # noqa: BLE001 - informational
        return False


_EXTERNAL: dict[Path, bool] = {}


def external(model: Path) -> bool:
    if model not in _EXTERNAL:
        _EXTERNAL[model] = has_external_data(model)
    return _EXTERNAL[model]


def polygraphy_argv(exe: str) -> Callable:
    def argv(model: Path, out: Path) -> list[str]:
        cmd = [exe, "surgeon", "sanitize", str(model), "--fold-constants", "-o", str(out)]
        if external(model):
            cmd.append("--save-external-data")
        return cmd
    return argv


def ensure_extra_peers(venv: Path, packages: list[str], reinstall: bool) -> None:
    """pip install ``packages`` into the peers' venv once (lint_bench.ensure_peer_venv made the venv)."""
    marker = venv / ".graphfix-fix-bench-installed"
    wanted = " ".join(packages)
    if reinstall or not marker.is_file() or marker.read_text().strip() != wanted:
        cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", *packages]
        lb.log(f"installing the extra peers: {shlex.join(cmd)}")
        subprocess.run(cmd, check=True, env=lb.clean_env(), stdout=sys.stderr)
        marker.write_text(wanted + "\n")


def venv_versions(python: str, packages: tuple[str, ...]) -> dict:
    code = ("import json, importlib.metadata as m, sys\nout = {}\n"
            "for p in sys.argv[1:]:\n"
            "    try: out[p] = m.version(p)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(out))\n")
    r = subprocess.run([python, "-c", code, *packages], capture_output=True, text=True, env=lb.clean_env())
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError:
        return {}


def make_tools(args: argparse.Namespace, wanted: list[str]) -> tuple[list[FixTool], dict]:
    tools: list[FixTool] = []
    gf = lb.find_graphfix(args.graphfix)  # exe, version, and `graphfix lint --help` works
    if gf.exe and not gf.unavailable:
        r = subprocess.run([gf.exe, "fix", "--help"], capture_output=True, text=True, env=gf.env)
        if r.returncode != 0:
            gf.unavailable = f"`graphfix fix --help` exited {r.returncode}"
    for key in ("graphfix", "graphfix-noverify"):
        if key in wanted:
            extra = ["--no-verify"] if key == "graphfix-noverify" else []
            tools.append(FixTool(LABELS[key], gf.exe, gf.version, ok_codes=(0, 1), env=gf.env,
                                 unavailable=gf.unavailable, key=key,
                                 argv=lambda m, o, e=gf.exe, x=tuple(extra): [e, "fix", str(m), "-o", str(o), *x]))
    peers_env: dict = {}
    peers = [k for k in wanted if k in PEERS]
    if peers:
        install_error = None
        try:
            bin_dir = lb.ensure_peer_venv(args.venv, ["onnxsim", "onnxslim"], args.reinstall_peers)
            if "polygraphy" in peers:
                ensure_extra_peers(args.venv, EXTRA_PEER_PACKAGES.split(), args.reinstall_peers)
        except (subprocess.CalledProcessError, OSError) as e:
            bin_dir, install_error = args.venv / "bin", f"peer venv setup failed: {e}"
        peers_env = venv_versions(str(bin_dir / "python"),
                                  ("onnxsim", "onnxslim", "polygraphy", "onnx-graphsurgeon", "onnx",
                                   "onnxruntime", "numpy", "protobuf", "sympy"))
        for key in peers:
            exe = str(bin_dir / key)
            argv = polygraphy_argv(exe) if key == "polygraphy" else (lambda m, o, e=exe: [e, str(m), str(o)])
            t = FixTool(LABELS[key], exe, peers_env.get(key), env=lb.clean_env(extra_path=bin_dir), key=key,
                        argv=argv)
            if install_error:
                t.unavailable = install_error
            elif not os.access(exe, os.X_OK):
                t.unavailable = f"{exe} not found after pip install"
            tools.append(t)
    return tools, peers_env


def startup_times(tools: list[FixTool], timeout: float, log_dir: Path) -> dict:
    """Wall time of each tool's `--help` (interpreter start-up and imports): what a tiny model costs at least."""
    out = {}
    helps = {"graphfix": ["fix", "--help"], "onnxsim": ["--help"], "onnxslim": ["--help"],
             "polygraphy": ["surgeon", "sanitize", "--help"]}
    for t in tools:
        base = "graphfix" if t.key.startswith("graphfix") else t.key
        if t.unavailable or base not in helps or base in out:
            continue
        probe = FixTool(t.name, t.exe, t.version, env=t.env, key=base,
                        argv=lambda m, o, e=t.exe, h=tuple(helps[base]): [e, *h])
        run = lb.run_once(probe, Path("-"), timeout, log_dir / f"startup-{base}.log", None)
        out[base] = run.wall_s if run.ok else None
    return out


# --------------------------------------------------------------------------------------------
# models


@dataclass
class BenchModel:
    name: str
    group: str
    path: Path | None
    batches: tuple[int, ...] = (1, 3)
    zoo: str | None = None
    error: str | None = None  # the export failed
    facts: dict = field(default_factory=dict)


def export_small(names: list[str], exporters: list[str], reuse: bool) -> list[BenchModel]:
    sys.path.insert(0, str(REPO_DIR))
    try:
        from tests.models.exports import export_zoo
        from tests.models.zoo import ZOO
    except Exception as e:  # noqa: BLE001 - torch missing, zoo broken: no small batch
        lb.log(f"cannot import the zoo (tests/models): {e!r}")
        return [BenchModel("zoo", "small", None, error=f"cannot import tests/models: {e!r}"[:200])]
    ZOO_DIR.mkdir(parents=True, exist_ok=True)
    models = []
    for name in names or list(ZOO):
        if name not in ZOO:
            models.append(BenchModel(name, f"small ({exporters[0]} exporter)", None,
                                     error="not in tests/models/zoo.py"))
            continue
        batches = (2,) if ZOO[name]().bakes_batch else (1, 3)
        for exporter in exporters:
            target = ZOO_DIR / f"{name}-{exporter}.onnx"
            bm = BenchModel(f"{name}-{exporter}", f"small ({exporter} exporter)", target, batches, zoo=name)
            if not (reuse and target.is_file()):
                lb.log(f"exporting {name} with the {exporter} exporter")
                try:
                    for stale in (target, target.with_name(target.name + ".data")):
                        stale.unlink(missing_ok=True)
                    bm.path = export_zoo(name, exporter, ZOO_DIR)
                except Exception as e:  # noqa: BLE001 - an export failure is a row
                    bm.path, bm.error = None, f"export failed: {str(e).strip().splitlines()[-1][:160] if str(e).strip() else repr(e)}"
            models.append(bm)
    return models


def make_feeds(bm: BenchModel, batch: int, path: Path) -> None:
    """Random valid inputs at ``batch``: the zoo's own make_inputs, else from the declared inputs."""
    import numpy as np

    if bm.zoo:
        from tests.models.exports import make_inputs
        from tests.models.zoo import ZOO

        feeds = make_inputs(ZOO[bm.zoo](), batch, seed=0)
    else:
        import onnx_ir as ir
        from graphfix.verify import input_shapes_for, input_specs, integer_ranges

        model = ir.load(str(bm.path))  # memory-maps the weights
        specs = input_specs(model)
        shapes = input_shapes_for(specs, batch, {})
        ranges = integer_ranges(model)
        rng = np.random.default_rng(batch)
        feeds = {}
        for spec in specs:
            shape = shapes[spec.name]
            if spec.dtype == np.bool_:
                feeds[spec.name] = rng.integers(0, 2, size=shape).astype(bool)
            elif np.issubdtype(spec.dtype, np.integer):
                lo, hi = ranges.get(spec.name, (0, 1))
                feeds[spec.name] = rng.integers(lo, hi + 1, size=shape, dtype=spec.dtype)
            else:
                feeds[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
        del model
    np.savez(path, **feeds)


# --------------------------------------------------------------------------------------------
# the worker: inspect a graph, run a model in ONNX Runtime (a separate process: crashes stay rows)


def _dims(value_info) -> list | None:  # noqa: ANN001
    t = value_info.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.tensor_type.shape.dim]


def inspect_graph(path: Path) -> dict:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    g = m.graph
    external = False
    for init in g.initializer:  # shape inference needs dtypes and dims only: drop big embedded weights
        if init.data_location == onnx.TensorProto.EXTERNAL:
            external = True
        elif init.ByteSize() > 4096:
            init.ClearField("raw_data")
            for f in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"):
                init.ClearField(f)
            init.data_location = onnx.TensorProto.EXTERNAL
            init.external_data.add(key="location", value="__stripped_by_fix_bench__")
    info: dict = {"nodes": len(g.node), "shape_ops": sum(n.op_type in SHAPE_OPS for n in g.node),
                  "external_data": external, "ops": dict(Counter(n.op_type for n in g.node))}
    try:
        inferred = onnx.shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
    except Exception as e:  # noqa: BLE001 - fall back to the op-type rule
        inferred, info["shape_inference_error"] = m, str(e).strip().splitlines()[0][:200]
    types: dict[str, tuple[int, list | None]] = {}
    ig = inferred.graph
    for vi in [*ig.value_info, *ig.input, *ig.output]:
        if vi.type.HasField("tensor_type"):
            types[vi.name] = (vi.type.tensor_type.elem_type, _dims(vi))
    for init in g.initializer:
        types[init.name] = (init.data_type, list(init.dims))
    int_like = {onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.INT16, onnx.TensorProto.INT8,
                onnx.TensorProto.UINT64, onnx.TensorProto.UINT32, onnx.TensorProto.UINT16,
                onnx.TensorProto.UINT8, onnx.TensorProto.BOOL}

    def shape_like(name: str, op: str) -> bool:
        elem, dims = types.get(name, (0, None))
        if dims is None:
            return elem in int_like if elem else op in SHAPE_ARITH_OPS
        if len(dims) > 1:
            return False
        if not dims:
            return True
        if isinstance(dims[0], int) and dims[0] > 0:
            return dims[0] <= SHAPE_LIKE_MAX_ELEMENTS
        return elem in int_like

    consumers: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(g.node):
        for name in n.input:
            if name:
                consumers[name].append(i)
    frontier = [o for n in g.node if n.op_type in SHAPE_OPS for o in n.output if o]
    seen, derived = set(frontier), set()
    while frontier:
        for i in consumers.get(frontier.pop(), ()):
            n = g.node[i]
            if n.op_type in SHAPE_OPS or i in derived:
                continue
            derived.add(i)
            for o in n.output:
                if o and o not in seen and shape_like(o, n.op_type):
                    seen.add(o)
                    frontier.append(o)
    info["shape_derived"] = len(derived)
    info["shape_derived_ops"] = dict(Counter(g.node[i].op_type for i in derived))
    inits = {t.name for t in g.initializer}
    io = [("input", vi) for vi in g.input if vi.name not in inits] + [("output", vi) for vi in g.output]
    dim0 = {}
    for kind, vi in io:
        dims = _dims(vi)
        dim0[f"{kind} {vi.name}"] = None if not dims else dims[0]
    info["dim0"] = dim0
    info["batch_dynamic"] = bool(dim0) and all(isinstance(d, str) for d in dim0.values())
    info["only_batch_dynamic"] = all(  # every non-batch dim of every input is a number
        (d := _dims(vi)) is not None and all(isinstance(x, int) for x in d[1:]) for k, vi in io if k == "input")
    return info


def worker(job_file: str) -> int:
    job = json.loads(Path(job_file).read_text())
    result: dict = {}
    out = Path(job["result"])

    def save() -> None:
        out.write_text(json.dumps(result))

    if job.get("inspect"):
        try:
            result["graph"] = inspect_graph(Path(job["model"]))
        except Exception as e:  # noqa: BLE001
            result["graph"] = {"error": f"{type(e).__name__}: {str(e).strip()[:200]}"}
        save()
    if job.get("runs"):
        import numpy as np
        import onnxruntime as ort

        try:
            options = ort.SessionOptions()
            options.log_severity_level = 3
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            session = ort.InferenceSession(job["model"], options, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            result["load_error"] = str(e).strip().splitlines()[0][:200] if str(e).strip() else repr(e)
            save()
            return 0
        names = [o.name for o in session.get_outputs()]
        wanted = [i.name for i in session.get_inputs()]
        result["output_names"], result["runs"] = names, {}
        for run in job["runs"]:
            try:
                with np.load(run["feeds"]) as f:
                    feeds = {k: f[k] for k in f.files if k in wanted}
                outs = session.run(None, feeds)
                np.savez(run["out"], **{str(i): o for i, o in enumerate(outs)})
                result["runs"][str(run["batch"])] = {"ok": True}
            except Exception as e:  # noqa: BLE001
                msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else repr(e)
                result["runs"][str(run["batch"])] = {"ok": False, "error": msg}
            save()
    save()
    return 0


def call_worker(job: dict, work: Path, timeout: float) -> dict:
    job_file = work / f"job-{time.monotonic_ns()}.json"
    job["result"] = str(job_file.with_suffix(".result.json"))
    job_file.write_text(json.dumps(job))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(job_file)]
    status = None
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=lb.clean_env())
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or [""]
            status = f"worker exit {r.returncode}: {tail[0][:160]}"
    except subprocess.TimeoutExpired:
        status = f"worker timeout ({timeout:g} s)"
    res_path = Path(job["result"])
    result = json.loads(res_path.read_text()) if res_path.is_file() else {}
    if status:
        result["worker_error"] = status
    return result


# --------------------------------------------------------------------------------------------
# numerics


def compare_outputs(ref: dict, cand: dict, batches: tuple[int, ...], ref_dir: Path, cand_dir: Path) -> dict:
    """Per batch: {"status": ok|DIFF|broken|n/a, "max_abs", "why"} comparing npz outputs."""
    import numpy as np

    res: dict = {}
    for b in batches:
        key = str(b)
        rrun = (ref.get("runs") or {}).get(key)
        if not rrun or not rrun.get("ok"):
            res[key] = {"status": "n/a", "why": "the original does not run at this batch"}
            continue
        if cand.get("load_error") or cand.get("worker_error") and not cand.get("runs"):
            res[key] = {"status": "broken", "why": cand.get("load_error") or cand.get("worker_error")}
            continue
        crun = (cand.get("runs") or {}).get(key)
        if not crun or not crun.get("ok"):
            res[key] = {"status": "broken", "why": (crun or {}).get("error") or cand.get("worker_error") or "did not run"}
            continue
        with np.load(ref_dir / f"b{b}.npz") as rf, np.load(cand_dir / f"b{b}.npz") as cf:
            rnames, cnames = ref["output_names"], cand["output_names"]
            if len(rnames) != len(cnames):
                res[key] = {"status": "broken", "why": f"{len(cnames)} outputs, expected {len(rnames)}"}
                continue
            order = [cnames.index(n) for n in rnames] if set(rnames) == set(cnames) else list(range(len(rnames)))
            status, worst, why = "ok", 0.0, ""
            for i, j in enumerate(order):
                a, c = rf[str(i)], cf[str(j)]
                if a.shape != c.shape:
                    status = "broken"
                    why = (f"{rnames[i]}: batch {c.shape[0] if c.ndim else '-'} instead of {b}"
                           if a.ndim and (not c.ndim or c.shape[0] != a.shape[0])
                           else f"{rnames[i]}: shape {c.shape} instead of {a.shape}")
                    break
                if a.dtype.kind in "fc" or c.dtype.kind in "fc":
                    a64, c64 = a.astype(np.float64), c.astype(np.float64)
                    same = (a64 == c64) | (np.isnan(a64) & np.isnan(c64))
                    diff = np.where(same, 0.0, np.abs(a64 - c64))
                    err = float(np.nan_to_num(diff, nan=np.inf).max()) if diff.size else 0.0
                    close = bool(np.allclose(c64, a64, rtol=NUM_RTOL, atol=NUM_ATOL, equal_nan=True))
                else:
                    err = float(np.abs(a.astype(np.int64) - c.astype(np.int64)).max()) if a.size else 0.0
                    close = err == 0
                worst = max(worst, err)
                if not close and status == "ok":
                    status, why = "DIFF", f"{rnames[i]} differs"
            res[key] = {"status": status, "max_abs": worst, "why": why}
    return res


def fmt_err(x: float) -> str:
    return "0" if x == 0 else (f"{x:.1e}" if x < 0.01 or x >= 1000 else f"{x:.3g}")


def numerics_cell(num: dict | None, batches: tuple[int, ...]) -> str:
    if not num:
        return "–"
    per = [num.get(str(b), {}) for b in batches]
    statuses = [p.get("status") for p in per]
    prefix = "" if batches == (1, 3) else f"b{'/'.join(map(str, batches))}: "
    if "broken" in statuses:
        b, p = next((b, p) for b, p in zip(batches, per) if p.get("status") == "broken")
        return f"**broken** at b{b}: {p.get('why', '')[:90]}"
    errs = " / ".join(fmt_err(p["max_abs"]) if "max_abs" in p else "n/a" for p in per)
    word = "DIFF" if "DIFF" in statuses else ("ok" if "ok" in statuses else "n/a")
    return f"{prefix}{'**DIFF**' if word == 'DIFF' else word} ({errs})"


def numerics_class(num: dict | None) -> str | None:
    if not num:
        return None
    statuses = [p.get("status") for p in num.values()]
    if "broken" in statuses:
        return "broken"
    if "DIFF" in statuses:
        return "DIFF"
    return "ok" if "ok" in statuses else None


# --------------------------------------------------------------------------------------------
# running


@dataclass
class Outcome:
    model: str
    group: str
    tool: str  # key
    result: lb.Result
    graph: dict | None = None
    numerics: dict | None = None
    output_bytes: int | None = None


def run_model(bm: BenchModel, tools: list[FixTool], args: argparse.Namespace, work: Path, log_dir: Path,
              prewarm: bool) -> tuple[dict, list[Outcome]]:
    """Original facts + one Outcome per tool for one model."""
    mwork = work / bm.name
    mwork.mkdir(parents=True, exist_ok=True)
    mlog = log_dir / bm.name
    mlog.mkdir(parents=True, exist_ok=True)
    ref_dir = mwork / "original"
    ref_dir.mkdir()
    feeds_dir = mwork / "feeds"
    feeds_dir.mkdir()
    lb.log(f"== {bm.name}: inspecting and running the original")
    runs = []
    feeds_error = None
    for b in bm.batches:
        try:
            make_feeds(bm, b, feeds_dir / f"b{b}.npz")
            runs.append({"batch": b, "feeds": str(feeds_dir / f"b{b}.npz"), "out": str(ref_dir / f"b{b}.npz")})
        except Exception as e:  # noqa: BLE001
            feeds_error = f"cannot make inputs at batch {b}: {e!r}"[:200]
    info = call_worker({"model": str(bm.path), "inspect": True}, mwork, args.timeout)
    ref = call_worker({"model": str(bm.path), "runs": runs}, mwork, args.timeout)
    facts = {"graph": info.get("graph") or {"error": info.get("worker_error", "no result")}, "reference": ref,
             "feeds_error": feeds_error, "batches": list(bm.batches), "path": str(bm.path),
             "bytes": sum(p.stat().st_size for p in [bm.path, bm.path.with_name(bm.path.name + ".data")]
                          if p.is_file())}
    bm.facts = facts
    outcomes = []
    for tool in tools:
        res = lb.Result(tool.key, tool.version, LABELS[tool.key], unavailable=tool.unavailable)
        oc = Outcome(bm.name, bm.group, tool.key, res)
        outcomes.append(oc)
        if tool.unavailable:
            continue
        out_dir = mwork / tool.key
        tool.out_path = out_dir / "model.onnx"
        res.command = shlex.join(tool.command(bm.path, out_dir))
        for i in range(args.repeat):
            shutil.rmtree(out_dir, ignore_errors=True)
            out_dir.mkdir()
            if prewarm:
                lb.prewarm(bm.path)
            log_path = mlog / f"{tool.key}-{i + 1}.log"
            lb.log(f"[{bm.name}] {LABELS[tool.key]} run {i + 1}/{args.repeat}")
            run = lb.run_once(tool, bm.path, args.timeout, log_path, args.tmp_dir)
            files = [p for p in out_dir.rglob("*") if p.is_file()]
            run.output_files, run.output_bytes = len(files), sum(p.stat().st_size for p in files)
            if run.ok and not tool.out_path.is_file():
                run.ok, run.status = False, f"exit {run.exit_code} but wrote no {tool.out_path.name}"
                run.tail = lb.tail_of(log_path)
            res.runs.append(run)
            rss = f"{run.peak_rss_kib * 1024 / 1e6:,.0f} MB" if run.peak_rss_kib else "?"
            lb.log(f"[{bm.name}]   -> {run.status}, wall {lb.fmt_s(run.wall_s)} s, peak RSS {rss}")
            if run.ok and oc.graph is None:  # inspect and run the first good output (not timed)
                oc.output_bytes = run.output_bytes
                cdir = mwork / f"{tool.key}-numerics"
                cdir.mkdir(exist_ok=True)
                cruns = [{**r, "out": str(cdir / f"b{r['batch']}.npz")} for r in runs]
                # two workers: a crash while inspecting must not count as broken numerics
                info = call_worker({"model": str(tool.out_path), "inspect": True}, mwork, args.timeout)
                oc.graph = info.get("graph") or {"error": info.get("worker_error", "no result")}
                if info.get("worker_error") and "error" not in oc.graph:
                    oc.graph["error"] = info["worker_error"]
                cand = call_worker({"model": str(tool.out_path), "runs": cruns}, mwork, args.timeout)
                oc.numerics = compare_outputs(ref, cand, bm.batches, ref_dir, cdir)
                if cand.get("worker_error"):
                    oc.numerics["worker_error"] = cand["worker_error"]
                shutil.rmtree(cdir, ignore_errors=True)
        if not args.keep_outputs:
            shutil.rmtree(out_dir, ignore_errors=True)
    return facts, outcomes


# --------------------------------------------------------------------------------------------
# report


def esc(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def batch_cell(graph: dict | None) -> str:
    if not graph or "dim0" not in graph:
        return "–"
    if graph["batch_dynamic"]:
        return "yes"
    bad = [f"{k.split(' ', 1)[1]}={'?' if v is None else v}" for k, v in graph["dim0"].items() if not isinstance(v, str)]
    return "**no** (" + ", ".join(bad[:3]) + (", …" if len(bad) > 3 else "") + ")"


def wall_mem(res: lb.Result) -> tuple[str, str]:
    runs = res.ok_runs or res.runs
    walls = [r.wall_s for r in runs if r.wall_s is not None]
    rss = [r.peak_rss_kib for r in runs if r.peak_rss_kib is not None]
    wall = lb.fmt_s(statistics.median(walls)) if walls else "–"
    mem = lb.fmt_mb_kib(max(rss)) if rss else "–"
    if len(walls) > 1:
        wall += f" [{lb.fmt_s(min(walls))}–{lb.fmt_s(max(walls))}]"
    if res.runs and not res.ok_runs:
        wall, mem = f"({wall})", f"({mem})"
    return wall, mem


def status_cell(oc: Outcome) -> str:
    res = oc.result
    s = res.status()
    tails = [r.tail for r in res.runs if r.tail]
    if tails:
        s += f" — `{tails[0][-140:]}`"
    if oc.graph and "error" in oc.graph:
        s += f"; inspect: {oc.graph['error'][:100]}"
    if oc.graph and oc.graph.get("shape_inference_error"):
        s += "; no shape inference"
    return esc(s)


def graph_cells(graph: dict | None) -> list[str]:
    if not graph or "nodes" not in graph:
        return ["–", "–", "–", "–"]
    return [str(graph["nodes"]), str(graph["shape_ops"]), str(graph["shape_derived"]), batch_cell(graph)]


HEAD = ["tool", "wall s", "peak MB", "nodes", "Shape ops", "shape-derived nodes", "batch dynamic",
        "numerics (batch 1/3)", "status"]


def group_table(models: list[BenchModel], outcomes: list[Outcome], with_model: bool) -> str:
    head = (["model"] if with_model else []) + HEAD
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    by_model = defaultdict(list)
    for oc in outcomes:
        by_model[oc.model].append(oc)
    for bm in models:
        pre = [f"`{bm.name}`"] if with_model else []
        if bm.error:
            lines.append("| " + " | ".join(pre + ["(model)"] + ["–"] * 7 + [esc(bm.error)]) + " |")
            continue
        g = bm.facts.get("graph")
        ref = bm.facts.get("reference", {})
        ref_runs = ref.get("runs") or {}
        ref_note = ", ".join(f"b{b}: {'runs' if (ref_runs.get(str(b)) or {}).get('ok') else 'fails'}"
                             for b in bm.batches)
        if ref.get("load_error") or ref.get("worker_error"):
            ref_note = f"does not run: {ref.get('load_error') or ref.get('worker_error')}"
        size = lb.human_bytes(bm.facts.get("bytes", 0))
        lines.append("| " + " | ".join(pre + ["original", "–", "–", *graph_cells(g), esc(f"reference ({ref_note})"),
                                               esc(f"{size}" + ("" if not g or "error" not in g else f"; inspect: {g['error']}"))]) + " |")
        for oc in by_model[bm.name]:
            wall, mem = wall_mem(oc.result)
            row = pre + [LABELS[oc.tool], wall, mem, *graph_cells(oc.graph),
                         esc(numerics_cell(oc.numerics, bm.batches)), status_cell(oc)]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def summary_table(models: list[BenchModel], outcomes: list[Outcome], tool_keys: list[str], startup: dict) -> str:
    ok_models = [bm for bm in models if not bm.error]
    n = len(ok_models)
    head = ["tool", "runs ok", "total wall s", "start-up s (--help)", "max peak MB", "nodes (sum)", "Shape ops (sum)",
            "shape-derived (sum)", "models with shape-derived left", "batch dynamic (models)",
            "numerics ok / DIFF / broken"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    graphs = [bm.facts.get("graph") or {} for bm in ok_models]
    good = [g for g in graphs if "nodes" in g]
    lines.append("| original | – | – | – | – | " + " | ".join([
        str(sum(g["nodes"] for g in good)), str(sum(g["shape_ops"] for g in good)),
        str(sum(g["shape_derived"] for g in good)), f"{sum(g['shape_derived'] > 0 for g in good)}/{n}",
        f"{sum(g['batch_dynamic'] for g in good)}/{n}", "reference"]) + " |")
    for key in tool_keys:
        ocs = [oc for oc in outcomes if oc.tool == key and oc.model in {bm.name for bm in ok_models}]
        ran = [oc for oc in ocs if oc.result.runs]
        okc = [oc for oc in ran if oc.result.ok_runs]
        walls = [oc.result.median("wall_s") if oc.result.ok_runs else
                 statistics.median([r.wall_s for r in oc.result.runs if r.wall_s is not None] or [0]) for oc in ran]
        peaks = [r.peak_rss_kib for oc in ran for r in oc.result.runs if r.peak_rss_kib]
        gs = [oc.graph for oc in okc if oc.graph and "nodes" in oc.graph]
        nums = Counter(numerics_class(oc.numerics) for oc in okc)
        st = startup.get("graphfix" if key.startswith("graphfix") else key)
        sums = ([str(sum(g["nodes"] for g in gs)), str(sum(g["shape_ops"] for g in gs)),
                 str(sum(g["shape_derived"] for g in gs)), f"{sum(g['shape_derived'] > 0 for g in gs)}/{len(gs)}",
                 f"{sum(g['batch_dynamic'] for g in gs)}/{len(gs)}"] if gs else ["–"] * 5)
        lines.append("| " + " | ".join([
            LABELS[key], f"{len(okc)}/{len(ocs)}", lb.fmt_s(sum(walls)) if walls else "–",
            lb.fmt_s(st) if st is not None else "–", lb.fmt_mb_kib(max(peaks)) if peaks else "–", *sums,
            f"{nums['ok']} / {nums['DIFF']} / {nums['broken']}"]) + " |")
    return "\n".join(lines)


def goals(large: list[BenchModel], small: list[BenchModel], outcomes: list[Outcome]) -> tuple[list[str], bool]:
    lines: list[str] = []
    verdicts: list[bool] = []
    by = {(oc.model, oc.tool): oc for oc in outcomes}

    def verdict(ok: bool | None) -> str:
        if ok is None:
            return "N/A"
        verdicts.append(ok)
        return "PASS" if ok else "FAIL"

    # 1. speed
    lines.append(f"1. **fix (without verification) in under a third of the fastest peer's time**")
    for bm in [m for m in large if not m.error]:
        gf = by.get((bm.name, "graphfix-noverify"))
        peers = [by[(bm.name, p)] for p in PEERS if (bm.name, p) in by and by[(bm.name, p)].result.ok]
        if not gf or not gf.result.ok or not peers:
            lines.append(f"   - {bm.name}: N/A ({'graphfix fix --no-verify did not succeed' if peers else 'no peer succeeded'})")
            continue
        fastest = min(peers, key=lambda oc: oc.result.median("wall_s"))
        w, fw = gf.result.median("wall_s"), fastest.result.median("wall_s")
        ratio = w / fw
        lines.append(f"   - {bm.name}: {w:.2f} s / {fw:.2f} s ({LABELS[fastest.tool]}) = {ratio:.3f} "
                     f"(= 1/{1 / ratio:.1f}): {verdict(ratio < GOAL_SPEED_RATIO)}")
        gv = by.get((bm.name, "graphfix"))
        if gv and gv.result.ok:
            lines.append(f"     (with verification: {gv.result.median('wall_s'):.2f} s = "
                         f"{gv.result.median('wall_s') / fw:.3f} of the fastest peer; not part of the goal)")
    sm = [m for m in small if not m.error]
    if sm:
        totals = {}
        for p in PEERS:
            both = [m for m in sm if (m.name, p) in by and by[(m.name, p)].result.ok
                    and (m.name, "graphfix-noverify") in by and by[(m.name, "graphfix-noverify")].result.ok]
            if both:
                totals[p] = (sum(by[(m.name, "graphfix-noverify")].result.median("wall_s") for m in both),
                             sum(by[(m.name, p)].result.median("wall_s") for m in both), len(both))
        if totals:
            p = min(totals, key=lambda k: totals[k][1] / totals[k][2])
            g, pw, k = totals[p]
            lines.append(f"   - small batch (total over the {k} models where both succeeded): {g:.1f} s / {pw:.1f} s "
                         f"({LABELS[p]}) = {g / pw:.3f}: {'PASS' if g / pw < GOAL_SPEED_RATIO else 'FAIL'} "
                         f"(informational, not counted by --check-goals: process start-up dominates)")
        else:
            lines.append("   - small batch: N/A (no model where graphfix fix --no-verify and a peer both succeeded)")
    # 2. memory
    lines.append(f"2. **peak memory under {GOAL_PEAK_MB} MB when weights are external**")
    ext = [m for m in [*large, *sm] if not m.error and (m.facts.get("graph") or {}).get("external_data")]
    if not ext:
        lines.append("   - N/A (no model with external weights ran)")
    for key in ("graphfix-noverify", "graphfix"):
        peaks = []
        for m in ext:
            oc = by.get((m.name, key))
            if oc and oc.result.ok:
                peaks.append((max(r.peak_rss_kib for r in oc.result.ok_runs) * 1024 / 1e6, m.name))
            elif oc and oc.result.runs:
                peaks.append((float("inf"), m.name))
        if not peaks:
            continue
        worst = max(peaks)
        big = [p for p in peaks if p[1] in {x.name for x in large}]
        desc = ", ".join(f"{name} {mb:,.0f} MB" for mb, name in big)
        rest = [p for p in peaks if p not in big]
        if rest:
            desc += ("; " if desc else "") + f"{len(rest)} small external-data models, max {max(rest)[0]:,.0f} MB"
        ok = worst[0] < GOAL_PEAK_MB
        if key == "graphfix-noverify":
            lines.append(f"   - {LABELS[key]}: {desc}: {verdict(ok)}")
        else:
            lines.append(f"   - {LABELS[key]} (verification loads the weights into ONNX Runtime; informational): "
                         f"{desc}: {'under' if ok else 'over'} {GOAL_PEAK_MB} MB")
    # 3. shape-derived
    lines.append("3. **zero Shape-derived nodes left where only the batch is dynamic**")
    for key in ("graphfix", "graphfix-noverify"):
        cand = [m for m in [*large, *sm] if not m.error and (m.facts.get("graph") or {}).get("only_batch_dynamic")]
        bad = []
        for m in cand:
            oc = by.get((m.name, key))
            if oc is None or not oc.result.runs:
                continue
            if not oc.result.ok or not oc.graph or "shape_derived" not in oc.graph:
                bad.append(f"{m.name} (no output: {oc.result.status()[:60]})")
            elif oc.graph["shape_derived"]:
                ops = ", ".join(f"{k} {v}" for k, v in sorted(oc.graph["shape_derived_ops"].items()))
                bad.append(f"{m.name} ({oc.graph['shape_derived']}: {ops})")
        checked = [m for m in cand if (m.name, key) in by and by[(m.name, key)].result.runs]
        if not checked:
            continue
        lines.append(f"   - {LABELS[key]}: {len(checked) - len(bad)}/{len(checked)} models clean: "
                     f"{verdict(not bad)}" + ("; left in: " + "; ".join(bad) if bad else ""))
    return lines, bool(verdicts) and all(verdicts)


# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("models", nargs="*", help="large models to bench instead of the default GPT-2-medium export")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per tool and model; the median is shown (default 1)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run before it is killed (default 1800)")
    ap.add_argument("--skip-large", "--small-only", dest="skip_large", action="store_true",
                    help="only the small batch (the two spellings are synonyms)")
    ap.add_argument("--skip-small", action="store_true", help="only the large model(s)")
    ap.add_argument("--large-dynamo", action="store_true", help="also the GPT-2-medium dynamo export")
    ap.add_argument("--zoo", help="comma-separated zoo entries for the small batch (default: all)")
    ap.add_argument("--exporters", default="legacy,dynamo", help="exporters for the small batch (default legacy,dynamo)")
    ap.add_argument("--reuse-exports", action="store_true",
                    help="reuse bench/.cache/zoo/*.onnx when present (default: re-export, ~25 s)")
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"subset of {','.join(TOOLS)}")
    ap.add_argument("--json", type=Path, help="write the raw results here (default bench/.cache/results/fix-<stamp>.json)")
    ap.add_argument("--check-goals", action="store_true", help="exit 1 when a goal is missed")
    ap.add_argument("--keep-outputs", action="store_true", help="keep the tools' outputs (in the work folder)")
    ap.add_argument("--graphfix", help="graphfix executable (default: next to this Python, else on PATH)")
    ap.add_argument("--venv", type=Path, default=lb.DEFAULT_VENV, help="the peers' virtualenv (default bench/.venv-peers)")
    ap.add_argument("--reinstall-peers", action="store_true", help="re-run pip install in the peers' venv")
    ap.add_argument("--tmp-dir", help="where outputs and the work folder go (default: system temp dir)")
    ap.add_argument("--no-prewarm", action="store_true", help="do not read large models into the page cache before each run")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker)

    keys = [t.strip() for t in args.tools.split(",") if t.strip()]
    if bad := [t for t in keys if t not in TOOLS]:
        ap.error(f"unknown tool(s): {', '.join(bad)}")
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    lb.check_gnu_time()
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_dir = CACHE_DIR / "logs" / f"fix-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"fix-bench-{stamp}-", dir=args.tmp_dir))

    large: list[BenchModel] = []
    if not args.skip_large:
        paths = [lb.resolve_model(m, "legacy", 24, args.timeout) for m in args.models] or [
            lb.resolve_model(None, "legacy", 24, args.timeout)]
        if args.large_dynamo and not args.models:
            paths.append(lb.resolve_model(None, "dynamo", 24, args.timeout))
        for p in paths:
            name = p.parent.name if p.name == "model.onnx" else p.stem
            large.append(BenchModel(name, f"large: {name}", p))
    small: list[BenchModel] = []
    if not args.skip_small:
        zoo = [z.strip() for z in (args.zoo or "").split(",") if z.strip()]
        exporters = [e.strip() for e in args.exporters.split(",") if e.strip()]
        small = export_small(zoo, exporters, args.reuse_exports)

    tools, peers_env = make_tools(args, keys)
    startup = startup_times(tools, args.timeout, log_dir)

    outcomes: list[Outcome] = []
    t0 = time.perf_counter()
    for bm in [*large, *small]:
        if bm.error or bm.path is None:
            lb.log(f"== {bm.name}: skipped ({bm.error})")
            continue
        try:
            _, ocs = run_model(bm, tools, args, work, log_dir, prewarm=bm in large and not args.no_prewarm)
        except Exception as e:  # noqa: BLE001 - a bench bug on one model must not lose the others
            bm.error = f"bench error: {type(e).__name__}: {e}"[:200]
            lb.log(f"== {bm.name}: {bm.error}")
            continue
        outcomes.extend(ocs)
    if not args.keep_outputs:
        shutil.rmtree(work, ignore_errors=True)

    # ---- report
    mem_total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    print(f"# graphfix fix bench — {stamp}\n")
    print(f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {lb.human_bytes(mem_total)} RAM; "
          f"Python {platform.python_version()}; timeout {args.timeout:g} s; repeat {args.repeat}; "
          f"bench time {time.perf_counter() - t0:.0f} s")
    lv = lb.local_versions()
    lv.update(venv_versions(sys.executable, ("onnxruntime", "polygraphy")))
    try:
        commit = subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=30).stdout.strip()
        lv["graphfix commit"] = commit or "?"
    except (OSError, subprocess.TimeoutExpired):
        pass
    print("graphfix env: " + ", ".join(f"{k} {v}" for k, v in lv.items()))
    if peers_env:
        print(f"peers env ({args.venv}): " + ", ".join(f"{k} {v}" for k, v in peers_env.items()))
    if startup:
        print("start-up (`--help` wall time): " + ", ".join(f"{k} {lb.fmt_s(v)} s" for k, v in startup.items()))
    print()
    groups: dict[str, list[BenchModel]] = defaultdict(list)
    for bm in [*large, *small]:
        groups[bm.group].append(bm)
    for group, models in groups.items():
        print(f"## {group}\n")
        if len(models) == 1 and models[0].group.startswith("large"):
            ei = {}
            info = models[0].path.parent / "export_info.json" if models[0].path else None
            if info and info.is_file():
                ei = json.loads(info.read_text())
            if ei:
                print(f"`{models[0].path}`: {ei.get('layers')} layers, {ei.get('params', 0) / 1e6:.0f}M params, "
                      f"{ei.get('exporter')} exporter, opset {ei.get('opset')}, "
                      f"{lb.human_bytes(models[0].facts.get('bytes', 0))}\n")
        print(group_table(models, [oc for oc in outcomes if oc.group == group],
                          with_model=not group.startswith("large")))
        print()
    if small:
        good = [m for m in small if not m.error]
        print(f"## small batch: summary ({len(good)} models, {len({m.zoo for m in good})} zoo entries x "
              f"{len({m.group for m in good})} exporters)\n")
        print(summary_table(small, outcomes, [t.key for t in tools], startup))
        print()
    goal_lines, all_pass = goals(large, small, outcomes)
    print("## Goals\n")
    print("\n".join(goal_lines))
    print()
    print("Commands (each under `/usr/bin/time -v`; OUT is a fresh folder per run):")
    for t in tools:
        shown = shlex.join(t.argv(Path("MODEL"), Path("OUT/model.onnx"))) if t.exe else LABELS[t.key]
        print(f"- `{shown}`"
              + (" (+ `--save-external-data` when MODEL has external data)" if t.key == "polygraphy" else "")
              + (f" — not run: {t.unavailable}" if t.unavailable else ""))
    print(f"\nLogs: {log_dir}")
    json_path = args.json or (CACHE_DIR / "results" / f"fix-{stamp}.json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({
        "stamp": stamp, "graphfix_env": lv, "peers_env": peers_env, "repeat": args.repeat,
        "timeout": args.timeout, "startup_s": startup,
        "models": [{"name": m.name, "group": m.group, "path": str(m.path), "error": m.error,
                    "batches": list(m.batches), **m.facts} for m in [*large, *small]],
        "results": [{"model": oc.model, "tool": oc.tool, "label": LABELS[oc.tool], "version": oc.result.version,
                     "command": oc.result.command, "status": oc.result.status(),
                     "median_wall_s": oc.result.median("wall_s"),
                     "median_peak_rss_kib": oc.result.median("peak_rss_kib"),
                     "graph": oc.graph, "numerics": oc.numerics,
                     "runs": [asdict(r) for r in oc.result.runs]} for oc in outcomes],
        "goals": goal_lines,
    }, indent=2, default=str) + "\n")
    print(f"Raw results: {json_path}")
    return 1 if (args.check_goals and not all_pass) else 0


if __name__ == "__main__":
    sys.exit(main())
