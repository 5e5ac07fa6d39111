"""How to build for one TensorRT version and precision, as plain data (no TensorRT needed).

- 8.6, 9.x, 10.0-10.11: a weakly typed network and builder precision flags. fp16 is the FP16 flag on the
  fp32 graph (TensorRT picks the precision per layer); int8 is the INT8 flag on graphfix's explicit Q/DQ
  graph (no calibrator: Polygraphy attaches none when the network has Q/DQ layers).
- 10.12 and later 10.x: ``BuilderFlag.FP16``/``INT8`` are deprecated ("superseded by strong typing"), so
  the network is created STRONGLY_TYPED and the precision comes from the ONNX graph graphfix made (mixed
  fp16 with fp32 I/O, or Q/DQ int8).
- 11.x (and, with a note, later majors): the precision flags are gone and strong typing is always on
  (the STRONGLY_TYPED creation flag is deprecated and ignored), so the precision comes from the graph.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from graphfix.compiling.backends.tensorrt.status import (
    FLAGLESS_MAJOR,
    STRONG_TYPING_VERSION,
    _check_supported,
    parse_version,
)
from graphfix.errors import GraphfixError, UsageError

Precision = Literal["fp32", "fp16", "int8"]


GraphKind = Literal["fp32", "fp16-mixed", "int8-qdq"]


PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class BuildPlan:
    """How to build for one TensorRT version and precision. Plain data; no TensorRT needed."""

    trt_version: str
    precision: Precision
    # Which ONNX graph to feed the parser: the fp32 graph, graphfix's mixed fp16 graph (fp32 I/O), or
    # its explicit Q/DQ int8 graph.
    onnx_graph: GraphKind
    # The network takes every tensor's type from the ONNX graph (TensorRT 10.12+ here, always in 11).
    strongly_typed: bool
    # Pass NetworkDefinitionCreationFlag.STRONGLY_TYPED when creating the network (10.x only; 11
    # deprecated the flag and ignores it because strong typing is always on).
    strongly_typed_flag: bool
    # Builder precision flags to set (names of trt.BuilderFlag members: "FP16", "INT8").
    builder_flags: frozenset[str]
    notes: tuple[str, ...] = ()

    @property
    def major(self) -> int:
        return parse_version(self.trt_version)[0]

    @property
    def minor(self) -> int:
        return parse_version(self.trt_version)[1]

    def to_dict(self) -> dict[str, object]:
        return {
            "trt_version": self.trt_version,
            "precision": self.precision,
            "onnx_graph": self.onnx_graph,
            "strongly_typed": self.strongly_typed,
            "strongly_typed_flag": self.strongly_typed_flag,
            "builder_flags": sorted(self.builder_flags),
            "notes": list(self.notes),
        }


_PRECISION_GRAPH: dict[str, GraphKind] = {"fp32": "fp32", "fp16": "fp16-mixed", "int8": "int8-qdq"}


def plan_build(trt_version: str, precision: Precision) -> BuildPlan:
    """Which graph, network typing and builder flags a TensorRT version needs for a precision."""
    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    major, minor = _check_supported(trt_version)
    notes: list[str] = []
    if precision == "fp32":
        notes.append("TF32 stays off (Polygraphy's default), so the fp32 engine tracks ONNX Runtime closely")

    if major < 10 or (major, minor) < STRONG_TYPING_VERSION:
        # 8.6, 9.x and 10.0-10.11: weakly typed network, builder precision flags.
        if major == 9:
            notes.append("TensorRT 9 was a limited release; building as for 8.6")
        graph: GraphKind = "int8-qdq" if precision == "int8" else "fp32"
        flags = {"fp32": frozenset(), "fp16": frozenset({"FP16"}), "int8": frozenset({"INT8"})}[precision]
        if precision == "fp16":
            notes.append("FP16 builder flag on the fp32 graph: TensorRT picks fp16 per layer; graphfix's "
                         "fp16 block list is not enforced on a weakly typed network")
        if precision == "int8":
            notes.append("INT8 builder flag with graphfix's explicit Q/DQ graph; no calibrator (explicit "
                         "quantization)")
        return BuildPlan(trt_version, precision, graph, False, False, flags, tuple(notes))

    graph = _PRECISION_GRAPH[precision]
    if major == 10:
        # 10.12+: BuilderFlag.FP16/INT8 are deprecated ("superseded by strong typing").
        if precision != "fp32":
            notes.append("BuilderFlag.FP16/INT8 are deprecated since TensorRT 10.12 (superseded by strong "
                         "typing): a strongly typed network takes its precision from the ONNX graph")
        return BuildPlan(trt_version, precision, graph, True, True, frozenset(), tuple(notes))

    # 11.x and later: no precision flags; strong typing is always on (its creation flag is deprecated).
    notes.append("TensorRT 11 removed the builder precision flags and always builds strongly typed: the "
                 "precision comes from the ONNX graph")
    if major > FLAGLESS_MAJOR:
        notes.append(f"TensorRT {major} is newer than graphfix knows; building as for TensorRT 11")
    return BuildPlan(trt_version, precision, graph, True, False, frozenset(), tuple(notes))


def check_graph_for_plan(onnx_path: str | os.PathLike[str], plan: BuildPlan) -> None:
    """The graph must be the kind the plan feeds: Q/DQ nodes for an int8 build, fp16 tensors for a
    strongly typed fp16 build (otherwise the engine silently has another precision)."""
    if plan.onnx_graph == "fp32":
        return
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    graphs = [model.graph] + [function for function in model.functions]
    nodes = []
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            nodes.append(node)
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    graphs.append(attribute.g)
                graphs.extend(attribute.graphs)
    ops = {node.op_type for node in nodes}
    if plan.onnx_graph == "int8-qdq":
        if not {"QuantizeLinear", "DequantizeLinear"} & ops:
            raise GraphfixError(f"{onnx_path}: an int8 build needs graphfix's Q/DQ int8 graph, but this "
                                "model has no QuantizeLinear/DequantizeLinear nodes (make it with graphfix's "
                                "int8 precision step)")
        return
    fp16 = onnx.TensorProto.FLOAT16
    has_fp16 = (
        any(init.data_type == fp16 for init in model.graph.initializer)
        or any(value.type.tensor_type.elem_type == fp16
               for value in [*model.graph.value_info, *model.graph.input, *model.graph.output])
        or any(attribute.name == "to" and attribute.i == fp16
               for node in nodes if node.op_type in ("Cast", "CastLike") for attribute in node.attribute)
        or any(attribute.t.data_type == fp16 for node in nodes if node.op_type == "Constant"
               for attribute in node.attribute if attribute.name == "value")
    )
    if not has_fp16:
        raise GraphfixError(f"{onnx_path}: TensorRT {plan.trt_version} builds fp16 from the graph (strongly "
                            "typed), but this model has no float16 tensors (make the mixed fp16 graph with "
                            "graphfix's fp16 precision step)")
