"""fp16: a mixed-precision graph with fp32 inputs and outputs, made by onnxconverter-common and repaired
through the editor.

onnxconverter-common's ``convert_float_to_float16`` runs with ``keep_io_types=True`` (the graph inputs
and outputs stay fp32; Casts sit inside) and :data:`FP16_BLOCK_LIST`. The converter takes and returns
``ModelProto``: the model crosses that boundary with onnx-ir's serde, and what the converter leaves
inconsistent is repaired on onnx-ir (:mod:`.repairs`). Besides:

- weights are never clamped below fp16's real range (``max_finite_val=65504``, the converter's default
  of 1e4 silently clips weights between 1e4 and 65504) and tiny weights keep their sign
  (``min_positive_val=2**-24``, the smallest fp16 subnormal);
- Resize stays in fp16 (TensorRT runs it there); only its ``scales`` input is cast back to float32;
- nodes in custom domains (plugins) are kept in fp32: their fp16 support is unknown;
- model-local functions are inlined first (``onnx.inliner``; the converter does not look inside them);
- weights in external data are converted lazily, one tensor at a time, and the result is written with
  external data again, so models above the 2 GB protobuf limit work and memory stays bounded.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import onnx.inliner
import onnx_ir as ir

from graphfix.deps import require
from graphfix.errors import PrecisionError
from graphfix.fixing.editor import Editor
from graphfix.ir import saving
from graphfix.ir.saving import check_destination, save_model
from graphfix.precision.common import (
    META_PRECISION,
    STANDARD_DOMAINS,
    external_locations,
    first_line,
    has_fp16,
    io_signature,
    read_structure,
    weight_bytes,
)
from graphfix.precision.qdq import check_written
from graphfix.precision.repairs import (
    float32_only_constants,
    repair_fp16,
    restore_float32_constants,
    restore_outputs,
)

FP16_MIN_POSITIVE = 2.0**-24  # smallest fp16 subnormal
FP16_MAX = 65504.0

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



def to_fp16(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    block_list: Sequence[str] = FP16_BLOCK_LIST,
) -> Path:
    """Write a mixed-precision copy of ``source`` to ``output``: fp32 inputs and outputs, fp16 inside,
    the ops in ``block_list`` (and custom-domain nodes) in fp32. Returns ``output``.

    Raises:
        ModelError: ``source`` cannot be read.
        PrecisionError: It already has fp16 tensors, the converter refuses it, or the result fails the
            checks (nothing is written).
        MissingDependencyError: onnxconverter-common is not installed.
    """
    float16 = require("onnxconverter_common.float16", "fp16")
    source, output = Path(source), Path(output)
    proto = read_structure(source)
    check_destination(output, inputs=[source], in_place=False)
    if has_fp16(proto.graph):
        raise PrecisionError(f"{source}: already contains float16 tensors; give the fp32 model")
    signature = io_signature(proto)
    external = external_locations(proto)
    if proto.functions:
        proto = onnx.inliner.inline_local_functions(proto)
    before = ir.serde.deserialize_model(proto)
    ir.external_data.set_base_dir(before.graph, source.parent)
    # The converter names its Casts after the nodes they serve: unnamed nodes would collide.
    Editor(before).name_unnamed_nodes()
    _declare_custom_outputs(before)
    # Initializers whose bytes live in external data: the converter can only flip their type (it sees no
    # bytes), so they are converted here, lazily, from the source's data files.
    external_floats = {name for name, value in before.graph.initializers.items()
                       if isinstance(value.const_value, ir.ExternalTensor) and value.dtype == ir.DataType.FLOAT}
    exact = float32_only_constants(before)
    blocked_ops = set(block_list)
    blocked_nodes = {node.name or "" for node in Editor(before).all_nodes() if node.domain not in STANDARD_DOMAINS}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # per-tensor clipping notes, misleading for -inf masks
            converted = float16.convert_float_to_float16(
                ir.serde.serialize_model(before), min_positive_val=FP16_MIN_POSITIVE, max_finite_val=FP16_MAX,
                keep_io_types=True, op_block_list=sorted(blocked_ops), node_block_list=sorted(blocked_nodes),
                check_fp16_ready=False)
    except Exception as error:  # shape inference or the converter refuses the graph
        raise PrecisionError(f"{source}: fp16 conversion failed: {first_line(error)}") from error

    model = ir.serde.deserialize_model(converted)
    ir.external_data.set_base_dir(model.graph, source.parent)
    editor = Editor(model)
    restore_float32_constants(editor, exact)
    repair_fp16(editor, blocked_ops, blocked_nodes)
    restore_outputs(editor, signature)
    present = sorted({node.op_type for node in editor.all_nodes() if node.op_type in blocked_ops})
    editor.set_metadata({META_PRECISION: "fp16", "graphfix.fp16_blocked_ops": ",".join(present)})
    for name in external_floats:
        value = model.graph.initializers.get(name)
        if value is not None and value.const_value is not None and value.dtype == ir.DataType.FLOAT16:
            editor.set_tensor(value, _lazy_fp16(value.const_value, source.parent, name))

    def check(staged: Path) -> None:
        check_written(staged, signature, "fp16")

    save_model(model, output, external=bool(external) or weight_bytes(proto) > saving.EMBED_LIMIT_BYTES,
               check=check)
    return output


def _lazy_fp16(stored: ir.TensorProtocol, base_dir: Path, name: str) -> ir.LazyTensor:
    """The fp16 version of an fp32 initializer in external data, computed when it is written."""
    float16 = require("onnxconverter_common.float16", "fp16")
    if not isinstance(stored, ir.ExternalTensor):
        raise TypeError(f"{name} is not in external data")
    fp32 = ir.ExternalTensor(stored.location, stored.offset, stored.length, ir.DataType.FLOAT,
                             shape=stored.shape, name=name, base_dir=base_dir)

    def convert() -> ir.TensorProtocol:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            half = float16.convert_np_to_float16(fp32.numpy(), FP16_MIN_POSITIVE, FP16_MAX)
        return ir.Tensor(half, name=name)

    return ir.LazyTensor(convert, dtype=ir.DataType.FLOAT16, shape=stored.shape, name=name)


def _declare_custom_outputs(model: ir.Model) -> None:
    """Declare the dtypes of custom nodes' outputs the model leaves undeclared (the legacy exporter does):
    the converter casts a blocked node's outputs back to fp16 only when it knows they are float. The
    analysis runs the custom ops' references (the active registry) to find them."""
    from graphfix.analyse import analyse
    from graphfix.ir.loading import LoadedModel

    editor = Editor(model)
    custom = [node for node in editor.all_nodes() if node.domain not in STANDARD_DOMAINS
              and any(output.dtype is None for output in node.outputs)]
    if not custom:
        return
    analysis = analyse(LoadedModel(model, None, "fp16"))
    for node in custom:
        for output in node.outputs:
            facts = analysis.facts.get(output)
            if output.dtype is None and facts is not None and facts.dtype:
                editor.set_type(output, ir.DataType(facts.dtype))
