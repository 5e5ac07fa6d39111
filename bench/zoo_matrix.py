"""The real-architecture zoo (tests/models/archs.py) x both exporters x export kinds x fix modes, judged.

    python bench/zoo_matrix.py                                  # every model, legacy and dynamo
    python bench/zoo_matrix.py --models swin,detr --exporters legacy --out /tmp/zoo

For each model and exporter, the model is exported with a dynamic batch (``dyn``) and with a static one
(``static``), then:

- ``graphfix lint`` (exit code, findings);
- ``graphfix fix`` by default and with ``--unsafe-fixes``; on static exports also with ``--dynamic-batch
  --unsafe-fixes``;
- each written model: verification passed, every input's batch symbolic (expected for ``dyn`` and for
  ``--dynamic-batch``), outputs equal torch eager at batches 1, 2, 3 (only at the export batch 2 when the
  batch stays static), Shape/Size nodes before and after, and the exit code of ``graphfix lint`` on it.

A row is ``ok`` when the exit code is 0 and every check holds; ``left`` when graphfix exits 1 with the
model written and right at the batches it runs (a finding stays, e.g. a baked batch without
``--unsafe-fixes``); ``refused`` when it exits 2 and writes nothing (the reason is shown); ``WRONG`` when a
written model computes something else, ``CRASH`` on an exception. Writes ``results.json`` into ``--out``
and prints one line per case and a table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _cli(args: list[str]) -> tuple[int | str, str, str]:
    from graphfix.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    except Exception:  # noqa: BLE001 - a crash is a verdict here
        return "CRASH", out.getvalue(), err.getvalue() + traceback.format_exc()
    return code, out.getvalue(), err.getvalue()


def _shape_nodes(path: Path) -> int:
    import onnx

    return sum(n.op_type in ("Shape", "Size") for n in onnx.load(str(path), load_external_data=False).graph.node)


def _dynamic(path: Path) -> bool:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return all(bool(i.type.tensor_type.shape.dim[0].dim_param) for i in graph.input)


def _wrong(zm, path: Path, batches: list[int], original: Path) -> list[str]:
    """Batches where ``path`` computes neither what torch computes nor what the original export does (a
    model that bakes its batch is as wrong as the original until ``--unsafe-fixes`` repairs it)."""
    import numpy as np
    import onnxruntime as ort
    from models.exports import make_inputs, run_torch

    def same(a: list, b: list) -> bool:
        return all(x.shape == y.shape and np.allclose(x, y, rtol=1e-3, atol=1e-4) for x, y in zip(a, b))

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    reference = ort.InferenceSession(str(original), providers=["CPUExecutionProvider"])
    bad = []
    for batch in batches:
        feeds = make_inputs(zm, batch, seed=batch)
        try:
            got = session.run(None, feeds)
        except Exception as error:  # noqa: BLE001
            bad.append(f"batch {batch}: fails ({str(error)[:80]})")
            continue
        if same(run_torch(zm, feeds), got):
            continue
        try:
            matches_original = same(reference.run(None, feeds), got)
        except Exception:  # noqa: BLE001 - the original does not run there
            matches_original = False
        if not matches_original:
            bad.append(f"batch {batch}: outputs differ from torch and from the original")
    return bad


def run_case(name: str, exporter: str, kind: str, folder: Path) -> list[dict]:
    from models.archs import ARCHS

    from graphfix.export import export

    zm = ARCHS[name]()
    source = folder / f"{name}-{exporter}-{kind}.onnx"
    rows: list[dict] = []
    base = {"model": name, "exporter": exporter, "kind": kind}
    try:
        export(zm.module, zm.inputs, source, exporter=exporter, input_names=zm.input_names,
               output_names=zm.output_names, dynamic_batch=kind == "dyn")
    except Exception as error:  # noqa: BLE001
        return [{**base, "mode": "export", "verdict": "export-failed", "detail": str(error)[:200]}]
    code, out, err = _cli(["lint", str(source), "--format", "json", "-q"])
    findings = [f["code"] for entry in json.loads(out)["files"] for f in entry["findings"]] if code != "CRASH" else []
    rows.append({**base, "mode": "lint", "verdict": "CRASH" if code == "CRASH" else "ok", "exit": code,
                 "findings": findings, "shape_nodes": _shape_nodes(source), "detail": err[-400:] if code == "CRASH" else ""})
    modes = [("default", []), ("unsafe", ["--unsafe-fixes"])]
    if kind == "static":
        modes.append(("dynamic-batch", ["--dynamic-batch", "--unsafe-fixes"]))
    for mode, flags in modes:
        target = folder / f"{name}-{exporter}-{kind}-{mode}.fixed.onnx"
        target.unlink(missing_ok=True)
        start = time.perf_counter()
        code, out, err = _cli(["fix", str(source), "-o", str(target), "--format", "json", "-q", *flags])
        row = {**base, "mode": mode, "exit": code, "seconds": round(time.perf_counter() - start, 2)}
        if code == "CRASH":
            rows.append({**row, "verdict": "CRASH", "detail": err[-800:]})
            continue
        if not target.exists():
            rows.append({**row, "verdict": "refused" if code == 2 else f"exit {code}, nothing written",
                         "detail": err.strip().splitlines()[-1][:300] if err.strip() else ""})
            continue
        report = json.loads(out)
        dynamic = _dynamic(target)
        want_dynamic = kind == "dyn" or mode == "dynamic-batch"
        wrong = _wrong(zm, target, [1, 2, 3] if dynamic else [2], source)
        relint, _, _ = _cli(["lint", str(target), "-q"])
        verification = report.get("verification") or {}
        checks_hold = not wrong and dynamic == want_dynamic and verification.get("passed") is not False
        verdict = "WRONG" if wrong else ("ok" if code == 0 and checks_hold and relint == 0 else
                                         "left" if code == 1 and checks_hold else "check")
        rows.append({**row, "verdict": verdict, "verified": verification.get("passed"), "dynamic": dynamic,
                     "wrong": wrong, "shape_nodes": [_shape_nodes(source), _shape_nodes(target)],
                     "relint_exit": relint, "remaining": [f["code"] for f in report.get("remaining", [])]})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="all", help="comma-separated names from tests/models/archs.py")
    parser.add_argument("--exporters", default="legacy,dynamo")
    parser.add_argument("--kinds", default="dyn,static")
    parser.add_argument("--out", default=str(ROOT / "bench" / ".cache" / "zoo"))
    args = parser.parse_args()
    from models.archs import ARCHS

    names = list(ARCHS) if args.models == "all" else args.models.split(",")
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for name in names:
        for exporter in args.exporters.split(","):
            for kind in args.kinds.split(","):
                for row in run_case(name, exporter, kind, folder):
                    rows.append(row)
                    shown = {k: v for k, v in row.items() if k not in ("model", "exporter", "kind", "mode")}
                    print(f"{name:18} {exporter:7} {kind:6} {row['mode']:13} {json.dumps(shown)[:300]}", flush=True)
    (folder / "results.json").write_text(json.dumps(rows, indent=1))
    tally: dict[tuple[str, str, str], dict[str, int]] = {}
    for row in rows:
        if row["mode"] == "lint":
            continue
        counts = tally.setdefault((row["exporter"], row["kind"], row["mode"]), {})
        counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
    print("\nexporter kind   mode          verdicts")
    for (exporter, kind, mode), counts in sorted(tally.items()):
        print(f"{exporter:8} {kind:6} {mode:13} {dict(sorted(counts.items()))}")
    return 1 if any(r["verdict"] in ("WRONG", "CRASH", "check") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
