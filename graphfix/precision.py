"""Precision: fp16 and int8 as ONNX-to-ONNX transforms, checked against the fp32 model here.

TensorRT 10 and 11 build *strongly typed* networks: the precision of every layer is the type its ONNX
tensors carry, and int8 is expressed with explicit QuantizeLinear/DequantizeLinear (Q/DQ) nodes. So the
precision step rewrites the model, checks the rewrite in ONNX Runtime (which runs everywhere), and hands
the result to the compile step. Nothing here needs TensorRT.

fp16 (:func:`to_fp16`)
    onnxconverter-common's ``convert_float_to_float16`` with ``keep_io_types=True`` (the graph inputs and
    outputs stay fp32; Casts sit inside) and :data:`FP16_BLOCK_LIST`, plus repairs the converter needs:

    - weights are never clamped below fp16's real range (``max_finite_val=65504``, the converter's
      default of 1e4 silently clips weights between 1e4 and 65504) and tiny weights keep their sign
      (``min_positive_val=2**-24``, the smallest fp16 subnormal);
    - ``Cast(to=float)`` nodes of the original graph (the legacy exporter writes them for masks) are
      retargeted to float16; the converter changes the tensor types but not the ``to`` attribute, which
      leaves an invalid graph;
    - Resize stays in fp16 (TensorRT runs it there); only its ``scales`` input, which the ONNX schema
      types as float32, is cast back;
    - an fp32 initializer shared by a blocked op and an unblocked one gets a Cast for the unblocked one;
    - nodes in custom domains (plugins) are kept in fp32: their fp16 support is unknown;
    - model-local functions are inlined first (the converter does not look inside them);
    - weights in external data are converted lazily, one tensor at a time, and the result is written
      with external data again, so models above the 2 GB protobuf limit work and memory stays bounded.

int8 (:func:`to_int8`)
    ONNX Runtime's ``quantize_static`` in ``QuantFormat.QDQ`` with the options TensorRT requires:
    QInt8 activations and weights, symmetric ranges (``ActivationSymmetric``/``WeightSymmetric``, so every
    zero point is 0), per-tensor activations, per-channel weights on the output-channel axis, biases left
    in float (``QuantizeBias=False``: TensorRT cannot consume an int32 DequantizeLinear), Q/DQ only on the
    inputs of the weighted ops (:data:`INT8_OP_TYPES`; outputs are not re-quantized, TensorRT's placement
    advice) and weights kept in fp32 behind a Q->DQ pair (``AddQDQPairToWeight``: what NVIDIA's
    quantization toolkits export and every TensorRT since 8.0 builds, folding the Q at build time; int8
    weights behind a lone DQ are also parsed by 8.6's ONNX parser, but the fp32 form is the safe one). The
    per-channel axes ORT emits are the ones TensorRT accepts: Conv weights ``[K, C, R, S]`` on axis 0,
    ConvTranspose ``[C, K, R, S]`` on axis 1, Gemm ``B`` on axis 0 with ``transB=1`` and 1 without, MatMul
    ``B`` ``[..., K, N]`` on the last axis (configured: ORT's default of 1 is the reduction axis for a
    batched 3-D weight). Each of these rules is re-checked on the written model (:func:`_check_qdq`), so
    a change in ORT shows up as an error rather than as an engine TensorRT refuses.
    Calibration data comes from :func:`load_calibration`; without data, random data in the same valid
    ranges as :func:`graphfix.verify.integer_ranges` is used and :class:`RandomCalibrationWarning` is
    raised (the flag also lands in the model's metadata and in :class:`PrecisionReport`).

Checking (:func:`compare_precision`)
    Both models run in ONNX Runtime on the CPU on the same seeded random inputs as ``graphfix.verify``, at
    every batch size the caller asks for. Per output it reports max abs / max rel error, cosine similarity
    and SNR (dB), and judges them with thresholds that fit the precision (:data:`DEFAULT_THRESHOLDS`).

    ORT's CPU provider has almost no fp16 kernels on x86 (measured on 1.32: only LayerNormalization,
    RMSNormalization, Min/Max/Clip, Round, Mod, Cast and data movement). For everything else it inserts
    Casts and computes in fp32, and between two such nodes it skips the fp16 rounding altogether: an fp16
    overflow (a value above 65504 between two ops) is invisible when the fp16 model runs there. So fp16
    models are checked through an *emulation*: the same graph with every fp16 tensor held in fp32 and
    rounded to fp16 (Cast to float16 and back) where each op writes it. That is how TensorRT's fp16
    kernels behave (fp32 accumulation inside an op, fp16 storage between ops) and it overflows to inf
    exactly where fp16 storage would. The real fp16 file is also loaded and run once, to prove it runs.
    ``runner="reference"`` runs the fp16 file itself through ``onnx.reference.ReferenceEvaluator`` (numpy
    float16 arithmetic) instead: independent, slower, for small models and cross-checks.

Files are written atomically through :func:`graphfix.saving.save_model` (a private folder beside the
output, checked with ``onnx.checker`` there, then moved): a failed transform leaves nothing behind.
onnxruntime and onnxconverter-common are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
from onnx import TensorProto, helper, numpy_helper

from graphfix.errors import GraphfixError, ModelError, UsageError
from graphfix.saving import EMBED_LIMIT_BYTES, check_destination, save_model
from graphfix.verify import InputSpec, input_shapes_for

__all__ = [
    "DEFAULT_THRESHOLDS",
    "FP16_BLOCK_LIST",
    "INT8_OP_TYPES",
    "PRECISIONS",
    "Calibration",
    "CalibrationError",
    "OutputPrecision",
    "PrecisionError",
    "PrecisionReport",
    "RandomCalibrationWarning",
    "Thresholds",
    "compare_precision",
    "load_calibration",
    "output_path",
    "to_fp16",
    "to_int8",
    "transform",
]

PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")

FP16_BLOCK_LIST: tuple[str, ...] = (
    # Sums over many elements: accumulated in fp16 they pass 65504 or stop growing (fp16 has 11
    # significant bits, so 2048 + 1 == 2048). Their results (a mean, a norm, a log-sum) are in range.
    "ReduceSum", "ReduceMean", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "ReduceProd", "CumSum",
    # Normalisation statistics: the variance is a mean of x**2, which overflows fp16 once |x| > 256
    # (residual streams of transformers routinely have such outliers); the normalised output is small.
    # TensorRT 8.6 warns that fp16 LayerNorm may overflow; keeping them fp32 costs two Casts each.
    "LayerNormalization", "GroupNormalization", "InstanceNormalization", "RMSNormalization",
    "LpNormalization",
    # Element-wise ops that overflow for ordinary inputs: exp(x) for x > 11.09, x**2 for |x| > 256, x**3
    # (tanh-GELU) for |x| > 40. Consecutive blocked ops are joined without Casts, so Exp -> ReduceSum and
    # Pow -> ReduceMean never hold the large value in fp16.
    "Exp", "Pow",
    # Index and coordinate arithmetic: fp16 integers are exact only up to 2048 (Range), near-ties reorder
    # (TopK: its indices then differ from fp32), box coordinates lose sub-pixel precision above 1024
    # (RoiAlign), and NonMaxSuppression has no fp16 in its schema.
    "Range", "TopK", "RoiAlign", "NonMaxSuppression",
)
"""Op types kept in fp32 by :func:`to_fp16`. Softmax is deliberately absent: every runtime subtracts the
row maximum first, so exp() <= 1 and the sum is at most the row length; blocking it would put Casts
inside attention and keep TensorRT from fusing its fp16 attention kernels. Blocking an op protects values
*inside* it and between blocked ops; a value that leaves a blocked op above 65504 and enters an
unblocked one still overflows (that is what :func:`compare_precision` is for; a decomposed LayerNorm,
``Pow -> ReduceMean -> Add -> Sqrt``, is the classic case: export at opset >= 17 so torch emits
LayerNormalization)."""

INT8_OP_TYPES: tuple[str, ...] = ("Conv", "ConvTranspose", "Gemm", "MatMul")
"""Ops whose inputs get Q/DQ: the weighted ops TensorRT runs in int8. Everything else (pooling, Add,
Softmax, LayerNorm) runs in the precision of its inputs, as TensorRT's Q/DQ placement advice says."""

