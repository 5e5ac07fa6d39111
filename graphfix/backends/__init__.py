"""Compile backends: each turns a (fixed) ONNX model into something that runs.

``graphfix.backends.tensorrt`` builds TensorRT engines through Polygraphy. It imports TensorRT only
inside the functions that need it, so importing this package never needs TensorRT.
"""
