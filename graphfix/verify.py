"""Verification: the fixed model must compute what the original computes.

Polygraphy's ``Comparator`` runs both models in ONNX Runtime on the same seeded random inputs, at each
requested batch size, and compares every output (shapes, max absolute and relative error). Integer
inputs get valid data: token ids stay inside the embedding table they index, other integers are 0/1
(masks), unless ``--input-range`` says otherwise.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx_ir as ir

from graphfix.errors import GraphfixError, UsageError

DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-4
# Non-batch dims that are still dynamic are verified at this size.
DEFAULT_DYNAMIC_DIM = 64

# Ops that pass integer ids through unchanged on the way to the embedding lookup.
_PASS_THROUGH = {"Cast", "Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Slice", "Expand"}


@dataclass
class OutputError:
    output: str
    batch: int
    max_abs: float
    max_rel: float
    passed: bool


@dataclass
class Verification:
    passed: bool
    batches: list[int]
    outputs: list[OutputError] = field(default_factory=list)
    message: str = ""

    def worst(self) -> OutputError | None:
        return max(self.outputs, key=lambda o: (not o.passed, o.max_abs), default=None)

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "batches": self.batches,
            "message": self.message,
            "outputs": [vars(o) for o in self.outputs],
        }


def parse_input_ranges(specs: Sequence[str]) -> dict[str, tuple[float, float]]:
    ranges: dict[str, tuple[float, float]] = {}
    for spec in specs:
        name, sep, bounds = spec.rpartition(":")
        low, comma, high = bounds.partition(",")
        try:
            if not sep or not comma:
                raise ValueError
            ranges[name] = (float(low), float(high))
        except ValueError:
            raise UsageError(f"--input-range {spec!r}: expected NAME:LO,HI, e.g. input_ids:0,30521") from None
        if ranges[name][0] > ranges[name][1]:
            raise UsageError(f"--input-range {spec!r}: LO is above HI")
    return ranges


def integer_ranges(model: ir.Model) -> dict[str, tuple[int, int]]:
    """Valid ranges for integer inputs: indices into a table stay below its size; others are 0/1."""
    graph = model.graph
    initializers = set(graph.initializers.values())
    ranges: dict[str, tuple[int, int]] = {}
    for value in graph.inputs:
        if value in initializers or value.dtype is None or not value.dtype.is_integer():
            continue
        rows = _indexed_rows(value, depth=4)
        ranges[value.name] = (0, rows - 1) if rows else (0, 1)
    return ranges


def _indexed_rows(value: ir.Value, depth: int) -> int | None:
    sizes = []
    for use in value.uses():
        node, index = use.node, use.idx
        if node.op_type in ("Gather", "GatherElements") and index == 1:
            data = node.inputs[0]
            axis = node.attributes.get("axis")
            axis_value = axis.value if axis is not None else 0
            if data is not None and data.shape is not None and isinstance(data.shape[axis_value], int):
                sizes.append(int(data.shape[axis_value]))
        elif node.op_type in _PASS_THROUGH and index == 0 and depth > 0:
            found = _indexed_rows(node.outputs[0], depth - 1)
            if found:
                sizes.append(found)
    return min(sizes) if sizes else None


@dataclass(frozen=True)
class InputSpec:
    """A graph input as the original model declares it (dims: int, or None when dynamic)."""

    name: str
    dtype: np.dtype
    dims: tuple[int | None, ...] | None


def input_specs(model: ir.Model) -> list[InputSpec]:
    initializers = set(model.graph.initializers.values())
    specs = []
    for value in model.graph.inputs:
        if value in initializers:
            continue
        dtype = np.dtype(value.dtype.numpy()) if value.dtype is not None else np.dtype(np.float32)
        dims = None if value.shape is None else tuple(d if isinstance(d, int) else None for d in value.shape)
        specs.append(InputSpec(value.name, dtype, dims))
    return specs


def input_shapes_for(
    specs: Sequence[InputSpec], batch: int, pinned: Mapping[str, Sequence[int]]
) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        if spec.dims is None:
            raise GraphfixError(f"input {spec.name!r} has no declared shape; give one with --input-shape")
        user = pinned.get(spec.name)
        dims = []
        for axis, dim in enumerate(spec.dims):
            if axis == 0 and dim is None:
                dims.append(batch)
            elif user is not None and axis > 0:
                dims.append(int(user[axis]))
            elif dim is not None:
                dims.append(dim)
            else:
                dims.append(DEFAULT_DYNAMIC_DIM)
        shapes[spec.name] = tuple(dims)
    return shapes


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    from polygraphy.logger import G_LOGGER

    severity = G_LOGGER.module_severity
    G_LOGGER.module_severity = G_LOGGER.ERROR
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        G_LOGGER.module_severity = severity


def _session(path: Path):  # noqa: ANN202 - onnxruntime is imported lazily
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def compare(
    original: Path,
    candidate: Path,
    feeds_by_batch: Mapping[int, Mapping[str, tuple[int, ...]]],
    *,
    dtypes: Mapping[str, np.dtype],
    ranges: Mapping[str, tuple[float, float]],
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    seed: int = 0,
) -> Verification:
    """Run both models in ONNX Runtime through Polygraphy at each batch size and compare all outputs."""
    try:
        from polygraphy.backend.onnxrt import OnnxrtRunner
        from polygraphy.common import TensorMetadata
        from polygraphy.comparator import Comparator, DataLoader
        from polygraphy.comparator.compare import SimpleCompareFunc
    except ImportError as error:
        raise GraphfixError(f"verification needs onnxruntime and polygraphy ({error.name} is missing): "
                            "pip install 'graphfix[verify]', or pass --no-verify") from error

    outputs: list[OutputError] = []
    messages: list[str] = []
    batches = list(feeds_by_batch)
    load_errors: dict[str, BaseException] = {}

    def lazy_session(label: str, path: Path):  # noqa: ANN202
        # Loaded when Comparator activates the runner and freed after it ran: one model in memory at a time.
        def make():  # noqa: ANN202
            try:
                return _session(path)
            except Exception as error:
                load_errors[label] = error
                raise

        return make

    with _quiet():
        feeds = []
        for batch, shapes in feeds_by_batch.items():
            metadata = TensorMetadata()
            for name, shape in shapes.items():
                metadata.add(name, dtypes[name], shape)
            loader = DataLoader(seed=seed + batch, iterations=1, input_metadata=metadata,
                                val_range={name: ranges[name] for name in shapes if name in ranges} or None)
            try:
                feeds.extend(dict(feed) for feed in loader)
            except Exception as error:  # e.g. string inputs, which have no random data
                return Verification(False, batches, [], f"cannot verify: no random data for these inputs "
                                    f"({type(error).__name__}: {error}); pass --no-verify")
        runners = [OnnxrtRunner(lazy_session(label, path), name=label)
                   for label, path in (("original", original), ("fixed", candidate))]
        try:
            results = Comparator.run(runners, data_loader=feeds)
        except Exception as error:  # a model that does not load or run is a failed verification
            for label, problem in load_errors.items():
                reason = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
                hint = " (custom ops? pass --no-verify to write it after validation only)" if label == "original" else ""
                return Verification(False, batches, [],
                                    f"cannot verify: ONNX Runtime cannot load the {label} model: {reason}{hint}")
            lines = str(error).strip().splitlines()
            return Verification(False, batches, [], f"a model failed to run: {lines[-1] if lines else error}")
        if not results or len(results) < 2:
            return Verification(False, batches, [], "a model failed to run")
        accuracy = Comparator.compare_accuracy(
            results, compare_func=SimpleCompareFunc(atol=atol, rtol=rtol, check_shapes=True))
        for pairs in accuracy:  # one AccuracyResult per comparison: {(runner, runner): [iteration]}
            for iterations in pairs.values():
                for batch, compared in zip(batches, iterations):
                    for name, result in compared.items():
                        # Polygraphy gives a plain False (no error statistics) when shapes differ.
                        outputs.append(OutputError(name, batch, float(getattr(result, "max_absdiff", np.inf)),
                                                   float(getattr(result, "max_reldiff", np.inf)), bool(result)))
        for batch, originals, fixed in zip(batches, results[0][1], results[1][1]):
            for name in originals.keys():
                if name in fixed.keys() and originals[name].shape != fixed[name].shape:
                    messages.append(f"batch {batch}: output {name} has shape {fixed[name].shape}, "
                                    f"expected {originals[name].shape}")
    passed = not messages and bool(outputs) and all(o.passed for o in outputs)
    if not passed and not messages:
        bad = [o for o in outputs if not o.passed]
        messages.extend(f"output {o.output!r} differs at batch {o.batch}: max abs error {o.max_abs:.3g}, "
                        f"max rel error {o.max_rel:.3g}" for o in bad)
    return Verification(passed, list(feeds_by_batch), outputs, "; ".join(messages))
