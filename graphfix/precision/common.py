"""What every precision step shares: the precisions, file naming, metadata keys, and read-only helpers on
ONNX protos (the structure of a model read without its weights)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from graphfix.errors import ModelError, UsageError

PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")

STANDARD_DOMAINS = ("", "ai.onnx")
META_PRECISION = "graphfix.precision"
META_CALIBRATION = "graphfix.calibration"
META_RANDOM = "graphfix.calibration_random"


def output_path(output_base: str | os.PathLike[str], precision: str) -> Path:
    """``fixed.onnx`` -> ``fixed.fp16.onnx`` / ``fixed.int8.onnx`` beside it (``fixed.onnx`` for fp32)."""
    check_precision(precision)
    base = Path(output_base)
    if precision == "fp32":
        return base
    return base.with_name(f"{base.stem if base.suffix == '.onnx' else base.name}.{precision}.onnx")


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")


def read_structure(path: Path) -> onnx.ModelProto:
    """The model without its weights (the graph, types and external-data references)."""
    if not path.is_file():
        raise ModelError(str(path), "no such file" if not path.exists() else "not a file")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as error:
        raise ModelError(str(path), f"cannot read the model: {first_line(error)}") from error


def all_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from all_graphs(attr.g)
            for sub in attr.graphs:
                yield from all_graphs(sub)


def all_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    for sub in all_graphs(graph):
        yield from sub.node


def elem_types(graph: onnx.GraphProto) -> dict[str, int]:
    types: dict[str, int] = {}
    for sub in all_graphs(graph):
        for value in [*sub.input, *sub.output, *sub.value_info]:
            if value.type.HasField("tensor_type") and value.type.tensor_type.elem_type:
                types[value.name] = value.type.tensor_type.elem_type
        for init in sub.initializer:
            types[init.name] = init.data_type
    return types


def is_fp16_value(value: onnx.ValueInfoProto) -> bool:
    return value.type.HasField("tensor_type") and value.type.tensor_type.elem_type == TensorProto.FLOAT16


def has_fp16(graph: onnx.GraphProto) -> bool:
    for sub in all_graphs(graph):
        if any(t.data_type == TensorProto.FLOAT16 for t in sub.initializer):
            return True
        if any(is_fp16_value(v) for v in [*sub.input, *sub.output, *sub.value_info]):
            return True
        for node in sub.node:
            if node.op_type == "Cast" and any(a.name == "to" and a.i == TensorProto.FLOAT16
                                              for a in node.attribute):
                return True
    return False


def graph_inputs(proto: onnx.ModelProto) -> list[str]:
    initializers = {t.name for t in proto.graph.initializer}
    return [v.name for v in proto.graph.input if v.name not in initializers]


def io_signature(proto: onnx.ModelProto) -> dict[str, list[tuple[str, int]]]:
    initializers = {t.name for t in proto.graph.initializer}
    return {
        "inputs": [(v.name, v.type.tensor_type.elem_type) for v in proto.graph.input
                   if v.name not in initializers],
        "outputs": [(v.name, v.type.tensor_type.elem_type) for v in proto.graph.output],
    }


def external_locations(proto: onnx.ModelProto) -> list[str]:
    locations: list[str] = []
    for tensor in onnx.external_data_helper._get_all_tensors(proto):  # noqa: SLF001 - includes attributes
        if tensor.data_location == TensorProto.EXTERNAL:
            for entry in tensor.external_data:
                if entry.key == "location" and entry.value not in locations:
                    locations.append(entry.value)
    return locations


def weight_bytes(proto: onnx.ModelProto) -> int:
    total = 0
    for tensor in proto.graph.initializer:
        try:
            size = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        except (KeyError, ValueError, TypeError):
            size = 4
        total += size * math.prod(tensor.dims)
    return total


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
