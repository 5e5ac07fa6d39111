"""Compile backends: each turns a (fixed, precision-transformed) ONNX model into something that runs.

- :mod:`.tensorrt`: TensorRT engines through Polygraphy's loaders (TensorRT imported only to build or run);
- :mod:`.onnxruntime`: ONNX Runtime, which runs everywhere (an optimised model file on request).

Must never: import their runtime before a build is asked for, or choose a precision themselves (the
precision is in the graph :mod:`graphfix.precision` made, or in the build plan's flags).
"""
