"""Judge graphfix on one shape program and one torch exporter.

``judge(program, exporter, workdir) -> CaseResult``:

1. export ``program`` at its export batch, the way /work/shared/cases/_export.py does: legacy
   (``dynamo=False``, opset 17, ``dynamic_axes`` dim 0 "batch" on input and output) or dynamo
   (``dynamo=True``, ``torch.export.Dim("batch")``, opset 17, again at 18 when torch's down-conversion
   leaves a file onnx.checker rejects);
2. ``graphfix.lint`` the export; ``graphfix.fix`` it in two modes, ``default`` and ``unsafe``
   (``unsafe_fixes=True``, plus ``dynamic_batch=True`` when lint reports GF302, a static batch); when a
   mode refuses, run it again with ``force=True`` to get the model it would have written;
3. run torch eager (the ground truth), the original ONNX and every model graphfix wrote, in ONNX Runtime
   (CPU, basic optimisations as graphfix verifies) at batches 1, 2, 3, 4, and classify each mode.

Verdicts, most severe first (a case's verdict is its worse mode):

``invalid-program`` eager torch fails on the program (a generator bug; should never be counted).
``export-failed``  torch could not export the program (not graphfix's fault; counted).
``crash``          graphfix raised something that is not a ``GraphfixError`` (an internal error), or wrote a
                   model that onnx.checker or ONNX Runtime cannot load.
``wrong``          graphfix wrote a model (without force) that, at a batch where it runs, equals neither
                   torch eager nor the original ONNX there (atol 1e-5, rtol 1e-4, shapes too); or that
                   fails at a batch where the original ran and was right.
``bad-export``     the original itself is broken: onnx.checker rejects it, or at the export batch it fails
                   or differs from torch eager. graphfix cannot be judged on numerics; its message is kept
                   (does it name the export, or blame itself?).
``error``          graphfix refused with a ``GraphfixError`` that is not a verification failure.
``caught``         graphfix refused (verification), and rightly: the forced model is wrong or does not load.
``refused``        graphfix refused (verification), yet the forced model is right: it runs at the export
                   batch and, wherever it runs, equals torch eager or the original ONNX. A refused correct fix.
``left``           written and right, but findings remain, or the model fails at a batch where torch runs
                   (e.g. a baked batch left in place by the default mode). The remaining codes are recorded.
``ok``             written (or nothing to change), right, nothing remains, runs at every batch.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import sys
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .shape_programs import ShapeProgram

ATOL, RTOL = 1e-5, 1e-4  # graphfix's own verification tolerances
BATCHES = (1, 2, 3, 4)
EXPORTERS = ("legacy", "dynamo")
MODES = ("default", "unsafe")
SEVERITY = ("crash", "wrong", "bad-export", "error", "caught", "refused", "left", "ok")
VERDICTS = ("invalid-program", "export-failed", "timeout", *SEVERITY)

for _name in (
    "torch",
    "torch.onnx",
    "torch.export",
    "torch._dynamo",
    "onnxscript",
    "onnx_ir",
    "torch.fx.experimental.symbolic_shapes",
    "torch._export",
):
    logging.getLogger(_name).setLevel(logging.ERROR)


# ---- export ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet():
    """Silence torch's and ONNX Runtime's chatter, Python's and the C++ libraries' (file descriptors 1, 2)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def export(program: ShapeProgram, exporter: str, path: Path) -> Path:
    """Export ``program`` at its export batch with ``exporter`` ("legacy" or "dynamo") to ``path``."""
    import onnx
    import torch

    # torch's structured trace logger records at DEBUG; keep it out of pytest's captured logs.
    logging.getLogger("torch.__trace").propagate = False
    module = program.module()
    args = (torch.from_numpy(program.inputs(program.export_batch)),)
    if exporter == "legacy":
        with _quiet(), torch.no_grad():
            torch.onnx.export(
                module,
                args,
                str(path),
                dynamo=False,
                opset_version=17,
                input_names=["x"],
                output_names=["y"],
                dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            )
        return path
    batch = torch.export.Dim("batch", min=1, max=64)
    for opset in (17, 18):
        with _quiet(), torch.no_grad():
            onnx_program = torch.onnx.export(
                module,
                args,
                dynamo=True,
                opset_version=opset,
                input_names=["x"],
                output_names=["y"],
                dynamic_shapes=({0: batch},),
            )
            onnx_program.save(str(path), external_data=False)
        try:
            onnx.checker.check_model(onnx.load(str(path)), full_check=True)
            return path
        except onnx.checker.ValidationError:
            if opset == 18:
                return path  # kept: the judge records the checker error as a bad export
    return path