# Inputs whose ONNX schema type is float32 only, whatever the data type of the op.
_FLOAT32_ONLY_INPUTS: dict[str, tuple[int, ...]] = {"Resize": (2,), "Upsample": (1,)}
_STANDARD_DOMAINS = ("", "ai.onnx")
_FP16_MIN_POSITIVE = 2.0**-24  # smallest fp16 subnormal
_FP16_MAX = 65504.0
_RANDOM_SEED = 20240611
_META_PRECISION = "graphfix.precision"
_META_CALIBRATION = "graphfix.calibration"
_META_RANDOM = "graphfix.calibration_random"


class PrecisionError(GraphfixError):
    """A precision transform failed or produced a model TensorRT would not accept."""


class CalibrationError(GraphfixError):
    """Calibration data that cannot be used for this model (one line: which file, what is wrong)."""


class RandomCalibrationWarning(UserWarning):
    """int8 scales were computed from random data: the model runs, but accuracy on real data will be poor."""


# --------------------------------------------------------------------------------------------------
# thresholds and reports


@dataclass(frozen=True)
class Thresholds:
    """When one output passes: ``cosine >= cosine``, ``snr_db >= snr_db`` (if set), and every element
    within ``atol + rtol * |reference|`` (if ``atol`` is set). Non-finite values where the reference is
    finite always fail."""

    cosine: float
    snr_db: float | None = None
    atol: float | None = None
    rtol: float | None = None

    def describe(self) -> str:
        parts = [f"cosine >= {self.cosine:g}"]
        if self.snr_db is not None:
            parts.append(f"SNR >= {self.snr_db:g} dB")
        if self.atol is not None:
            parts.append(f"|diff| <= {self.atol:g} + {self.rtol or 0:g}*|ref|")
        return ", ".join(parts)


DEFAULT_THRESHOLDS: dict[str, Thresholds] = {
    # Same tolerances as graphfix.verify: an fp32 "transform" must not change the numbers.
    "fp32": Thresholds(cosine=0.99999, atol=1e-5, rtol=1e-4),
    # fp16 rounds every stored value by up to 2**-11 (~5e-4) relative; a few dozen layers accumulate
    # to ~1e-3. 1e-2 abs + 1e-2 rel leaves an order of magnitude of margin and still catches a wrong
    # Cast or a clipped weight; cosine >= 0.999 (an SNR of about 27 dB) catches errors spread
    # everywhere. Overflow (inf/nan) always fails.
    "fp16": Thresholds(cosine=0.999, atol=1e-2, rtol=1e-2),
    # int8 has 8 bits per tensor: element-wise tolerances make no sense, similarity does. cosine >= 0.98
    # is the usual PTQ acceptance bar (about 14 dB if the error is all "direction"). Cosine is blind to
    # scale, so SNR >= 14 dB is required too: it fails a wrong gain or offset (an output 25% too large
    # has cosine 1.0 but 12 dB). "cosine or SNR >= 20 dB" would add nothing: SNR >= 20 dB means the error
    # is <= 10% of the signal, i.e. cosine >= 0.995.
    "int8": Thresholds(cosine=0.98, snr_db=14.0),
}


@dataclass
class OutputPrecision:
    """How one output of the transformed model compares with the fp32 original at one batch size."""

    output: str
    batch: int
    max_abs: float
    max_rel: float
    cosine: float
    snr_db: float
    nonfinite: int
    passed: bool
    problem: str = ""

    def to_dict(self) -> dict[str, object]:
        return {key: (None if isinstance(value, float) and not math.isfinite(value) else value)
                for key, value in vars(self).items()}


@dataclass
class PrecisionReport:
    precision: str
    passed: bool
    batches: list[int]
    thresholds: Thresholds
    runner: str
    outputs: list[OutputPrecision] = field(default_factory=list)
    random_calibration: bool = False
    message: str = ""

    def worst(self) -> OutputPrecision | None:
        return min(self.outputs, key=lambda o: (o.passed, o.cosine if math.isfinite(o.cosine) else -2.0),
                   default=None)

    def to_dict(self) -> dict[str, object]:
        return {
            "precision": self.precision,
            "passed": self.passed,
            "batches": self.batches,
            "thresholds": vars(self.thresholds),
            "runner": self.runner,
            "random_calibration": self.random_calibration,
            "message": self.message,
            "outputs": [o.to_dict() for o in self.outputs],
        }


@dataclass
class Calibration:
    """Calibration batches for :func:`to_int8`: ``{input name: array}`` each, in the model's dtypes."""

    batches: list[dict[str, np.ndarray]]
    random: bool
    source: str

    def __len__(self) -> int:
        return len(self.batches)


# --------------------------------------------------------------------------------------------------
# naming and dispatch


def output_path(output_base: str | os.PathLike[str], precision: str) -> Path:
    """``fixed.onnx`` -> ``fixed.fp16.onnx`` / ``fixed.int8.onnx`` beside it (``fixed.onnx`` for fp32)."""
    _check_precision(precision)
    base = Path(output_base)
    if precision == "fp32":
        return base
    return base.with_name(f"{base.stem if base.suffix == '.onnx' else base.name}.{precision}.onnx")


def transform(
    source: str | os.PathLike[str],
    output_base: str | os.PathLike[str],
    precision: str,
    calibration: Calibration | None = None,
) -> Path:
    """Write ``source`` at ``precision`` beside ``output_base`` and return its path.

    fp32 returns ``source`` unchanged. int8 without ``calibration`` calibrates on random data (and warns
    with :class:`RandomCalibrationWarning`).
    """
    _check_precision(precision)
    source = Path(source)
    if precision == "fp32":
        return source
    target = output_path(output_base, precision)
    if precision == "fp16":
        return to_fp16(source, target)
    if calibration is None:
        from graphfix.loading import load
        from graphfix.verify import input_specs, integer_ranges

        model = load(source).model
        calibration = load_calibration(None, input_specs(model), ranges=integer_ranges(model))
    return to_int8(source, target, calibration)


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")


