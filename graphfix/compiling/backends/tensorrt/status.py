"""Which TensorRT is installed, if any: imported lazily, through :func:`graphfix.deps.require`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphfix.deps import TENSORRT_HINT, require
from graphfix.errors import GraphfixError, MissingDependencyError

MIN_VERSION = (8, 6)


# The first 10.x whose builder precision flags are deprecated in favour of strongly typed networks.
STRONG_TYPING_VERSION = (10, 12)


# The first major without builder precision flags (strong typing always on).
FLAGLESS_MAJOR = 11


MAX_OPTIMIZATION_LEVEL = 5

INSTALL_HINT = TENSORRT_HINT
NOT_INSTALLED = f"TensorRT is not installed: {INSTALL_HINT}"


@dataclass(frozen=True)
class TensorRTStatus:
    available: bool
    version: str | None
    message: str


def tensorrt_status() -> TensorRTStatus:
    """Whether a TensorRT graphfix can use (8.6 or newer) is importable; imports it lazily."""
    try:
        tensorrt = require("tensorrt", "the TensorRT backend")
    except MissingDependencyError:
        return TensorRTStatus(False, None, NOT_INSTALLED)
    except ModuleNotFoundError as error:
        return TensorRTStatus(False, None, f"TensorRT is installed but cannot be imported ({error}): "
                                           f"reinstall it ({INSTALL_HINT})")
    except Exception as error:  # noqa: BLE001 - a broken install: libnvinfer missing, CUDA mismatch, ...
        return TensorRTStatus(False, None, f"TensorRT is installed but cannot be loaded "
                                           f"({_first_line(str(error)) or type(error).__name__}): "
                                           f"reinstall it ({INSTALL_HINT})")
    version = getattr(tensorrt, "__version__", None)
    if not isinstance(version, str):
        return TensorRTStatus(False, None, f"cannot tell which TensorRT is installed (tensorrt has no "
                                           f"__version__): reinstall it ({INSTALL_HINT})")
    try:
        _check_supported(version)
    except GraphfixError as error:
        return TensorRTStatus(False, version, str(error))
    return TensorRTStatus(True, version, f"TensorRT {version}")


def require_tensorrt() -> str:
    """The installed TensorRT version, or a one-line GraphfixError saying how to get a usable one."""
    status = tensorrt_status()
    if not status.available:
        raise GraphfixError(status.message)
    assert status.version is not None
    return status.version


_VERSION = re.compile(r"^\s*(\d+)\.(\d+)(?:\.\d+)*(?:[.+-]?[A-Za-z]\w*(?:[.+-]\w+)*)?\s*$")


def parse_version(text: str) -> tuple[int, int]:
    """``"10.13.0.35"`` -> ``(10, 13)``; anything that is not a version is a GraphfixError."""
    match = _VERSION.match(text) if isinstance(text, str) else None
    if match is None:
        raise GraphfixError(f"cannot read the TensorRT version {text!r} (expected MAJOR.MINOR[.PATCH...], "
                            "e.g. 10.13.0.35)")
    return int(match.group(1)), int(match.group(2))


def _check_supported(version: str) -> tuple[int, int]:
    major_minor = parse_version(version)
    if major_minor < MIN_VERSION:
        raise GraphfixError(f"TensorRT {version} is too old: graphfix needs TensorRT "
                            f"{MIN_VERSION[0]}.{MIN_VERSION[1]} or newer (pip install -U tensorrt; on "
                            "Jetson, a JetPack with TensorRT 8.6+)")
    return major_minor


def _first_line(text: str) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""
