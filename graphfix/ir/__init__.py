"""Stage 1, load (and the last step, write): the model in onnx-ir, in and out of files.

Takes a path, an ``onnx.ModelProto`` or an ``onnx_ir.Model``; gives a :class:`LoadedModel` whose
weights stay on disk (memory-mapped external data), after refusing with one line everything that would
make the analysis meaningless. Writes go through :mod:`graphfix.ir.saving`, the one atomic writer.

Must never: read weights to lint, modify the caller's model or file, or leave a partial output file.
"""

from graphfix.ir.graphutil import CycleError, downstream, node_label, topological_order, upstream
from graphfix.ir.loading import LoadedModel, ModelSource, default_opset, load
from graphfix.ir.saving import save_model, staged, write_bytes_atomic, write_text_atomic

__all__ = ["CycleError", "LoadedModel", "ModelSource", "default_opset", "downstream", "load", "node_label", "save_model",
           "staged", "topological_order", "upstream", "write_bytes_atomic", "write_text_atomic"]
