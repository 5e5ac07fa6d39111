"""Polygraphy's log, captured: quiet by default, readable afterwards (errors, warnings)."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from graphfix.deps import require


@dataclass
class PolygraphyLog:
    """What Polygraphy (and TensorRT through Polygraphy's logger) printed while the block ran."""

    text: str = ""

    def entries(self, letters: str = "E!") -> list[str]:
        """Messages logged with one of the given severity letters ([E] error, [!] critical, [W] warning);
        a message's continuation lines are indented and stay with it."""
        found: list[str] = []
        current: list[str] | None = None
        for line in self.text.splitlines():
            match = re.match(r"^\[([A-Z!])\] ?(.*)$", line)
            if match:
                if current is not None:
                    found.append("\n".join(current))
                current = [match.group(2)] if match.group(1) in letters else None
            elif current is not None:
                current.append(line.strip())
        if current is not None:
            found.append("\n".join(current))
        return found


@contextlib.contextmanager
def polygraphy_log(verbose: bool = False, *, purpose: str = "comparing outputs") -> Iterator[PolygraphyLog]:
    """Capture what Polygraphy prints (warnings and above) instead of showing it; ``verbose`` shows it.

    Raises:
        MissingDependencyError: Polygraphy is not installed.
    """
    log = PolygraphyLog()
    logger = require("polygraphy.logger", purpose).G_LOGGER
    if verbose:
        yield log
        return
    severity = logger.module_severity
    logger.module_severity = logger.WARNING
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield log
    finally:
        logger.module_severity = severity
        log.text = buffer.getvalue()


def first_line(text: object) -> str:
    """The first non-empty line of ``text`` (an exception's message), stripped."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def onnxruntime_message(error: object) -> str:
    """ONNX Runtime's error as one readable line.

    ORT's messages start with ``[ONNXRuntimeError] : 2 : INVALID_ARGUMENT :``, spread the facts over several
    lines (``Got invalid dimensions for input: x ... index: 2 Got: 32 Expected: 64``), end some with a
    generic ``Please fix either the inputs/outputs or the model.`` and name a kernel by its C++ source
    location; the line keeps the facts and drops the rest:
    ``Reshape node 'R': The input tensor cannot be reshaped ... Input shape:{3,8}, requested shape:{1,8}``.
    """
    text = " ".join(str(error).split())
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    text = text.replace(" Please fix either the inputs/outputs or the model.", "")
    found = re.search(r"running (\w+) node\. Name:'([^']*)' Status Message: (.*)", text)
    if found:
        op, node, message = found.groups()
        message = message.rsplit(" was false. ", 1)[-1]  # the shapes, not ORT's source location
        message = re.sub(r"^/\S+:\d+ \S+\(.*?\) ", "", message)  # a source location with no check text
        text = f"{op} node {node!r}: {message}" if node else f"{op} node: {message}"
    return text.strip() or type(error).__name__
