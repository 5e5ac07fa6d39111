"""The one way graphfix imports its optional dependencies.

``lint`` and ``fix --no-verify`` need only onnx, onnx-ir and numpy. Everything else is imported here,
lazily, at the moment a stage needs it, with one install hint per dependency (onnxruntime, polygraphy and
onnxconverter-common are in the default install; the hint is for a broken or trimmed environment):

=======================  =============================  ==========================================
import name              needed by                      install
=======================  =============================  ==========================================
``onnxruntime``          verification, precision, run   ``pip install onnxruntime``
``polygraphy``           verification, comparisons      ``pip install polygraphy``
``onnxconverter_common`` fp16                           ``pip install onnxconverter-common``
``tensorrt``             the TensorRT backend           NVIDIA's wheels, or JetPack's bindings
``torch``                ``graphfix.export``            ``pip install torch`` (a CPU wheel)
=======================  =============================  ==========================================
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Literal

from graphfix.errors import MissingDependencyError

Dependency = Literal["onnxruntime", "polygraphy", "onnxconverter_common", "tensorrt", "torch"]

TENSORRT_HINT = ("pip install tensorrt (NVIDIA's wheels); on Jetson use the TensorRT Python bindings that "
                 "come with JetPack")

HINTS: dict[str, str] = {
    "onnxruntime": "pip install onnxruntime (part of graphfix's default install)",
    "polygraphy": "pip install polygraphy (part of graphfix's default install)",
    "onnxconverter_common": "pip install onnxconverter-common (part of graphfix's default install)",
    "tensorrt": TENSORRT_HINT,
    "torch": "pip install torch (a CPU wheel keeps it small)",
}

_DISPLAY: dict[str, str] = {
    "onnxruntime": "onnxruntime",
    "polygraphy": "polygraphy",
    "onnxconverter_common": "onnxconverter-common",
    "tensorrt": "TensorRT",
    "torch": "torch",
}


def require(name: str, purpose: str, *, instead: str = "", parameters: tuple[str, ...] = ()) -> ModuleType:
    """Import the optional dependency ``name`` (or one of its submodules, ``"polygraphy.comparator"``).

    Args:
        name: The dependency's import name, optionally with a submodule path.
        purpose: What needs it, for the message (``"verification"``).
        instead: An alternative to installing it, appended to the message (``"or pass verify=False"``).
        parameters: The library parameter spellings ``instead`` names, for the CLI to translate.

    Returns:
        The imported module.

    Raises:
        MissingDependencyError: The dependency is not installed (one line with its install hint). Any
            other import failure (a broken install) propagates unchanged.
    """
    top = name.split(".", 1)[0]
    if top not in HINTS:
        raise ValueError(f"{top!r} is not one of graphfix's optional dependencies ({', '.join(HINTS)})")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is None or error.name.split(".", 1)[0] != top:
            raise  # the dependency is there but one of *its* dependencies is not
        message = f"{purpose} needs {_DISPLAY.get(top, top)}: {HINTS.get(top, f'pip install {top}')}"
        if instead:
            message += f", {instead}"
        raise MissingDependencyError(message, dependency=top, parameters=parameters) from error


def is_installed(name: Dependency) -> bool:
    """Whether ``name`` can be found, without importing it."""
    return importlib.util.find_spec(name) is not None