# --------------------------------------------------------------------------------------------------
# fp16


def to_fp16(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    block_list: Sequence[str] = FP16_BLOCK_LIST,
) -> Path:
    """Write a mixed-precision copy of ``source`` to ``output``: fp32 inputs and outputs, fp16 inside,
    the ops in ``block_list`` (and custom-domain nodes) in fp32. Returns ``output``."""
    try:
        from onnxconverter_common import float16
    except ImportError as error:
        raise GraphfixError("fp16 needs onnxconverter-common: pip install 'graphfix[precision]'") from error

    source, output = Path(source), Path(output)
    proto = _read_structure(source)
    check_destination(output, inputs=[source], in_place=False)
    if _has_fp16(proto.graph):
        raise PrecisionError(f"{source}: already contains float16 tensors; give the fp32 model")
    signature = _io_signature(proto)
    external = _external_locations(proto)
    if proto.functions:
        proto = onnx.inliner.inline_local_functions(proto)
    _name_nodes(proto.graph)
    # Initializers whose bytes live in external data: the converter can only flip their type (it sees no
    # bytes), so they are converted here, lazily, from the source's data files.
    external_floats = {t.name for t in proto.graph.initializer
                       if t.data_type == TensorProto.FLOAT and t.data_location == TensorProto.EXTERNAL}
    exact = _float32_only_constants(proto.graph)
    blocked_ops = set(block_list)
    blocked_nodes = {n.name for n in _all_nodes(proto.graph) if n.domain not in _STANDARD_DOMAINS}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # per-tensor clipping notes, misleading for -inf masks
            converted = float16.convert_float_to_float16(
                proto, min_positive_val=_FP16_MIN_POSITIVE, max_finite_val=_FP16_MAX, keep_io_types=True,
                op_block_list=sorted(blocked_ops), node_block_list=sorted(blocked_nodes),
                check_fp16_ready=False)
    except Exception as error:  # shape inference or the converter refuses the graph
        raise PrecisionError(f"{source}: fp16 conversion failed: {_first_line(error)}") from error
    _restore_float32_constants(converted.graph, exact)
    _repair_fp16(converted.graph, blocked_ops, blocked_nodes)
    _restore_outputs(converted.graph, signature)
    present = sorted({n.op_type for n in _all_nodes(converted.graph) if n.op_type in blocked_ops})
    _set_metadata(converted, {_META_PRECISION: "fp16", "graphfix.fp16_blocked_ops": ",".join(present)})

    model = ir.serde.deserialize_model(converted)
    ir.external_data.set_base_dir(model.graph, source.parent)
    for name in external_floats:
        value = model.graph.initializers.get(name)
        if value is not None and value.const_value is not None and value.dtype == ir.DataType.FLOAT16:
            value.const_value = _lazy_fp16(value.const_value, source.parent, name)

    def check(staged: Path) -> None:
        _check_written(staged, signature, "fp16")

    save_model(model, output, external=bool(external) or _weight_bytes(proto) > EMBED_LIMIT_BYTES,
               check=check)
    return output


def _lazy_fp16(stored: Any, base_dir: Path, name: str) -> ir.LazyTensor:
    """The fp16 version of an fp32 initializer in external data, computed when it is written."""
    from onnxconverter_common import float16

    fp32 = ir.ExternalTensor(stored.location, stored.offset, stored.length, ir.DataType.FLOAT,
                             shape=stored.shape, name=name, base_dir=base_dir)

    def convert() -> ir.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            half = float16.convert_np_to_float16(fp32.numpy(), _FP16_MIN_POSITIVE, _FP16_MAX)
        return ir.Tensor(half, name=name)

    return ir.LazyTensor(convert, dtype=ir.DataType.FLOAT16, shape=stored.shape, name=name)


def _repair_fp16(graph: onnx.GraphProto, blocked_ops: set[str], blocked_nodes: set[str]) -> None:
    """Fix what ``convert_float_to_float16`` leaves inconsistent (see the module docstring)."""
    types = _elem_types(graph)
    float_inits = {t.name for t in graph.initializer if t.data_type == TensorProto.FLOAT}
    added: list[tuple[int, onnx.NodeProto]] = []
    shared_casts: dict[str, str] = {}
    for index, node in enumerate(graph.node):
        blocked = node.op_type in blocked_ops or node.name in blocked_nodes
        if not blocked:
            # Cast(to=float) / dtype=float producing what the converter typed as fp16.
            for attr in node.attribute:
                if (attr.name in ("to", "dtype") and attr.type == onnx.AttributeProto.INT
                        and attr.i == TensorProto.FLOAT and node.output
                        and types.get(node.output[0]) == TensorProto.FLOAT16):
                    attr.i = TensorProto.FLOAT16
        float_only = _FLOAT32_ONLY_INPUTS.get(node.op_type, ()) if node.domain in _STANDARD_DOMAINS else ()
        for position, name in enumerate(node.input):
            if not name:
                continue
            if position in float_only:
                if name in float_inits:
                    continue
                if types.get(name) == TensorProto.FLOAT16:
                    cast = f"{name}_gf_fp32_for_{node.name}"
                    added.append((index, helper.make_node("Cast", [name], [cast], to=TensorProto.FLOAT,
                                                          name=f"{node.name}_gf_cast_input{position}")))
                    node.input[position] = cast
            elif not blocked and node.op_type != "Cast" and name in float_inits:
                # An fp32 initializer kept for a blocked consumer, also read by this fp16 node.
                if name not in shared_casts:
                    shared_casts[name] = f"{name}_gf_fp16"
                    added.append((-1, helper.make_node("Cast", [name], [shared_casts[name]],
                                                       to=TensorProto.FLOAT16, name=f"{name}_gf_cast_fp16")))
                node.input[position] = shared_casts[name]
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _repair_fp16(attr.g, blocked_ops, blocked_nodes)
            for sub in attr.graphs:
                _repair_fp16(sub, blocked_ops, blocked_nodes)
    if added:
        nodes = list(graph.node)
        for index, cast in sorted(added, key=lambda item: item[0], reverse=True):
            nodes.insert(max(index, 0), cast)
        del graph.node[:]
        graph.node.extend(nodes)


