#!/usr/bin/env python
"""How to run models with custom ops (tensorRT_Pro ``Plugin`` nodes) for verification: three mechanisms.

    partitioned   graphfix.plugins.session_for: the standard part of the graph in ONNX Runtime, cut at the
                  custom nodes (one custom node: two sessions), each custom node in numpy between them
    extensions    onnxruntime-extensions' Python operators: every custom node is renamed into a private
                  domain/op (``graphfix.ref::N<k>``, attributes dropped: the Python side knows them),
                  declared with ``onnx_op`` (its input/output dtypes), and the library is registered with
                  ``SessionOptions.register_custom_ops_library(get_library_path())``
    reference     onnx.reference.ReferenceEvaluator with one custom ``OpRun`` class per custom node
                  (every op in numpy)

All three call the same reference function (``HSwish`` below) through a graphfix Registry.

Models (torch, seeded, random init; legacy exporter, as the seed exports):
    hswish   the seed's FooModel: Plugin(name="HSwish") on [N,3,3,3] with a (3,3,3,3) bias initializer
    cnn      a mid-size CNN, 3x224x224 in, 13 convolutions, ~1.2 M parameters, one HSwish Plugin on
             [N,64,56,56] after the second stage

Measured: load time (session construction, s) and memory (RSS growth after loading and one run at batch 1
and 8, MB), each mechanism in a fresh subprocess; run time at batch 1 and 8 in one process, the mechanisms
interleaved in rounds (median ms, and the paired ratio to native ONNX Runtime); the largest absolute
difference from torch. "native" is the model with the plugin replaced by ONNX HardSwish (the same function).
Then a capability table on hand-built models: a default-domain Plugin, two outputs, every attribute type,
float16 tensors, a FLOAT attribute through each mechanism's own channel, one op registered twice.

    python bench/custom_ops_bench.py [--rounds 15] [--json bench/.cache/custom_ops.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "plugins"))

import plugin_models as pm  # noqa: E402

from graphfix.plugins.registry import NodeView, Registry  # noqa: E402


def HSwish(x, bias, info):  # noqa: N802, ANN001, ANN201 - the op's name, as a --custom-ops file spells it
    return x * np.clip(x + 3, 0, 6) / 6


def registry() -> Registry:
    reg = Registry()
    reg.register("HSwish", HSwish)
    reg.register("UpsampleAdd", lambda x, skip, scale, gain: pm.upsample_add(x, skip, scale, gain))
    reg.register("Everything", pm.everything)
    reg.register("Twice", lambda x: (x + 1, x * 2))
    return reg


# -- the three mechanisms ---------------------------------------------------------------------------

def partitioned(path: str, reg: Registry):  # noqa: ANN201
    import onnxruntime as ort

    from graphfix.plugins.session import session_for

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return session_for(path, reg, options=options)


_extension_ids = iter(range(10**9))


def extensions(path: str, reg: Registry):  # noqa: ANN201
    import onnx
    import onnxruntime as ort
    from onnxruntime_extensions import PyCustomOpDef, get_library_path, onnx_op

    from graphfix.plugins.nodes import runs_natively

    model = onnx.load(path)
    types = {v.name: v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.value_info,
                                                            *model.graph.output]}
    types.update({t.name: t.data_type for t in model.graph.initializer})
    pytype = {1: PyCustomOpDef.dt_float, 10: PyCustomOpDef.dt_float16, 11: PyCustomOpDef.dt_double,
              7: PyCustomOpDef.dt_int64, 6: PyCustomOpDef.dt_int32, 9: PyCustomOpDef.dt_bool}
    for node in model.graph.node:
        if runs_natively(node.op_type, node.domain):
            continue
        view = NodeView.of(node)
        op_type = f"N{next(_extension_ids)}"
        inputs = [pytype[types.get(name, 1)] for name in node.input]
        outputs = [pytype[types.get(name, 1) or 1] for name in node.output]

        def call(*arrays, _view=view):  # noqa: ANN001, ANN202
            results = reg.run(_view, list(arrays))
            return results[0] if len(results) == 1 else tuple(results)

        onnx_op(op_type=f"graphfix.ref::{op_type}", inputs=inputs, outputs=outputs)(call)
        node.op_type, node.domain = op_type, "graphfix.ref"
        del node.attribute[:]
    if not any(o.domain == "graphfix.ref" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("graphfix.ref", 1))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.register_custom_ops_library(get_library_path())
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def reference(path: str, reg: Registry):  # noqa: ANN201
    import onnx
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun

    from graphfix.plugins.nodes import runs_natively

    model = onnx.load(path)
    classes = {}
    for node in model.graph.node:
        if runs_natively(node.op_type, node.domain) or (node.domain, node.op_type) in classes:
            continue
        view = NodeView.of(node)

        def _run(self, *arrays, _view=view, **attributes):  # noqa: ANN001, ANN202
            return tuple(reg.run(_view, list(arrays)))

        classes[(node.domain, node.op_type)] = type(node.op_type, (OpRun,), {"op_domain": node.domain,
                                                                             "_run": _run})
    evaluator = ReferenceEvaluator(model, new_ops=list(classes.values()))

    class Session:
        def run(self, names, feeds):  # noqa: ANN001, ANN202
            return evaluator.run(names, feeds)

    return Session()


MECHANISMS = {"partitioned": partitioned, "extensions": extensions, "reference": reference}


# -- models -----------------------------------------------------------------------------------------

def native_variant(source: Path, target: Path) -> Path:
    """The same model with every HSwish Plugin replaced by ONNX's HardSwish (the same function:
    x * clip(x + 3, 0, 6) / 6), run by plain ONNX Runtime: the floor the mechanisms are compared to."""
    import onnx

    model = onnx.load(str(source))
    for node in model.graph.node:
        if node.op_type == "Plugin":
            node.op_type, node.domain = "HardSwish", ""
            del node.input[1:]
            del node.attribute[:]
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version < 14:
            opset.version = 14  # HardSwish needs opset 14
    onnx.save(model, str(target))
    return target


def build_models(directory: Path) -> dict[str, Path]:
    import torch

    paths = {"hswish": directory / "hswish.onnx", "cnn": directory / "cnn.onnx"}
    if not paths["hswish"].exists():
        pm.export_hswish(paths["hswish"], "legacy")
    if not paths["cnn"].exists() or not (directory / "cnn.pt").exists():
        pm.cnn_with_plugin(paths["cnn"])
        torch.save(pm.cnn_with_plugin.module.state_dict(), directory / "cnn.pt")
    for name in ("hswish", "cnn"):
        paths[f"{name}-native"] = native_variant(paths[name], directory / f"{name}-native.onnx")
    return paths


def feeds(model: str, batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch)
    if model == "hswish":
        return {"input1": (rng.standard_normal((batch, 3, 3, 3)) * 3).astype(np.float32),
                "input2": rng.standard_normal((batch, 3, 3, 3)).astype(np.float32)}
    return {"x": rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)}


_torch_cache: dict[str, object] = {}


def torch_outputs(model: str, directory: Path, feed: dict[str, np.ndarray]) -> np.ndarray:
    import torch

    if model not in _torch_cache:
        if model == "hswish":
            _torch_cache[model] = pm._torch_seed()
        else:
            pm.cnn_with_plugin(directory / "cnn-again.onnx")
            net = pm.cnn_with_plugin.module
            net.load_state_dict(torch.load(directory / "cnn.pt"))
            _torch_cache[model] = net
    net = _torch_cache[model]
    args = (tuple(torch.from_numpy(feed[n]) for n in ("input1", "input2")) if model == "hswish"
            else (torch.from_numpy(feed["x"]),))
    with torch.no_grad():
        return net(*args).numpy()  # type: ignore[operator]


def make_session(mechanism: str, path: str):  # noqa: ANN201
    if mechanism == "native":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return MECHANISMS[mechanism](path, registry())


# -- memory and load time: one fresh subprocess per mechanism ---------------------------------------

def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def memory(mechanism: str, model: str, path: str) -> dict[str, object]:
    import onnxruntime  # noqa: F401 - imported before the baseline, like the rest of the pipeline

    baseline = rss_mb()
    start = time.perf_counter()
    session = make_session(mechanism, path)
    load = time.perf_counter() - start
    first = time.perf_counter()
    for batch in (1, 8):
        session.run(None, feeds(model, batch))
    first = time.perf_counter() - first
    return {"load_s": round(load, 3), "first_runs_s": round(first, 3),
            "rss_growth_mb": round(rss_mb() - baseline, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


# -- run time: interleaved rounds in one process ----------------------------------------------------

def timings(model: str, paths: dict[str, Path], directory: Path, rounds: int) -> list[dict[str, object]]:
    """Every mechanism once per round, the order rotating, a 50 ms pause before each run (ONNX Runtime's
    workers spin after a run and would slow the next session on 2 cores); the reference evaluator only
    every third round on the CNN. Reported: the median in ms, and the paired ratio to native ONNX
    Runtime (median over rounds of this run / native's run in the same round: the machine's drift cancels)."""
    mechanisms = ["native", *MECHANISMS]
    sessions = {m: make_session(m, str(paths[f"{model}-native"] if m == "native" else paths[model]))
                for m in mechanisms}
    rows = []
    for batch in (1, 8):
        feed = feeds(model, batch)
        expected = torch_outputs(model, directory, feed)
        errors = {}
        for m, session in sessions.items():
            out = session.run(None, feed)[0]  # warm-up, and the correctness check
            errors[m] = float(np.abs(out - expected).max())
        times: dict[str, list[float | None]] = {m: [] for m in mechanisms}
        for index in range(rounds):
            shift = index % len(mechanisms)
            for m in mechanisms[shift:] + mechanisms[:shift]:
                if m == "reference" and model == "cnn" and index % 3:
                    times[m].append(None)
                    continue
                time.sleep(0.05)
                start = time.perf_counter()
                sessions[m].run(None, feed)
                times[m].append(time.perf_counter() - start)
        for m in mechanisms:
            own = [t for t in times[m] if t is not None]
            ratios = [t / n for t, n in zip(times[m], times["native"]) if t is not None and n]
            rows.append({"model": model, "batch": batch, "mechanism": m,
                         "median_ms": round(statistics.median(own) * 1e3, 2),
                         "vs_native": round(statistics.median(ratios), 2), "runs": len(own),
                         "max_abs_vs_torch": errors[m]})
    return rows


# -- capabilities -------------------------------------------------------------------------------------

def capabilities(directory: Path) -> list[dict[str, object]]:
    import onnx
    import onnx.helper as oh
    from onnx import TensorProto

    rows = []
    x8 = np.random.default_rng(0).standard_normal((8, 3, 3, 3)).astype(np.float32)
    cases = {}
    # 1. The seed's legacy form: Plugin in the default domain.
    cases["Plugin in the default domain (seed, legacy)"] = (pm.hswish_onnx(""), {"input1": x8, "input2": x8},
                                                           lambda o: pm.hswish_model(x8, x8))
    # 2. Any custom domain.
    cases["Plugin in a custom domain"] = (pm.hswish_onnx("tensorrt_pro"), {"input1": x8, "input2": x8},
                                          lambda o: pm.hswish_model(x8, x8))
    # 3. Two outputs.
    two = oh.make_model(oh.make_graph(
        [oh.make_node("Twice", ["x"], ["a", "b"], domain="d")], "g",
        [oh.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [oh.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3]),
         oh.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3])]),
        opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("d", 1)], ir_version=8)
    xs = np.ones((8, 3), np.float32)
    cases["two outputs"] = (two, {"x": xs}, lambda o: [xs + 1, xs * 2])
    # 4. Every attribute type (INT, FLOAT 0.123456789, STRING, INTS, FLOATS, STRINGS, TENSOR), checked
    #    inside the reference for exact values.
    xz = np.ones((8, 4), np.float32)
    cases["attributes of every type, exact"] = (pm.attribute_zoo_onnx(), {"x": xz}, None)
    # 5. float16 tensors.
    half = pm.upsample_add_onnx()
    for value in [*half.graph.input, *half.graph.output]:
        value.type.tensor_type.elem_type = TensorProto.FLOAT16
    xh = np.ones((2, 4, 8, 8), np.float16)
    sh = np.ones((2, 4, 16, 16), np.float16)
    cases["float16 tensors"] = (half, {"x": xh, "skip": sh}, lambda o: np.maximum(pm.upsample_add(xh, sh), 0))
    for name, (model, feed, expect) in cases.items():
        path = directory / f"cap-{len(rows)}.onnx"
        onnx.save(model, str(path))
        row: dict[str, object] = {"case": name}
        for mechanism, make in MECHANISMS.items():
            try:
                session = make(str(path), registry())
                out = session.run(None, feed)
                ok = expect is None or all(np.allclose(a, b, atol=1e-3) for a, b in
                                           zip(out, expect(out) if isinstance(expect(out), list) else [expect(out)]))
                row[mechanism] = "yes" if ok else "wrong result"
            except Exception as error:  # noqa: BLE001 - the table records the failure
                row[mechanism] = "no: " + (str(error).strip().splitlines() or [type(error).__name__])[-1][:90]
        rows.append(row)
    # 7. A FLOAT attribute through each mechanism's own attribute channel.
    row = {"case": "FLOAT attribute 0.123456789 as the reference receives it"}
    zoo = directory / "cap-zoo.onnx"
    onnx.save(pm.attribute_zoo_onnx(), str(zoo))
    seen: list[float] = []

    def record(x, **attributes):  # noqa: ANN001, ANN202
        seen.append(attributes["ratio"])
        return x.sum(axis=1), x

    for mechanism in MECHANISMS:
        seen.clear()
        reg = Registry()
        reg.register("Everything", record)
        try:
            session = (natural_extensions(str(zoo), reg, attrs=True) if mechanism == "extensions"
                       else MECHANISMS[mechanism](str(zoo), reg))
            session.run(None, {"x": xz})
            row[mechanism] = repr(float(seen[0]))
        except Exception as error:  # noqa: BLE001
            row[mechanism] = "no: " + (str(error).strip().splitlines() or [""])[-1][:90]
    rows.append(row)
    # 8. The same op in two sessions with different references (a second registration). The extensions
    #    mechanism above dodges this by registering a private op per node and session (each one a
    #    process-wide registration that is never released); registered the natural way (domain::op):
    path = directory / "cap-seed.onnx"
    onnx.save(pm.hswish_onnx("tensorrt_pro"), str(path))
    row = {"case": "the same op registered twice in one process (natural registration)"}
    for mechanism, make in {**MECHANISMS, "extensions": natural_extensions}.items():
        try:
            make(str(path), registry()).run(None, {"input1": x8, "input2": x8})
            make(str(path), registry()).run(None, {"input1": x8, "input2": x8})
            row[mechanism] = "yes"
        except Exception as error:  # noqa: BLE001
            row[mechanism] = "no: " + (str(error).strip().splitlines() or [""])[-1][:90]
    rows.append(row)
    return rows


def natural_extensions(path: str, reg: Registry, attrs: bool = False):  # noqa: ANN201
    """onnxruntime-extensions used as documented: ``onnx_op(op_type="domain::Op", attrs=...)`` per op type."""
    import onnx
    import onnxruntime as ort
    from onnxruntime_extensions import PyCustomOpDef, get_library_path, onnx_op

    from graphfix.plugins.nodes import runs_natively

    model = onnx.load(path)
    for node in model.graph.node:
        if runs_natively(node.op_type, node.domain):
            continue
        view = NodeView.of(node)
        declared = {"ratio": PyCustomOpDef.dt_float} if attrs else {}

        def call(*arrays, _view=view, **attributes):  # noqa: ANN001, ANN202
            op = reg.lookup(_view)
            results = op.fn(*arrays, **attributes) if attrs else reg.run(_view, list(arrays))
            return results if not isinstance(results, list) else tuple(results)

        onnx_op(op_type=f"{node.domain}::{node.op_type}", inputs=[PyCustomOpDef.dt_float] * len(node.input),
                outputs=[PyCustomOpDef.dt_float] * len(node.output), attrs=declared)(call)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.register_custom_ops_library(get_library_path())
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])




def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / ".cache" / "custom_ops.json")
    parser.add_argument("--memory", nargs=3, metavar=("MECHANISM", "MODEL", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        print(json.dumps(memory(*args.memory)))
        return 0
    directory = ROOT / "bench" / ".cache" / "custom_ops"
    directory.mkdir(parents=True, exist_ok=True)
    paths = build_models(directory)
    loads = []
    for model in ("hswish", "cnn"):
        for mechanism in ("native", *MECHANISMS):
            path = paths[f"{model}-native"] if mechanism == "native" else paths[model]
            done = subprocess.run([sys.executable, __file__, "--memory", mechanism, model, str(path)],
                                  capture_output=True, text=True, check=False)
            row: dict[str, object] = {"model": model, "mechanism": mechanism}
            if done.returncode:
                row["error"] = done.stderr.strip().splitlines()[-1]
            else:
                row.update(json.loads(done.stdout.strip().splitlines()[-1]))
            loads.append(row)
            print(json.dumps(row), flush=True)
    runs = []
    for model in ("hswish", "cnn"):
        for row in timings(model, paths, directory, args.rounds):
            runs.append(row)
            print(json.dumps(row), flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        caps = capabilities(Path(scratch))
    for row in caps:
        print(json.dumps(row), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"load_memory": loads, "timings": runs, "capabilities": caps}, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sys.exit(main())