# ---- running ---------------------------------------------------------------------------------------


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    node = re.search(r"running (\w+) node\. Name:'([^']*)' Status Message: (.*)", text)
    if node:
        op, name, message = node.groups()
        tail = message.rsplit(" was false. ", 1)[-1]
        return f"{op} {name!r}: {tail[:200]}"
    return re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)[:300]


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _equal(a: list[np.ndarray] | None, b: list[np.ndarray] | None) -> bool:
    if a is None or b is None or len(a) != len(b):
        return False
    return all(x.shape == y.shape and np.allclose(x, y, atol=ATOL, rtol=RTOL) for x, y in zip(a, b))


def _diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    if any(x.shape != y.shape for x, y in zip(a, b)):
        return float("inf")
    return max(float(np.max(np.abs(x.astype(np.float64) - y), initial=0.0)) for x, y in zip(a, b))


@dataclass
class Runs:
    """One ONNX model at each batch: outputs, or the error that stopped it."""

    outputs: dict[int, list[np.ndarray] | None] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    load_error: str | None = None

    @property
    def runs_at(self) -> list[int]:
        return [b for b, out in self.outputs.items() if out is not None]


def run_model(path: Path, feeds: dict[int, np.ndarray], check: bool = True) -> Runs:
    import onnx

    runs = Runs()
    try:
        if check:
            onnx.checker.check_model(str(path), full_check=True)
        session = _session(path)
    except Exception as error:  # noqa: BLE001 - recorded
        runs.load_error = f"{type(error).__name__}: {_short(error)}"
        return runs
    name = session.get_inputs()[0].name
    for batch, x in feeds.items():
        try:
            runs.outputs[batch] = session.run(None, {name: x})
        except Exception as error:  # noqa: BLE001 - the faults we look for
            runs.outputs[batch] = None
            runs.errors[batch] = _short(error)
    return runs


# ---- results ---------------------------------------------------------------------------------------


@dataclass
class ModeResult:
    mode: str
    verdict: str = "ok"
    options: str = ""  # the graphfix.fix keyword arguments of this mode
    why: str = ""
    exit: int = 0  # graphfix's CLI exit: 0 clean, 1 findings remain, 2 refused/error
    message: str = ""  # graphfix's error message, or its verification message
    error_type: str = ""
    applied: list[str] = field(default_factory=list)  # "CODE node"
    remaining: list[str] = field(default_factory=list)
    remaining_messages: list[str] = field(default_factory=list)  # "CODE node: message"
    verification: dict[str, Any] | None = None
    written: bool = False
    forced: bool = False  # the judged model came from force=True
    runs_at: list[int] = field(default_factory=list)
    fails_at: dict[int, str] = field(default_factory=dict)
    wrong_at: dict[int, float] = field(default_factory=dict)  # batch -> max abs diff to torch
    traceback: str = ""

    @property
    def remaining_codes(self) -> list[str]:
        return sorted({r.split()[0] for r in self.remaining})


@dataclass
class CaseResult:
    seed: int
    exporter: str
    export_batch: int
    patterns: list[str]
    bake: str | None
    verdict: str = "ok"
    export_error: str = ""
    original_checker: str = ""
    original_runs_at: list[int] = field(default_factory=list)
    original_fails_at: dict[int, str] = field(default_factory=dict)
    original_wrong_at: list[int] = field(default_factory=list)  # runs but differs from torch
    lint: list[str] = field(default_factory=list)  # findings before: "CODE node"
    lint_messages: list[str] = field(default_factory=list)  # "CODE node: message"
    lint_error: str = ""
    modes: dict[str, ModeResult] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for mode in data["modes"].values():
            mode["fails_at"] = {str(k): v for k, v in mode["fails_at"].items()}
            mode["wrong_at"] = {str(k): v for k, v in mode["wrong_at"].items()}
        data["original_fails_at"] = {str(k): v for k, v in data["original_fails_at"].items()}
        return data

    def summary(self) -> str:
        parts = [f"{self.exporter} seed {self.seed} (export batch {self.export_batch}): {self.verdict}"]
        if self.export_error:
            parts.append(f"  export: {self.export_error}")
        if self.original_checker:
            parts.append(f"  original fails onnx.checker: {self.original_checker}")
        parts.append(
            f"  original runs at {self.original_runs_at}, wrong vs torch at {self.original_wrong_at}; "
            f"lint: {', '.join(self.lint) or 'clean'}"
        )
        for mode in self.modes.values():
            parts.append(
                f"  {mode.mode}: {mode.verdict} ({mode.why}) exit {mode.exit}; "
                f"applied {len(mode.applied)}; remaining {', '.join(mode.remaining) or '-'}; "
                f"runs at {mode.runs_at}"
            )
            if mode.message:
                parts.append(f"    message: {mode.message}")
        return "\n".join(parts)