def _float32_only_constants(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    """Constants (initializers or Constant nodes) read only by float32-only inputs (Resize's scales):
    they must keep their exact fp32 values (1/3 in fp16 is 0.33325, which can change an output size)."""
    readers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for position, name in enumerate(node.input):
            readers.setdefault(name, []).append((node, position))
    outputs = {v.name for v in graph.output}
    candidates = {t.name: t for t in graph.initializer if t.data_type == TensorProto.FLOAT}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in _STANDARD_DOMAINS:
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                    candidates[node.output[0]] = attr.t
    exact = {}
    for name, tensor in candidates.items():
        uses = readers.get(name, [])
        if uses and name not in outputs and all(
                position in _FLOAT32_ONLY_INPUTS.get(node.op_type, ()) for node, position in uses):
            copy = onnx.TensorProto()
            copy.CopyFrom(tensor)
            exact[name] = copy
    return exact


def _restore_float32_constants(graph: onnx.GraphProto, exact: Mapping[str, onnx.TensorProto]) -> None:
    for tensor in graph.initializer:
        if tensor.name in exact:
            tensor.CopyFrom(exact[tensor.name])
    for node in graph.node:
        if node.op_type == "Constant" and node.output and node.output[0] in exact:
            for attr in node.attribute:
                if attr.name == "value":
                    attr.t.CopyFrom(exact[node.output[0]])
    for info in graph.value_info:
        if info.name in exact:
            info.type.tensor_type.elem_type = TensorProto.FLOAT


def _restore_outputs(graph: onnx.GraphProto, signature: Mapping[str, list[tuple[str, int]]]) -> None:
    """Graph outputs keep their fp32 type. The converter types an output fp16 when a blocked op produces
    it (its Cast back to fp16 lands on the output itself); that Cast becomes a Cast to float, or one is
    added."""
    declared = dict(signature["outputs"])
    producers = {name: node for node in graph.node for name in node.output}
    for value in graph.output:
        wanted = declared.get(value.name)
        if wanted != TensorProto.FLOAT or value.type.tensor_type.elem_type != TensorProto.FLOAT16:
            continue
        value.type.tensor_type.elem_type = TensorProto.FLOAT
        producer = producers.get(value.name)
        if producer is not None and producer.op_type == "Cast":
            for attr in producer.attribute:
                if attr.name == "to":
                    attr.i = TensorProto.FLOAT
            continue
        if producer is None:
            continue
        half = f"{value.name}_gf_fp16"
        producer.output[list(producer.output).index(value.name)] = half
        index = list(graph.node).index(producer) + 1
        graph.node.insert(index, helper.make_node("Cast", [half], [value.name], to=TensorProto.FLOAT,
                                                  name=f"{value.name}_gf_cast_fp32"))
        for info in graph.value_info:
            if info.name == value.name:
                info.name = half
                info.type.tensor_type.elem_type = TensorProto.FLOAT16


# --------------------------------------------------------------------------------------------------
# calibration data


def load_calibration(
    path: str | os.PathLike[str] | None,
    specs: Sequence[InputSpec],
    *,
    batch: int = 1,
    samples: int = 8,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> Calibration:
    """Calibration batches for the model whose inputs are ``specs``.

    ``path`` is one ``.npz`` keyed by input name, or a folder of ``.npz`` files (each keyed by input name)
    and/or ``.npy`` files (for a one-input model any name; otherwise ``<input name>.npy``). Arrays hold
    samples along axis 0 (``[N, 3, 224, 224]``); all of them are used, in batches of ``batch`` (of the
    model's batch when it is fixed). Values are cast to the model's dtypes when that keeps every value;
    anything else is a :class:`CalibrationError`.

    ``path=None`` makes ``samples`` random samples (``random=True``): floats uniform in ``ranges[name]``
    (default [0, 1), the range ``graphfix.verify`` draws from), integers uniform in the inclusive range
    ``ranges[name]``, as :func:`graphfix.verify.integer_ranges` gives them (token ids below the table
    they index, 0/1 otherwise).
    """
    if batch < 1 or samples < 1:
        raise UsageError(f"calibration: batch ({batch}) and samples ({samples}) must be at least 1")
    if not specs:
        raise CalibrationError("calibration: the model has no inputs to calibrate")
    if path is None:
        return _random_calibration(specs, batch, samples, ranges or {})
    path = Path(path)
    if not path.exists():
        raise CalibrationError(f"{path}: calibration data not found (give a folder of .npy/.npz files "
                               "or one .npz keyed by input name)")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".npy", ".npz"))
        if not files:
            raise CalibrationError(f"{path}: no .npy or .npz files in this folder")
    elif path.suffix in (".npz", ".npy"):
        files = [path]
    else:
        raise CalibrationError(f"{path}: not a .npz file or a folder of .npy/.npz files")

    batches: list[dict[str, np.ndarray]] = []
    total = 0
    for label, arrays in _records(files, specs, path):
        conformed = {spec.name: _conform(label, spec, arrays[spec.name]) for spec in specs}
        counts = {name: array.shape[0] for name, array in conformed.items()}
        if len(set(counts.values())) != 1:
            shown = ", ".join(f"{name}: {count}" for name, count in counts.items())
            raise CalibrationError(f"{label}: inputs hold different numbers of samples ({shown})")
        count = next(iter(counts.values()))
        if count == 0:
            raise CalibrationError(f"{label}: holds no samples")
        fixed = _fixed_batch(specs)
        step = fixed or batch
        if fixed and count % fixed:
            raise CalibrationError(f"{label}: {count} samples is not a multiple of the model's fixed "
                                   f"batch {fixed}")
        for start in range(0, count, step):
            batches.append({name: np.ascontiguousarray(array[start:start + step])
                            for name, array in conformed.items()})
        total += count
    return Calibration(batches, False, f"{path} ({total} samples, {len(batches)} batches)")


def _records(
    files: Sequence[Path], specs: Sequence[InputSpec], root: Path
) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """One ``(label, {input: array})`` per .npz file, plus one for the folder's .npy files."""
    names = [spec.name for spec in specs]
    loose: dict[str, np.ndarray] = {}
    for file in files:
        if file.suffix == ".npz":
            arrays = _read_arrays(file)
            missing = [name for name in names if name not in arrays]
            if missing:
                raise CalibrationError(f"{file}: no array for input {', '.join(repr(m) for m in missing)} "
                                       f"(it has: {', '.join(arrays) or 'nothing'}; the model's inputs: "
                                       f"{', '.join(names)})")
            yield str(file), arrays
        elif len(names) == 1:
            yield str(file), {names[0]: _read_arrays(file)[""]}
        elif file.stem in names:
            loose[file.stem] = _read_arrays(file)[""]
        else:
            raise CalibrationError(f"{file}: the model has several inputs ({', '.join(names)}); name .npy "
                                   "files after the input they feed, or use .npz files keyed by input name")
    if loose:
        missing = [name for name in names if name not in loose]
        if missing:
            raise CalibrationError(f"{root}: no {', '.join(m + '.npy' for m in missing)} (each input of the "
                                   "model needs its own .npy file)")
        yield str(root), loose


