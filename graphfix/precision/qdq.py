"""Checks of a written precision model: ``onnx.checker``, the unchanged interface, and the Q/DQ rules
TensorRT enforces on an int8 graph (zero point 0, positive scales, per-channel only on weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from graphfix.errors import PrecisionError
from graphfix.precision.common import first_line, has_fp16, io_signature

INT8_OP_TYPES: tuple[str, ...] = ("Conv", "ConvTranspose", "Gemm", "MatMul")
"""Ops whose inputs get Q/DQ: the weighted ops TensorRT runs in int8. Everything else (pooling, Add,
Softmax, LayerNorm) runs in the precision of its inputs, as TensorRT's Q/DQ placement advice says."""


def check_written(staged: Path, signature: dict[str, list[tuple[str, int]]], precision: str) -> None:
    try:
        onnx.checker.check_model(str(staged), full_check=True)
    except Exception as error:
        raise PrecisionError(f"the {precision} model fails onnx.checker: {first_line(error)} (nothing was "
                             "written; please report this)") from error
    written = onnx.load(str(staged), load_external_data=False)
    if io_signature(written) != signature:
        raise PrecisionError(f"the {precision} model changed the graph's inputs or outputs (nothing was "
                             "written; please report this)")
    if precision == "fp16" and not has_fp16(written.graph):
        raise PrecisionError("the fp16 model holds no float16 tensor: every op is on the block list or "
                             "in a custom domain (nothing was written)")
    if precision == "int8":
        check_qdq(written, staged.parent)


def check_qdq(model: onnx.ModelProto, base_dir: Path) -> None:
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