def _finding(f: Any) -> str:
    return f"{f.code} {f.node_name or '-'}"


def _message(f: Any) -> str:
    return f"{_finding(f)}: {' '.join(str(f.message).split())[:500]}"


def _worst(verdicts: list[str]) -> str:
    return min(verdicts, key=SEVERITY.index) if verdicts else "ok"


# ---- the judge ---------------------------------------------------------------------------------------


def judge(
    program: ShapeProgram,
    exporter: str,
    workdir: Path,
    batches: tuple[int, ...] = BATCHES,
    modes: tuple[str, ...] = MODES,
) -> CaseResult:
    """Export, lint, fix and compare one program with one exporter; files are left in ``workdir``."""
    import time

    import graphfix

    start = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    result = CaseResult(program.seed, exporter, program.export_batch, list(program.patterns), program.bake)
    original = workdir / "original.onnx"
    module = program.module()
    feeds = {b: program.inputs(b) for b in batches}
    try:
        reference = {b: program.eager(x, module) for b, x in feeds.items()}
    except Exception as error:  # noqa: BLE001 - a generator bug: the program is not valid torch
        result.verdict = "invalid-program"
        result.export_error = (
            f"eager torch fails: {type(error).__name__}: {' '.join(str(error).split())[:300]}"
        )
        result.seconds = time.perf_counter() - start
        return result
    try:
        export(program, exporter, original)
    except Exception as error:  # noqa: BLE001 - counted, not graphfix's fault
        result.verdict = "export-failed"
        result.export_error = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
        result.seconds = time.perf_counter() - start
        return result

    import onnx

    try:
        onnx.checker.check_model(str(original), full_check=True)
    except Exception as error:  # noqa: BLE001 - an invalid export
        result.original_checker = _short(error)
    with _quiet():
        orig = run_model(original, feeds, check=False)
    result.original_runs_at = orig.runs_at
    result.original_fails_at = dict(orig.errors)
    if orig.load_error:
        result.original_checker = result.original_checker or orig.load_error
    result.original_wrong_at = [b for b in orig.runs_at if not _equal(orig.outputs[b], reference[b])]
    original_broken = (
        bool(result.original_checker)
        or program.export_batch not in orig.runs_at
        or program.export_batch in result.original_wrong_at
    )

    try:
        with _quiet():
            report = graphfix.lint(str(original))
        result.lint = [_finding(f) for f in report.findings]
        result.lint_messages = [_message(f) for f in report.findings]
    except graphfix.GraphfixError as error:
        result.lint_error = str(error)
    except Exception as error:  # noqa: BLE001 - an internal error
        result.lint_error = f"INTERNAL {type(error).__name__}: {error}"
        result.modes["lint"] = ModeResult(
            "lint",
            "crash",
            "lint raised " + type(error).__name__,
            message=str(error)[:500],
            traceback=traceback.format_exc(),
        )

    static_batch = any(f.startswith("GF302") for f in result.lint)
    for mode in modes:
        result.modes[mode] = _judge_mode(
            mode,
            original,
            workdir,
            feeds,
            reference,
            orig,
            program.export_batch,
            original_broken,
            static_batch,
        )
    result.verdict = _worst([m.verdict for m in result.modes.values()])
    result.seconds = time.perf_counter() - start
    return result


def _fix(original: Path, output: Path, unsafe: bool, force: bool, dynamic_batch: bool) -> Any:
    import graphfix

    with _quiet():
        return graphfix.fix(
            str(original), str(output), unsafe_fixes=unsafe, force=force, dynamic_batch=dynamic_batch
        )