def _read_arrays(file: Path) -> dict[str, np.ndarray]:
    """A .npz as ``{key: array}``, a .npy as ``{"": array}``."""
    try:
        loaded = np.load(file, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            if file.suffix == ".npz":
                raise CalibrationError(f"{file}: holds one array, not arrays keyed by input name (save it "
                                       "with numpy.savez(path, input_name=array, ...))")
            return {"": loaded}
        with loaded:
            if file.suffix == ".npy":
                raise CalibrationError(f"{file}: is an .npz archive; name it .npz")
            return {key: loaded[key] for key in loaded.files}
    except CalibrationError:
        raise
    except Exception as error:
        raise CalibrationError(f"{file}: cannot read: {_first_line(error)}") from error


def _conform(label: str, spec: InputSpec, array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if spec.dims is not None:
        expected = "[" + ", ".join(["N"] + [str(d) if d is not None else "?" for d in spec.dims[1:]]) + "]"
        if array.ndim != len(spec.dims):
            raise CalibrationError(f"{label}: input {spec.name!r} has shape {list(array.shape)}, expected "
                                   f"{expected} (rank {len(spec.dims)}, samples along axis 0)")
        for axis, dim in enumerate(spec.dims):
            if axis > 0 and dim is not None and array.shape[axis] != dim:
                raise CalibrationError(f"{label}: input {spec.name!r} has shape {list(array.shape)}, "
                                       f"expected {expected} (axis {axis} must be {dim})")
    return _cast(label, spec, array)


def _cast(label: str, spec: InputSpec, array: np.ndarray) -> np.ndarray:
    """Cast to the model's dtype when every value survives; else a CalibrationError."""
    target = np.dtype(spec.dtype)
    if array.dtype == target:
        return array
    where = f"{label}: input {spec.name!r} is {array.dtype} but the model takes {target}"
    kind = array.dtype.kind
    if target.kind == "f":
        if kind not in "fiub":
            raise CalibrationError(f"{where}; it cannot be converted")
        finite = array[np.isfinite(array)] if kind == "f" else array
        if finite.size and np.abs(finite.astype(np.float64)).max() > np.finfo(target).max:
            raise CalibrationError(f"{where}; its values do not fit in {target}")
        return array.astype(target)
    if target.kind in "iu":
        if kind == "f":
            if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
                raise CalibrationError(f"{where}, and holds non-integer values; save integer data")
        elif kind not in "iub":
            raise CalibrationError(f"{where}; it cannot be converted")
        if array.size:
            info = np.iinfo(target)
            low, high = array.min(), array.max()
            if low < info.min or high > info.max:
                raise CalibrationError(f"{where}; values {low}..{high} do not fit")
        return array.astype(target)
    if target.kind == "b":
        if kind in "iu" and np.isin(array, (0, 1)).all():
            return array.astype(target)
        raise CalibrationError(f"{where}; give booleans (or 0/1 integers)")
    raise CalibrationError(f"{where}; it cannot be converted")


def _fixed_batch(specs: Sequence[InputSpec]) -> int | None:
    """The model's batch when dim 0 of an input is a number (None when it is dynamic)."""
    fixed = [spec.dims[0] for spec in specs if spec.dims and spec.dims[0] is not None]
    return int(fixed[0]) if fixed else None


def _random_calibration(
    specs: Sequence[InputSpec], batch: int, samples: int, ranges: Mapping[str, tuple[float, float]]
) -> Calibration:
    step = _fixed_batch(specs) or batch
    shapes = input_shapes_for(specs, step, {})
    rng = np.random.default_rng(_RANDOM_SEED)
    count = max(1, math.ceil(samples / step))
    batches = []
    for _ in range(count):
        feeds: dict[str, np.ndarray] = {}
        for spec in specs:
            dtype, shape = np.dtype(spec.dtype), shapes[spec.name]
            if dtype.kind == "b":
                feeds[spec.name] = rng.integers(0, 2, size=shape).astype(bool)
            elif dtype.kind in "iu":
                low, high = ranges.get(spec.name, (0, 1))
                feeds[spec.name] = rng.integers(int(low), int(high) + 1, size=shape).astype(dtype)
            else:
                low, high = ranges.get(spec.name, (0.0, 1.0))
                feeds[spec.name] = rng.uniform(low, high, size=shape).astype(dtype)
        batches.append(feeds)
    return Calibration(batches, True, f"random data ({count} batches of {step}; no calibration data given)")


# --------------------------------------------------------------------------------------------------
# int8


def to_int8(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    calibration: Calibration,
    *,
    per_channel: bool = True,
    op_types: Sequence[str] = INT8_OP_TYPES,
    target: str = "tensorrt",
) -> Path:
    """Write an explicitly quantized (Q/DQ, symmetric int8, zero point 0) copy of ``source`` to ``output``,
    calibrated on ``calibration``. Returns ``output``.

    ``target="onnxruntime"`` writes ONNX Runtime's own CPU form instead (uint8 asymmetric activations,
    int8 weights, Q/DQ around every op ORT quantizes): ORT's x86 kernels fuse only that form into int8
    kernels, while the TensorRT form (no Q after Conv, signed activations) runs in fp32 there and is
    slower than fp32 (bench/latency_bench.py). TensorRT needs the default form.

    ``per_channel=False`` quantizes weights per tensor. ``op_types`` are the ops whose inputs get Q/DQ.
    ORT's quantizer holds the whole model in memory; the source is copied into a private folder beside
    ``output`` first (ORT writes temporary files beside the model it reads) and ORT writes its calibration
    copy of the model to the system temporary folder (``TMPDIR``), so large models need that much room.
    """
    try:
        from onnxruntime.quantization import (
            CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static)
    except ImportError as error:
        raise GraphfixError("int8 needs onnxruntime: pip install 'graphfix[precision]'") from error

    source, output = Path(source), Path(output)
    proto = _read_structure(source)
    check_destination(output, inputs=[source], in_place=False)
    if not calibration.batches:
        raise CalibrationError(f"calibration ({calibration.source}) holds no batches")
    inputs = _graph_inputs(proto)
    for number, feeds in enumerate(calibration.batches):
        missing = [name for name in inputs if name not in feeds]
        if missing:
            raise CalibrationError(f"calibration ({calibration.source}) batch {number} has no data for input "
                                   f"{', '.join(repr(m) for m in missing)}")
    if calibration.random:
        warnings.warn(RandomCalibrationWarning(
            f"{source}: int8 scales come from random data ({calibration.source}); the model runs but its "
            "accuracy on real inputs will be poor. Give calibration data (a .npz keyed by input name, or a "
            "folder of .npy/.npz files)"), stacklevel=2)
    if target not in ("tensorrt", "onnxruntime"):
        raise UsageError(f"int8 target {target!r}: expected 'tensorrt' or 'onnxruntime'")
    signature = _io_signature(proto)
    external = bool(_external_locations(proto)) or _weight_bytes(proto) > EMBED_LIMIT_BYTES

    class Reader(CalibrationDataReader):  # type: ignore[misc] - ORT's abstract reader
        def __init__(self) -> None:
            self._batches = iter(calibration.batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            feeds = next(self._batches, None)
            return None if feeds is None else {name: feeds[name] for name in inputs}

    parent = output.parent if str(output.parent) else Path(".")
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.graphfix-int8-", dir=parent))
    try:
        staged_source = _stage_source(source, proto, staging / "source")
        staged_output = staging / "quantized" / output.name
        staged_output.parent.mkdir()
        options = {
            "ActivationSymmetric": True,
            "WeightSymmetric": True,
            "QuantizeBias": False,
            "AddQDQPairToWeight": True,
            "OpTypesToExcludeOutputQuantization": list(op_types),
            "QDQOpTypePerChannelSupportToAxis": {"MatMul": -1},
            # Not "CalibMaxIntermediateOutputs": in ORT 1.32 it discards what it collected without
            # computing ranges first. MinMax keeps only per-tensor min/max scalars per batch anyway.
        }
        activations = QuantType.QInt8
        quantized_ops: list[str] | None = list(op_types)
        if target == "onnxruntime":
            activations, quantized_ops = QuantType.QUInt8, None
            options = {"QDQOpTypePerChannelSupportToAxis": {"MatMul": -1}}
        try:
            with _quiet_quantization():
                quantize_static(
                    str(staged_source), str(staged_output), Reader(), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=quantized_ops, per_channel=per_channel, reduce_range=False,
                    activation_type=activations, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, use_external_data_format=external,
                    extra_options=options)
        except GraphfixError:
            raise
        except Exception as error:
            raise PrecisionError(f"{source}: int8 quantization failed: {_first_line(error)}") from error
        model = ir.load(staged_output)
        model.metadata_props.update({_META_PRECISION: "int8", _META_CALIBRATION: calibration.source,
                                     _META_RANDOM: "true" if calibration.random else "false"})

        def check(staged: Path) -> None:
            # The TensorRT rules (zero point 0, symmetric scales) apply to the TensorRT form only.
            _check_written(staged, signature, "int8" if target == "tensorrt" else "int8 (onnxruntime)")

        save_model(model, output, external=external, check=check)
        return output
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stage_source(source: Path, proto: onnx.ModelProto, folder: Path) -> Path:
    """A copy of the source (and its external data) in our own folder: ORT writes
    ``<model>-inferred.onnx`` beside the model it quantizes, which must not land beside the user's.
    Copies, not links: onnx refuses external data with several hard links (or symlinks)."""
    folder.mkdir()
    targets = [(source, folder / source.name)]
    for location in _external_locations(proto):
        origin = (source.parent / location).resolve()
        if not origin.is_relative_to(source.parent.resolve()):
            raise ModelError(str(source), f"external data {location!r} is outside the model's folder")
        targets.append((origin, folder / location))
    for origin, target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(origin, target)
        except OSError as error:
            raise GraphfixError(f"{target.parent}: cannot stage {origin.name} for quantization: "
                                f"{error.strerror or error} (nothing was written)") from error
    return folder / source.name


@contextlib.contextmanager
def _quiet_quantization() -> Iterator[None]:
    """ORT's quantizer logs through the root logger ("consider pre-processing") and prints; mute both."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(previous)


# --------------------------------------------------------------------------------------------------
# checks of the written files


def _check_written(staged: Path, signature: dict[str, list[tuple[str, int]]], precision: str) -> None:
    try:
        onnx.checker.check_model(str(staged), full_check=True)
    except Exception as error:
        raise PrecisionError(f"the {precision} model fails onnx.checker: {_first_line(error)} (nothing was "
                             "written; please report this)") from error
    written = onnx.load(str(staged), load_external_data=False)
    if _io_signature(written) != signature:
        raise PrecisionError(f"the {precision} model changed the graph's inputs or outputs (nothing was "
                             "written; please report this)")
    if precision == "fp16" and not _has_fp16(written.graph):
        raise PrecisionError("the fp16 model holds no float16 tensor: every op is on the block list or "
                             "in a custom domain (nothing was written)")
    if precision == "int8":
        _check_qdq(written, staged.parent)


def _check_qdq(model: onnx.ModelProto, base_dir: Path) -> None:
    """The Q/DQ rules TensorRT enforces: int8, zero point present and 0, positive scales, per-channel
    only on weights and only on their output-channel axis."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {name: node for node in graph.node for name in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    quantized = 0
    for node in graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        quantized += 1
        where = f"{node.op_type} {node.name!r}"
        if len(node.input) < 3 or node.input[2] not in inits:
            raise PrecisionError(f"{where} has no constant zero point; TensorRT requires one")
        zero = inits[node.input[2]]
        if zero.data_type != TensorProto.INT8 or numpy_helper.to_array(zero, str(base_dir)).any():
            raise PrecisionError(f"{where}: zero point must be int8 zeros for TensorRT")
        scale = numpy_helper.to_array(inits[node.input[1]], str(base_dir)) if node.input[1] in inits else None
        if scale is None or not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise PrecisionError(f"{where}: scales must be constant, finite and positive for TensorRT")
        if scale.size == 1:
            continue
        # Per-channel: the weight is the Q's input (a fp32 initializer behind Q -> DQ) or the DQ's (int8).
        if node.op_type == "QuantizeLinear":
            weight = node.input[0]
            dequantizers = consumers.get(node.output[0], [])
        else:
            producer = producers.get(node.input[0])
            weight = producer.input[0] if producer is not None and producer.op_type == "QuantizeLinear" \
                else node.input[0]
            dequantizers = [node]
        if weight not in inits:
            raise PrecisionError(f"{where}: per-channel scales on an activation; TensorRT only accepts them "
                                 "on weights")
        rank = len(inits[weight].dims)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1) % rank
        for dq in dequantizers:
            for consumer in consumers.get(dq.output[0], []):
                position = list(consumer.input).index(dq.output[0])
                expected = _output_channel_axis(consumer, position, rank)
                if expected is not None and axis != expected:
                    raise PrecisionError(
                        f"{where}: per-channel axis {axis} for input {position} of {consumer.op_type} "
                        f"{consumer.name!r}; TensorRT needs the output-channel axis "
                        f"{expected if expected >= 0 else '(none: weights must be input 1)'} "
                        "(quantize with per_channel=False)")
    if not quantized:
        raise PrecisionError(f"no QuantizeLinear/DequantizeLinear was inserted (no {'/'.join(INT8_OP_TYPES)} "
                             "with weights?); nothing was written")


def _output_channel_axis(consumer: onnx.NodeProto, position: int, rank: int) -> int | None:
    """The axis of a per-channel weight that indexes the consumer's output channels; -1 when no axis is
    acceptable (a per-channel tensor in a position TensorRT does not take weights), None when the
    consumer is not a weighted op."""
    if consumer.op_type not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
        return None
    if position != 1:
        return -1
    if consumer.op_type == "Conv":
        return 0  # [K, C/g, R, S]
    if consumer.op_type == "ConvTranspose":
        return 1  # [C, K/g, R, S]
    if consumer.op_type == "Gemm":
        trans_b = next((a.i for a in consumer.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1  # B is [N, K] with transB, else [K, N]
    return rank - 1  # MatMul: B is [..., K, N]


# --------------------------------------------------------------------------------------------------
# comparison


def compare_precision(
    original: str | os.PathLike[str],
    transformed: str | os.PathLike[str],
    feeds_by_batch: Mapping[int, Mapping[str, tuple[int, ...]]],
    *,
    precision: str,
    dtypes: Mapping[str, np.dtype],
    ranges: Mapping[str, tuple[float, float]],
    seed: int = 0,
    thresholds: Thresholds | None = None,
    runner: str = "auto",
) -> PrecisionReport:
    """Run ``original`` and ``transformed`` on the same seeded random inputs (those of
    ``graphfix.verify.compare``) at each batch size and judge every output against ``thresholds``
    (default: :data:`DEFAULT_THRESHOLDS` for ``precision``).

    ``runner="auto"``: ONNX Runtime CPU, fp16 tensors emulated (see the module docstring);
    ``runner="reference"``: the transformed file in ``onnx.reference.ReferenceEvaluator``.
    """
    _check_precision(precision)
    if runner not in ("auto", "reference"):
        raise UsageError(f"runner {runner!r}: expected 'auto' or 'reference'")
    limits = thresholds or DEFAULT_THRESHOLDS[precision]
    original, transformed = Path(original), Path(transformed)
    structure = _read_structure(transformed)
    meta = {p.key: p.value for p in structure.metadata_props}
    random_calibration = meta.get(_META_RANDOM) == "true"
    batches = list(feeds_by_batch)
    report = PrecisionReport(precision, False, batches, limits, "", random_calibration=random_calibration)
    try:
        reference = _ort_session(original)
    except Exception as error:
        report.message = f"ONNX Runtime cannot load {original}: {_first_line(error)}"
        return report
    try:
        run, report.runner = _candidate_runner(transformed, structure, runner)
    except Exception as error:
        report.runner = "onnxruntime CPU"
        report.message = f"the {precision} model cannot be loaded: {_first_line(error)}"
        return report

    problems: list[str] = []
    for batch, shapes in feeds_by_batch.items():
        feeds = _random_feeds(shapes, dtypes, ranges, seed + batch)
        try:
            expected = dict(zip([o.name for o in reference.get_outputs()], reference.run(None, feeds)))
            actual = run(feeds)
        except Exception as error:
            problems.append(f"batch {batch}: a model failed to run: {_first_line(error)}")
            continue
        for name, want in expected.items():
            got = actual.get(name)
            result = _judge(name, batch, want, got, limits)
            report.outputs.append(result)
            if not result.passed:
                problems.append(f"output {name!r} at batch {batch}: {result.problem}")
    report.passed = not problems and bool(report.outputs)
    notes = []
    if random_calibration:
        notes.append("int8 scales came from random calibration data: accuracy on real inputs will be poor")
    if report.passed:
        worst = report.worst()
        summary = (f"{precision}: {len({o.output for o in report.outputs})} output(s) within "
                   f"{limits.describe()} at batch {', '.join(map(str, batches))}")
        if worst is not None:
            summary += (f" (worst: {worst.output!r} cosine {worst.cosine:.6f}, SNR {worst.snr_db:.1f} dB, "
                        f"max abs {worst.max_abs:.3g})")
        report.message = "; ".join([summary, *notes])
    else:
        report.message = "; ".join([*problems, *notes]) or "no outputs were compared"
    return report


def _judge(
    name: str, batch: int, want: np.ndarray, got: np.ndarray | None, limits: Thresholds
) -> OutputPrecision:
    nan = float("nan")
    if got is None:
        return OutputPrecision(name, batch, nan, nan, nan, nan, 0, False,
                               "missing from the transformed model")
    if want.shape != got.shape:
        return OutputPrecision(name, batch, nan, nan, nan, nan, 0, False,
                               f"shape {list(got.shape)}, expected {list(want.shape)}")
    ref = np.asarray(want, dtype=np.float64)
    out = np.asarray(got, dtype=np.float64)
    ref_finite, out_finite = np.isfinite(ref), np.isfinite(out)
    # Non-finite where the reference is finite (overflow), or a different non-finite value.
    broken = (ref_finite & ~out_finite) | (~ref_finite & ~((ref == out) | (np.isnan(ref) & np.isnan(out))))
    nonfinite = int(broken.sum())
    both = ref_finite & out_finite
    r, o = ref[both], out[both]
    diff = np.abs(o - r)
    max_abs = float(diff.max()) if diff.size else 0.0
    nonzero = r != 0
    max_rel = float((diff[nonzero] / np.abs(r[nonzero])).max()) if nonzero.any() else 0.0
    ref_norm, out_norm = float(np.linalg.norm(r)), float(np.linalg.norm(o))
    if ref_norm == 0.0 and out_norm == 0.0:
        cosine = 1.0
    elif ref_norm == 0.0 or out_norm == 0.0:
        cosine = 0.0
    else:
        cosine = float(np.dot(r, o) / (ref_norm * out_norm))
    noise = float(np.sum((o - r) ** 2))
    signal = float(np.sum(r**2))
    snr_db = math.inf if noise == 0.0 else (-math.inf if signal == 0.0 else 10.0 * math.log10(signal / noise))
    if nonfinite:
        max_abs, snr_db = math.inf, -math.inf
    reasons = []
    if nonfinite:
        reasons.append(f"{nonfinite} non-finite value(s) where fp32 is finite (fp16 overflow?)")
    if cosine < limits.cosine:
        reasons.append(f"cosine {cosine:.6f} < {limits.cosine:g}")
    if limits.snr_db is not None and snr_db < limits.snr_db and not nonfinite:
        reasons.append(f"SNR {snr_db:.1f} dB < {limits.snr_db:g} dB")
    if limits.atol is not None and not nonfinite:
        allowed = limits.atol + (limits.rtol or 0.0) * np.abs(r)
        outside = int((diff > allowed).sum())
        if outside:
            reasons.append(f"{outside} value(s) beyond {limits.atol:g} + {limits.rtol or 0:g}*|ref| "
                           f"(max abs {max_abs:.3g}, max rel {max_rel:.3g})")
    return OutputPrecision(name, batch, max_abs, max_rel, cosine, snr_db, nonfinite, not reasons,
                           "; ".join(reasons))


def _candidate_runner(path: Path, structure: onnx.ModelProto, runner: str) -> tuple[Any, str]:
    names = [o.name for o in structure.graph.output]
    if runner == "reference":
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(onnx.load(str(path)))

        def run_reference(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # overflow is reported
                return dict(zip(names, evaluator.run(None, dict(feeds))))

        return run_reference, "onnx.reference.ReferenceEvaluator (numpy; fp16 ops in numpy float16)"
    session = _ort_session(path)
    if not _has_fp16(structure.graph):
        def run_native(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            return dict(zip(names, session.run(None, dict(feeds))))

        return run_native, "onnxruntime CPU"
    if any(_is_fp16_value(v) for v in structure.graph.input):
        raise PrecisionError("fp16 graph inputs cannot be emulated; keep the inputs fp32 (keep_io_types)")
    emulated = _ort_session(path, proto=_emulate_fp16(structure), optimize=False)
    proved = False

    def run_emulated(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        nonlocal proved
        if not proved:  # the real fp16 file must load and run too
            session.run(None, dict(feeds))
            proved = True
        return dict(zip(names, emulated.run(None, dict(feeds))))

    return run_emulated, ("onnxruntime CPU, fp16 emulated (fp32 kernels, every fp16 tensor rounded to fp16 "
                          "where it is written; ORT's CPU provider computes most fp16 ops in fp32 and "
                          "would hide overflow); the fp16 file itself also ran")


def _emulate_fp16(structure: onnx.ModelProto) -> onnx.ModelProto:
    """The fp16 model as an fp32 graph whose fp16 tensors are rounded (Cast to float16 and back) where
    they are written. Weights are not rewritten: fp16 initializers are cast in the graph, so the
    emulation reads the transformed model's own (external) data."""
    model = onnx.shape_inference.infer_shapes(structure)
    types = _elem_types(model.graph)
    _emulate_graph(model.graph, types)
    return model


def _emulate_graph(graph: onnx.GraphProto, types: Mapping[str, int]) -> None:
    nodes: list[onnx.NodeProto] = []
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT16:
            name = init.name
            init.name = f"{name}__gf_half"
            nodes.append(helper.make_node("Cast", [init.name], [name], to=TensorProto.FLOAT,
                                          name=f"{name}__gf_widen"))
    for value in [*graph.input, *graph.output]:
        if _is_fp16_value(value):
            value.type.tensor_type.elem_type = TensorProto.FLOAT
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _emulate_graph(attr.g, types)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    _emulate_graph(sub, types)
            elif attr.type == onnx.AttributeProto.INT and attr.name in ("to", "dtype") \
                    and attr.i == TensorProto.FLOAT16:
                attr.i = TensorProto.FLOAT
            elif attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT16:
                attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float32),
                                                        attr.t.name))
        nodes.append(node)
        if node.op_type == "Constant":
            continue  # fp16 constants are exact in fp32
        for index, name in enumerate(node.output):
            if name and types.get(name) == TensorProto.FLOAT16:
                wide, half = f"{name}__gf_wide", f"{name}__gf_half"
                node.output[index] = wide
                nodes.append(helper.make_node("Cast", [wide], [half], to=TensorProto.FLOAT16,
                                              name=f"{name}__gf_round"))
                nodes.append(helper.make_node("Cast", [half], [name], to=TensorProto.FLOAT,
                                              name=f"{name}__gf_widen"))
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]


def _random_feeds(
    shapes: Mapping[str, tuple[int, ...]],
    dtypes: Mapping[str, np.dtype],
    ranges: Mapping[str, tuple[float, float]],
    seed: int,
) -> dict[str, np.ndarray]:
    """The inputs ``graphfix.verify.compare`` feeds at this seed (Polygraphy's DataLoader)."""
    from polygraphy.common import TensorMetadata
    from polygraphy.comparator import DataLoader
    from polygraphy.logger import G_LOGGER

    metadata = TensorMetadata()
    for name, shape in shapes.items():
        metadata.add(name, dtypes[name], shape)
    severity = G_LOGGER.module_severity
    G_LOGGER.module_severity = G_LOGGER.ERROR
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            loader = DataLoader(seed=seed, iterations=1, input_metadata=metadata,
                                val_range={name: ranges[name] for name in shapes if name in ranges} or None)
            return {name: np.asarray(value) for name, value in loader[0].items()}
    finally:
        G_LOGGER.module_severity = severity


def _ort_session(path: Path, *, proto: onnx.ModelProto | None = None, optimize: bool = True) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    # The emulation must run exactly as written: no fusion may drop its fp16 rounding.
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if optimize
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    providers = ["CPUExecutionProvider"]
    if proto is None:
        return ort.InferenceSession(str(path), options, providers=providers)
    # From memory, with the external data of the file it came from.
    options.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                     str(path.parent.resolve()))
    try:
        return ort.InferenceSession(proto.SerializeToString(), options, providers=providers)
    except Exception:
        if not _external_locations(proto):
            raise
    # Older ORT cannot point a model loaded from memory at its data: write it beside the data briefly.
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.graphfix-emulated-", suffix=".onnx",
                                         dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(proto.SerializeToString())
        return ort.InferenceSession(temporary, options, providers=providers)
    finally:
        os.unlink(temporary)


# --------------------------------------------------------------------------------------------------
# proto helpers


def _read_structure(path: Path) -> onnx.ModelProto:
    """The model without its weights (the graph, types and external-data references)."""
    if not path.is_file():
        raise ModelError(str(path), "no such file" if not path.exists() else "not a file")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as error:
        raise ModelError(str(path), f"cannot read the model: {_first_line(error)}") from error


def _all_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_graphs(attr.g)
            for sub in attr.graphs:
                yield from _all_graphs(sub)


def _all_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    for sub in _all_graphs(graph):
        yield from sub.node


def _elem_types(graph: onnx.GraphProto) -> dict[str, int]:
    types: dict[str, int] = {}
    for sub in _all_graphs(graph):
        for value in [*sub.input, *sub.output, *sub.value_info]:
            if value.type.HasField("tensor_type") and value.type.tensor_type.elem_type:
                types[value.name] = value.type.tensor_type.elem_type
        for init in sub.initializer:
            types[init.name] = init.data_type
    return types


def _is_fp16_value(value: onnx.ValueInfoProto) -> bool:
    return value.type.HasField("tensor_type") and value.type.tensor_type.elem_type == TensorProto.FLOAT16


def _has_fp16(graph: onnx.GraphProto) -> bool:
    for sub in _all_graphs(graph):
        if any(t.data_type == TensorProto.FLOAT16 for t in sub.initializer):
            return True
        if any(_is_fp16_value(v) for v in [*sub.input, *sub.output, *sub.value_info]):
            return True
        for node in sub.node:
            if node.op_type == "Cast" and any(a.name == "to" and a.i == TensorProto.FLOAT16
                                              for a in node.attribute):
                return True
    return False


def _graph_inputs(proto: onnx.ModelProto) -> list[str]:
    initializers = {t.name for t in proto.graph.initializer}
    return [v.name for v in proto.graph.input if v.name not in initializers]


def _io_signature(proto: onnx.ModelProto) -> dict[str, list[tuple[str, int]]]:
    initializers = {t.name for t in proto.graph.initializer}
    return {
        "inputs": [(v.name, v.type.tensor_type.elem_type) for v in proto.graph.input
                   if v.name not in initializers],
        "outputs": [(v.name, v.type.tensor_type.elem_type) for v in proto.graph.output],
    }


def _external_locations(proto: onnx.ModelProto) -> list[str]:
    locations: list[str] = []
    for tensor in onnx.external_data_helper._get_all_tensors(proto):  # noqa: SLF001 - includes attributes
        if tensor.data_location == TensorProto.EXTERNAL:
            for entry in tensor.external_data:
                if entry.key == "location" and entry.value not in locations:
                    locations.append(entry.value)
    return locations


def _weight_bytes(proto: onnx.ModelProto) -> int:
    total = 0
    for tensor in proto.graph.initializer:
        try:
            size = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        except (KeyError, ValueError, TypeError):
            size = 4
        total += size * math.prod(tensor.dims)
    return total


def _name_nodes(graph: onnx.GraphProto) -> None:
    """The converter names its Casts after the nodes they serve: unnamed nodes would collide."""
    taken = {n.name for n in _all_nodes(graph) if n.name}
    counter = 0
    for node in _all_nodes(graph):
        if not node.name:
            while f"{node.op_type}_gf{counter}" in taken:
                counter += 1
            node.name = f"{node.op_type}_gf{counter}"
            taken.add(node.name)


def _set_metadata(proto: onnx.ModelProto, values: Mapping[str, str]) -> None:
    kept = [p for p in proto.metadata_props if p.key not in values]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in values.items():
        proto.metadata_props.add(key=key, value=value)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
