"""Stages 8 to 10 as one command, compile: precision transform, a backend's engine, the comparison.

Takes a fixed ONNX model, a precision (fp32/fp16/int8) and a backend (TensorRT when it imports, else
ONNX Runtime); gives a :class:`CompileResult`: the transformed graph (:mod:`graphfix.precision`), the
engine (:mod:`.backends`), the precision check and the engine's comparison with the original (through
the one comparator). :mod:`.runner` runs a model or an engine (``graphfix.load``).

Must never: import TensorRT, Polygraphy or ONNX Runtime before they are needed, call an untested path
verified, or leave a partial engine or timing cache.
"""

from graphfix.compiling.pipeline import BACKENDS, PRECISIONS, CompileResult, choose_backend, compile_model
from graphfix.compiling.runner import Runner, TensorInfo, load, random_feeds

__all__ = ["BACKENDS", "PRECISIONS", "CompileResult", "Runner", "TensorInfo", "choose_backend", "compile_model",
           "load", "random_feeds"]