def _judge_mode(
    mode: str,
    original: Path,
    workdir: Path,
    feeds: dict[int, np.ndarray],
    reference: dict[int, list[np.ndarray]],
    orig: Runs,
    export_batch: int,
    original_broken: bool,
    static_batch: bool,
) -> ModeResult:
    import graphfix
    from graphfix.errors import VerificationError

    unsafe = mode == "unsafe"
    # The unsafe mode is what a user tries next: --unsafe-fixes, plus --dynamic-batch when GF302 says the
    # export's batch is static although dynamic was asked for.
    dynamic_batch = unsafe and static_batch
    out = ModeResult(
        mode,
        options=", ".join(
            k for k, on in (("unsafe_fixes=True", unsafe), ("dynamic_batch=True", dynamic_batch)) if on
        ),
    )
    output = workdir / f"fixed-{mode}.onnx"
    fix_result = None
    refusal: BaseException | None = None
    try:
        fix_result = _fix(original, output, unsafe, False, dynamic_batch)
    except graphfix.GraphfixError as error:
        refusal = error
    except Exception as error:  # noqa: BLE001 - an internal error
        out.verdict, out.why, out.exit = "crash", f"fix raised {type(error).__name__}", 2
        out.message, out.error_type = " ".join(str(error).split())[:500], type(error).__name__
        out.traceback = traceback.format_exc()
        return out

    if refusal is not None:
        out.exit, out.error_type = 2, type(refusal).__name__
        out.message = " ".join(str(refusal).split())[:2000]
        output = workdir / f"forced-{mode}.onnx"
        try:
            fix_result = _fix(original, output, unsafe, True, dynamic_batch)
            out.forced = True
        except graphfix.GraphfixError as error:
            out.message += f" | with force: {' '.join(str(error).split())[:300]}"
            fix_result = None
        except Exception as error:  # noqa: BLE001 - an internal error
            out.verdict, out.why = "crash", f"fix(force=True) raised {type(error).__name__}"
            out.message += f" | with force: {type(error).__name__}: {error}"
            out.traceback = traceback.format_exc()
            return out
    if fix_result is not None:
        out.applied = [_finding(f) for f in fix_result.applied] + list(fix_result.user_edits)
        # Information findings (a batch computation already as short as it can be) never fail a fix.
        remaining = [f for f in fix_result.remaining if getattr(f, "severity", None) != "info"]
        out.remaining = [_finding(f) for f in remaining]
        out.remaining_messages = [_message(f) for f in remaining]
        if fix_result.verification is not None:
            v = fix_result.verification
            out.verification = {"passed": v.passed, "batches": list(v.batches), "message": v.message}
            if refusal is None and v.message:
                out.message = v.message
        out.written = refusal is None and bool(fix_result.written)
        if refusal is None:
            out.exit = 1 if remaining else 0

    # The model graphfix produced (written, forced, or none when nothing changed).
    model_path = output if output.exists() else None
    if fix_result is not None and model_path is None and not fix_result.changed:
        model_path = original  # "no change was needed": the original is what the user keeps
    with _quiet():
        runs = run_model(model_path, feeds) if model_path is not None else None
    if runs is not None:
        out.runs_at = runs.runs_at
        out.fails_at = dict(runs.errors)
        if runs.load_error:
            out.fails_at = {0: runs.load_error}

    if refusal is None:
        if runs is None:
            out.verdict, out.why = "crash", "fix returned but wrote no file"
            return out
        if runs.load_error and fix_result is not None and not fix_result.changed:
            # Nothing changed and the export itself does not load (an invalid Split from the legacy
            # exporter): not a model graphfix wrote; naming the invalid export is left (issue 8).
            out.verdict, out.why = "left", f"the original export does not load: {runs.load_error}"
            return out
        if runs.load_error:
            out.verdict, out.why = "crash", f"written model does not load: {runs.load_error}"
            return out
        wrong = _wrong_batches(runs, reference, orig)
        if wrong:
            out.wrong_at = wrong
            out.verdict = "wrong"
            out.why = "written model differs from torch and from the original at batch " + ", ".join(
                str(b) for b in wrong
            )
            if out.verification and out.verification["passed"]:
                out.why += " (verification said passed)"
            return out
        regressed = [b for b in runs.errors if b in orig.runs_at and _equal(orig.outputs[b], reference[b])]
        if regressed:
            out.verdict, out.why = (
                "wrong",
                f"written model fails at batch {regressed} where the original was right",
            )
            return out
    if original_broken:
        out.verdict, out.why = "bad-export", "the original is invalid or wrong at its export batch"
        return out
    if refusal is not None:
        if not isinstance(refusal, VerificationError) and "verif" not in str(refusal).lower():
            out.verdict, out.why = "error", f"refused with {type(refusal).__name__} (not verification)"
            return out
        if runs is None or runs.load_error:
            out.verdict, out.why = "caught", "forced model unavailable or does not load"
            return out
        wrong = _wrong_batches(runs, reference, orig)
        if wrong or export_batch not in runs.runs_at:
            out.wrong_at = wrong
            out.verdict = "caught"
            out.why = (
                f"forced model wrong at batch {sorted(wrong)}"
                if wrong
                else f"forced model fails at the export batch {export_batch}"
            )
            return out
        out.verdict, out.why = "refused", f"forced model is right at {runs.runs_at}"
        return out
    assert runs is not None
    missing = [b for b in feeds if b not in runs.runs_at]
    if missing or out.remaining:
        out.verdict = "left"
        out.why = "; ".join(
            p
            for p in (
                f"fails at batch {missing}" if missing else "",
                f"remaining {', '.join(out.remaining_codes)}" if out.remaining else "",
            )
            if p
        )
        return out
    out.verdict, out.why = "ok", ""
    return out


