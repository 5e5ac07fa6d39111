"""The comparison loop: feeds, both sides through Polygraphy's Comparator, statistics, the policy's verdict.

Every comparison in graphfix runs here (fix verification, precision checks, engine comparisons); callers
only choose the two sides, the inputs and the tolerance policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from graphfix.compare.inputs import Inputs
from graphfix.compare.log import first_line, onnxruntime_message, polygraphy_log
from graphfix.compare.order import equal_up_to_order
from graphfix.compare.policy import Policy, Thresholds, Tolerance
from graphfix.compare.result import Comparison, Failure
from graphfix.compare.runners import Side, polygraphy_runner, polygraphy_without_torch
from graphfix.compare.stats import OutputComparison, judge, statistics
from graphfix.deps import require

if TYPE_CHECKING:
    from graphfix.progress import Step


def compare(reference: Side, candidate: Side, inputs: Inputs, policy: Policy, *, action: str = "compare") -> Comparison:
    """Run ``reference`` and ``candidate`` on the same seeded inputs at every batch and judge each output.

    Args:
        reference: The side whose outputs are right (the original model, fp32, ONNX Runtime).
        candidate: The side under test (the fixed model, the fp16 graph, the engine).
        inputs: The batch sizes, shapes, dtypes, value ranges and seed of the random inputs.
        policy: How outputs are judged: elementwise (:class:`Tolerance`) or by similarity
            (:class:`Thresholds`).
        action: The verb for messages (``"verify"`` gives ``"cannot verify: ..."``).

    Returns:
        The :class:`Comparison`: passed, per-output statistics per batch, and what failed. A side that
        does not load or run is a failed comparison (``failure``), never an exception.

    Raises:
        MissingDependencyError: Polygraphy (or the runtime a side needs) is not installed.
    """
    comparator = require("polygraphy.comparator", f"{action} (comparing outputs)")
    polygraphy_without_torch()
    batches = inputs.batches

    def failed(failure: Failure, message: str) -> Comparison:
        return Comparison(False, batches, [], message, policy, candidate.description, failure)

    with polygraphy_log(purpose=f"{action} (comparing outputs)") as log:
        try:
            feeds = inputs.feeds()
        except Exception as error:  # e.g. string inputs, which have no random data
            return failed(Failure("inputs", None, str(error)),
                          f"cannot {action}: no random data for these inputs ({type(error).__name__}: {error})")
        # Polygraphy computes relative errors against the second runner's outputs.
        relative_to_reference = not (isinstance(policy, Tolerance) and policy.relative_to == "candidate")
        order = [candidate, reference] if relative_to_reference else [reference, candidate]
        load_errors: list[tuple[Side, BaseException]] = []
        run_errors: list[tuple[Side, Mapping[str, Any], BaseException]] = []
        runners = [polygraphy_runner(side, lambda side, error: load_errors.append((side, error)),
                                     lambda side, feed, error: run_errors.append((side, feed, error)))
                   for side in order]
        from graphfix.progress import current

        step_name = f"{action} at batch {', '.join(map(str, batches))}"
        try:
            with current().task(step_name, total=len(batches)) as step:
                loader = _CountedBatches(feeds[batch] for batch in batches)
                loader.step = step
                results = comparator.Comparator.run(runners, data_loader=loader)
        except Exception as error:  # a side that does not load or run is a failed comparison
            for side, problem in load_errors:
                return failed(Failure("load", side.label, first_line(problem)),
                              f"cannot {action}: {side.runtime} cannot load the {side.label}: "
                              f"{first_line(problem) or type(problem).__name__}")
            for side, feed, problem in run_errors:  # which side failed, and at which batch
                if side is candidate:
                    # The candidate runs first: where the reference fails on the same inputs, it is at fault.
                    reference_error = _run_error(reference, feed)
                    if reference_error is not None:
                        side, problem = reference, reference_error
                detail = onnxruntime_message(problem)
                shapes = [np.shape(value) for value in feed.values()]
                batch = shapes[0][0] if shapes and shapes[0] else None
                at = f" at batch {batch}" if batch is not None else ""
                blame = f"cannot {action}: " if side is reference else ""  # the reference at fault: say so
                return failed(Failure("run", side.label, f"batch {batch}: {detail}" if at else detail),
                              f"{blame}the {side.label} fails to run in {side.runtime}{at}: {detail}")
            detail = onnxruntime_message(error)
            return failed(Failure("run", None, detail), f"a model failed to run: {detail}")
        if not results or len(results) < 2:
            return failed(Failure("run"), "a model failed to run")
        by_name = {name: iterations for name, iterations in results}
        accuracy = _polygraphy_accuracy(comparator, results, policy) if isinstance(policy, Tolerance) else None
        outputs: list[OutputComparison] = []
        shape_messages: list[str] = []
        for index, batch in enumerate(batches):
            want_all = by_name[reference.label][index]
            got_all = by_name[candidate.label][index]
            judged = accuracy[index] if accuracy is not None and index < len(accuracy) else {}
            for name in want_all.keys():
                want = np.asarray(want_all[name])
                got = np.asarray(got_all[name]) if name in got_all.keys() else None
                result = statistics(name, batch, want, got)
                if result.shape_mismatch and got is not None and isinstance(policy, Tolerance):
                    shape_messages.append(f"batch {batch}: output {name} has shape {got.shape}, "
                                          f"expected {want.shape}")
                if isinstance(policy, Thresholds):
                    judge(result, want, got, policy)
                else:
                    _apply_polygraphy_verdict(result, judged.get(name))
                    if (not result.passed and got is not None and name in policy.unordered
                            and equal_up_to_order(want, got, policy.atol, policy.rtol)):
                        result.passed, result.tie_order, result.problem = True, True, ""
                outputs.append(result)
        errors = log.entries("E!")
    return _conclude(batches, outputs, shape_messages, policy, candidate, errors)


def _run_error(side: Side, feed: Mapping[str, Any]) -> BaseException | None:
    """What ``side`` raises on ``feed`` (None when it runs, or when it does not even load)."""
    runner = polygraphy_runner(side, lambda side, error: None)
    try:
        with runner:
            runner.infer(feed)
    except Exception as error:
        return error
    return None


def _polygraphy_accuracy(comparator: Any, results: Any, policy: Tolerance) -> list[dict[str, object]] | None:
    """Polygraphy's elementwise verdict per iteration: ``[{output: OutputCompareResult or False}]``."""
    compare_func = comparator.compare.SimpleCompareFunc(
        atol=policy.atol, rtol=policy.rtol, check_shapes=True, check_error_stat=policy.check_error_stat)
    try:
        accuracy = comparator.Comparator.compare_accuracy(results, compare_func=compare_func)
    except Exception:  # e.g. no output in common: every output is judged failed below
        return None
    for pairs in accuracy:  # one AccuracyResult per pair of runners: {(runner, runner): [iteration]}
        for iterations in pairs.values():
            return [dict(iteration.items()) for iteration in iterations]
    return None


