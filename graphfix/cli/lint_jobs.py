"""Linting many files: one file per task, in-process or in a process pool, results in the order given.

Findings hold graph nodes, which do not cross processes; a pool worker returns each report with its
findings *detached* (:class:`DetachedFinding`: the same fields as text, as the renderers read them).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from graphfix.linting import Finding, Report, Safety


@dataclass(frozen=True)
class FileTask:
    """One model to lint, with its own select/ignore/input shapes (configuration + flags)."""

    path: str
    select: list[str] | None
    ignore: list[str]
    input_shapes: dict[str, list[int]]
    trt_version: str | None = None
    custom_ops: tuple[str, ...] = ()  # --custom-ops files, loaded in the process that lints


@dataclass
class FileResult:
    """What linting one file gave: the report, the node labels (for --explain), the error to print."""

    report: Report
    node_names: set[str] = field(default_factory=set)
    error: str | None = None  # the one-line message for stderr
    internal: bool = False  # a bug in graphfix rather than a bad model
    traceback: str = ""


@dataclass(frozen=True)
class DescribedPlan:
    """A fix plan reduced to its description."""

    text: str

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class DetachedFinding:
    """A finding without its graph node (duck-types :class:`graphfix.linting.Finding` for rendering)."""

    code: str
    name: str
    message: str
    node_name: str | None
    op_type: str | None
    fix: tuple[DescribedPlan, ...]
    safety: Safety
    reason: str | None
    chain: tuple[str, ...]
    severity: str = "error"

    @property
    def fixable(self) -> bool:
        return bool(self.fix)

    @property
    def is_error(self) -> bool:
        return self.severity != "info"

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "name": self.name, "node": self.node_name, "op_type": self.op_type,
                "message": self.message, "fixable": self.fixable,
                "fix_safety": self.safety.value if self.fixable else None,
                "fix": [plan.describe() for plan in self.fix], "reason": self.reason, "chain": list(self.chain),
                "severity": self.severity}


def detach(finding: Finding) -> Finding:
    plans = tuple(DescribedPlan(plan.describe()) for plan in finding.fix)
    return cast("Finding", DetachedFinding(finding.code, finding.name, finding.message, finding.node_name,
                                           finding.op_type, plans, finding.safety, finding.reason, finding.chain,
                                           finding.severity))


def lint_file(task: FileTask, detached: bool = False) -> FileResult:
    """Lint one file; never raises (an unreadable model or a crash is the file's error)."""
    import gc

    # Lint allocates many short-lived objects that reference counting frees; the cyclic collector's passes
    # over them cost about 8% of a large model's lint. It runs again (and takes the model's cycles) after.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _lint_file(task, detached)
    finally:
        if enabled:
            gc.enable()


def _lint_file(task: FileTask, detached: bool) -> FileResult:
    from graphfix.errors import GraphfixError
    from graphfix.ir import load, node_label
    from graphfix.linting import Options, Report, lint_loaded, parse_selectors

    try:
        from graphfix.plugins import registry_from, using

        registry = registry_from(task.custom_ops or None)
        options = Options(input_shapes=task.input_shapes, trt_version=task.trt_version, custom_ops=registry)
        with using(registry):
            report, ctx = lint_loaded(load(task.path), options, parse_selectors(task.select),
                                      parse_selectors(task.ignore))
        names = {node_label(node) for node in ctx.analysis.order}
        if detached:
            report.findings = [detach(f) for f in report.findings]
        return FileResult(report, names)
    except GraphfixError as error:
        from graphfix.cli.common import message_of

        # Every error names its file: a usage error (an --input-shape this model contradicts) may not.
        message = message_of(error)  # the CLI's flags, in the text and in the JSON/SARIF reports alike
        message = message if message.startswith(f"{task.path}: ") else f"{task.path}: {message}"
        return FileResult(Report(task.path, [], error=message), error=message, traceback=traceback.format_exc())
    except Exception as error:  # keep going: one bad file must not hide the others
        return FileResult(Report(task.path, [], error=f"internal error: {type(error).__name__}: {error}"),
                          error=f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
                          internal=True, traceback=traceback.format_exc())


def _lint_detached(task: FileTask) -> FileResult:
    import gc

    gc.enable()  # a forked worker inherits the command line's collector turned off; it lints many files
    return lint_file(task, detached=True)


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# Below this much ONNX (the graph files, not their external data) a pool costs more than it saves: its
# workers' first lint pays their start (about 50 ms on 2 cores; bench/README.md), and a small file lints in
# about 10 ms per 20 kB.
POOL_MIN_BYTES = 256 * 1024


def worth_a_pool(tasks: Sequence[FileTask]) -> bool:
    """Whether the files are enough work to fan out when the user did not ask for a number of jobs."""
    total = 0
    for task in tasks:
        try:
            total += os.path.getsize(task.path)
        except OSError:
            continue  # the worker reports it
        if total >= POOL_MIN_BYTES:
            return True
    return False


def lint_files(tasks: Sequence[FileTask], jobs: int, auto: bool = False) -> Iterator[FileResult]:
    """Each task's result, in the order of ``tasks``; ``jobs > 1`` lints in a pool of that many processes.

    ``auto`` (``jobs`` is the default, not the user's): a pool only when the files are worth one
    (:func:`worth_a_pool`)."""
    jobs = max(1, min(jobs, len(tasks)))
    if jobs > 1 and auto and not worth_a_pool(tasks):
        jobs = 1
    if jobs == 1:
        import gc

        for index, task in enumerate(tasks):
            if index == 1:
                # The command line lints its first file without the cyclic collector (start-up); a folder's
                # graphs that no finding holds are cycles, so the rest run with it.
                gc.enable()
            yield lint_file(task)
        return
    import gc
    from concurrent.futures import ProcessPoolExecutor  # here: multiprocessing costs one file's lint 30 ms

    context = _pool_context(tasks)
    frozen = context.get_start_method() == "fork"
    if frozen:
        gc.freeze()  # the workers' collections then leave the inherited objects (and their pages) alone
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            yield from pool.map(_lint_detached, tasks, chunksize=1)
    finally:
        if frozen:
            gc.unfreeze()


def _pool_context(tasks: Sequence[FileTask] = ()) -> Any:
    """``fork`` after importing what lint uses and reading the TensorRT support tables the tasks check, so
    workers start in milliseconds instead of each importing onnx-ir and reading the tables again;
    ``forkserver`` when the parent has threads (a forked child of a threaded parent can deadlock) or fork
    does not exist."""
    import multiprocessing
    import threading

    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        import graphfix.ir  # noqa: F401
        import graphfix.progress  # noqa: F401
        import graphfix.targets.text_checks  # noqa: F401
        from graphfix.linting import all_rules
        from graphfix.targets.target import resolve_target

        all_rules()  # imports every rule module
        for version in dict.fromkeys(task.trt_version for task in tasks):
            try:
                resolve_target(version)
            except Exception:  # noqa: BLE001 - only a warm-up: the worker reports it for its file
                pass
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver")


def tasks_for(paths: Sequence[str], config: Any, select: list[str] | None, ignore: list[str] | None,
              input_shapes: Mapping[str, list[int]], trt_version: str | None = None,
              custom_ops: Sequence[str] = ()) -> list[FileTask]:
    """One task per model, with the configuration's per-file settings."""
    from graphfix.cli.config import file_options

    tasks = []
    for path in paths:
        file_select, file_ignore, shapes = file_options(config, path, select, ignore, input_shapes)
        tasks.append(FileTask(str(path), file_select, file_ignore, shapes, trt_version, tuple(custom_ops)))
    return tasks