def _wrong_batches(runs: Runs, reference: dict[int, list[np.ndarray]], orig: Runs) -> dict[int, float]:
    wrong: dict[int, float] = {}
    for batch in runs.runs_at:
        got = runs.outputs[batch]
        if _equal(got, reference[batch]) or _equal(got, orig.outputs.get(batch)):
            continue
        wrong[batch] = _diff(got, reference[batch])  # type: ignore[arg-type]
    return wrong


def dump(result: CaseResult) -> str:
    return json.dumps(result.to_dict(), sort_keys=True)


# ---- counting ----------------------------------------------------------------------------------------

KNOWN_LEFT = "known"


def left_is_known(result: CaseResult, mode: ModeResult) -> bool:
    """A ``left`` that is the documented behaviour, not a bug.

    - the default mode leaves a batch the program bakes on purpose (the model fails at other batches, or
      GF103 remains; repaired only with ``unsafe_fixes``), and a static batch (GF302; made dynamic only with
      ``dynamic_batch``);
    - a Python loop over the images (``unbind_loop``) cannot be rewritten in general, in any mode.
    A program that bakes on purpose but whose export kept the batch anyway (dynamo keeps ``x.data.size(0)``
    symbolic) is judged like any other.
    """
    if mode.mode == "default" and "GF302" in mode.remaining_codes:
        return True
    baked = len(mode.runs_at) < len(BATCHES) or "GF103" in mode.remaining_codes
    if result.bake == "unbind_loop" and baked:
        return True
    return mode.mode == "default" and result.bake is not None and baked


def refusal_is_known(result: CaseResult, mode: ModeResult) -> bool:
    """A refusal that is the documented behaviour: ``--dynamic-batch`` on a static export whose Python loop
    over the images (``unbind_loop``) the exporter unrolled, refused with that reason (never rewritten)."""
    return (result.bake == "unbind_loop" and mode.verdict == "error"
            and "loop unrolled over the export batch" in mode.message)


def tally(results: list[CaseResult]) -> dict[str, Any]:
    """Counts per exporter (case verdicts), per exporter and mode, and per exporter and pattern."""

    def empty() -> dict[str, int]:
        return {"cases": 0, **{v: 0 for v in VERDICTS}}

    keys = [*dict.fromkeys(r.exporter for r in results), "all"]
    totals: dict[str, dict[str, int]] = {k: empty() for k in keys}
    per_mode: dict[str, dict[str, dict[str, int]]] = {k: {} for k in keys}
    per_pattern: dict[str, dict[str, dict[str, int]]] = {k: {} for k in keys}
    for r in results:
        for key in (r.exporter, "all"):
            row = totals.setdefault(key, empty())
            row["cases"] += 1
            row[r.verdict] += 1
            for pattern in r.patterns or ["(none)"]:
                prow = per_pattern.setdefault(key, {}).setdefault(pattern, empty())
                prow["cases"] += 1
                prow[r.verdict] += 1
            for mode in MODES:
                mrow = per_mode.setdefault(key, {}).setdefault(mode, empty())
                mrow["cases"] += 1
                verdict = r.modes[mode].verdict if mode in r.modes else r.verdict
                mrow[verdict] += 1
    return {"totals": totals, "per_mode": per_mode, "per_pattern": per_pattern}


def format_table(rows: dict[str, dict[str, int]], title: str) -> str:
    columns = ["cases", *VERDICTS]
    width = max([len(title), *map(len, rows)]) + 1
    lines = [title.ljust(width) + " ".join(f"{c:>{max(len(c), 5)}}" for c in columns)]
    for name, row in rows.items():
        lines.append(name.ljust(width) + " ".join(f"{row.get(c, 0):>{max(len(c), 5)}}" for c in columns))
    return "\n".join(lines)