def _apply_polygraphy_verdict(result: OutputComparison, verdict: object) -> None:
    """Take max abs/rel error and pass/fail from Polygraphy's result (a plain False when shapes differ)."""
    if result.missing:
        return
    if verdict is None or isinstance(verdict, bool):
        result.max_abs = result.max_rel = float("inf")
        result.passed = False
        if not result.problem:
            result.problem = "not compared"
        return
    result.max_abs = float(getattr(verdict, "max_absdiff", np.inf))
    result.max_rel = float(getattr(verdict, "max_reldiff", np.inf))
    result.passed = bool(verdict)
    if not result.passed:
        result.problem = f"max abs error {result.max_abs:.3g}, max rel error {result.max_rel:.3g}"


def _conclude(
    batches: list[int],
    outputs: list[OutputComparison],
    shape_messages: list[str],
    policy: Policy,
    candidate: Side,
    errors: list[str],
) -> Comparison:
    passed = not shape_messages and bool(outputs) and all(o.passed for o in outputs)
    messages = list(shape_messages)
    if not passed and not messages:
        for o in outputs:
            if o.passed:
                continue
            if o.missing:
                messages.append(f"output {o.output!r} is missing from the {candidate.label} at batch {o.batch}")
            elif isinstance(policy, Thresholds):
                messages.append(f"output {o.output!r} at batch {o.batch}: {o.problem}")
            else:
                messages.append(f"output {o.output!r} differs at batch {o.batch}: max abs error {o.max_abs:.3g}, "
                                f"max rel error {o.max_rel:.3g}")
        if not outputs:
            messages.append(f"nothing was compared{': ' + first_line(errors[0]) if errors else ''}")
    tied = sorted({o.output for o in outputs if o.tie_order})
    if passed and tied:
        messages.append(f"{', '.join(repr(t) for t in tied)} equal up to the order of tied values")
    return Comparison(passed, batches, outputs, "; ".join(messages), policy, candidate.description)


class _CountedBatches(list[Any]):
    """The batches, advancing the progress display as the first runner takes each (Polygraphy caches
    them for the second)."""

    step: Step | None = None

    def __iter__(self) -> Iterator[Any]:
        for feed in super().__iter__():
            yield feed
            if self.step is not None:
                self.step.advance()
