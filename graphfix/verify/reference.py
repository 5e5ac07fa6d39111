"""The reference a verification compares with: the original where it runs, or the original per sample.

A batch baked into the original by model code makes it run (or be right) at its export batch ``B`` only.
Such a model still defines what each sample should give: the original run on a batch of ``B`` copies of
that sample (row 0 of its outputs), provided it treats its samples independently at ``B`` (permuting the
batch permutes the outputs). :func:`per_sample_side` is that reference, as a comparator side, so the fixed
model is judged by the one comparator at any batch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graphfix.compare import InputInfo, Side, function_side, onnxruntime_session
from graphfix.verify.inputs import InputSpec

Feeds = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class RunFailure:
    """The original failed to run at ``batch``: ONNX Runtime's message, and the node it names."""

    batch: int
    op: str | None
    node: str | None
    detail: str

    def describe(self) -> str:
        where = f" at {self.op} node {self.node!r}" if self.node is not None else ""
        return f"batch {self.batch}{where}: {self.detail}"


def run_failure(batch: int, error: BaseException) -> RunFailure:
    """Read ONNX Runtime's error: ``... running Reshape node. Name:'/Reshape_3' Status Message: ...``."""
    text = " ".join(str(error).split())
    found = re.search(r"running (\w+) node\. Name:'([^']*)' Status Message: (.*)", text)
    if found:
        op, node, message = found.groups()
        tail = message.rsplit(" was false. ", 1)[-1]  # the shapes, not ONNX Runtime's source location
        return RunFailure(batch, op, node, tail if len(tail) <= 200 else "..." + tail[-197:])
    return RunFailure(batch, None, None, re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)[:200])


def run(session: Any, feeds: Feeds) -> list[np.ndarray]:
    """The session's outputs on ``feeds``, in output order."""
    return [np.asarray(out) for out in session.run(None, dict(feeds))]


def probe(original: Path, feeds: Mapping[int, Feeds]) -> dict[int, RunFailure | None]:
    """Run the original at every batch of ``feeds``: None where it runs, else how it failed.

    Raises:
        Exception: ONNX Runtime cannot load the original (the comparator reports that itself).
    """
    session = onnxruntime_session(original, quiet=True)  # the settings the comparator gives both models
    found: dict[int, RunFailure | None] = {}
    for batch, feed in feeds.items():
        try:
            run(session, feed)
            found[batch] = None
        except Exception as error:  # the faults a baked batch causes
            found[batch] = run_failure(batch, error)
    return found


def sample_independence(original: Path, feed: Feeds, batch: int, atol: float, rtol: float) -> str | None:
    """Whether the original treats samples independently at ``batch``: None when permuting the batch (a
    reversal) permutes every output that carries the batch and leaves the others, else why not."""
    session = onnxruntime_session(original, quiet=True)
    order = np.arange(batch)[::-1]
    names = [o.name for o in session.get_outputs()]
    plain = run(session, feed)
    permuted = run(session, {name: value[order] for name, value in feed.items()})
    for name, want, got in zip(names, plain, permuted, strict=True):
        expected = want[order] if want.ndim and want.shape[0] == batch else want
        if expected.shape != got.shape or not np.allclose(got, expected, atol=atol, rtol=rtol, equal_nan=True):
            return f"output {name!r} does not follow a permutation of the batch"
    return None


def _row0(session: Any, feed: Feeds, index: int, export_batch: int) -> list[np.ndarray]:
    copies = {name: np.repeat(value[index:index + 1], export_batch, axis=0) for name, value in feed.items()}
    return run(session, copies)


def per_sample_side(original: Path, specs: Sequence[InputSpec], export_batch: int) -> Side:
    """The original per sample: at batch ``export_batch`` the original itself; at any other batch ``b``,
    sample ``i`` of every output that carries the batch (dim 0 equal to ``export_batch`` at the export
    batch) is row 0 of the original run on ``export_batch`` copies of sample ``i``; outputs without a batch
    dim are sample 0's, whole."""

    def load() -> Any:
        session = onnxruntime_session(original)
        names = [o.name for o in session.get_outputs()]

        def reference(feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            batch = len(next(iter(feed.values())))
            if batch == export_batch:
                return dict(zip(names, run(session, feed), strict=True))
            rows = [_row0(session, feed, i, export_batch) for i in range(batch)]
            outputs: dict[str, np.ndarray] = {}
            for position, name in enumerate(names):
                first = rows[0][position]
                if first.ndim and first.shape[0] == export_batch:
                    outputs[name] = np.concatenate([row[position][:1] for row in rows])
                else:
                    outputs[name] = first
            return outputs

        return reference

    # Any batch: the fixed model takes batches the original's interface may not (a static batch made dynamic).
    inputs = [InputInfo(spec.name, spec.dtype, (None, *spec.dims[1:]) if spec.dims else ()) for spec in specs]
    return function_side("original model", "ONNX Runtime", load, inputs,
                         f"onnxruntime CPU, per sample at batch {export_batch}")
