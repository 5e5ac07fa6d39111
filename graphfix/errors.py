"""Errors graphfix reports to its users.

Every error a user can cause (a missing file, a model that is not ONNX, a bad option) is a
``GraphfixError`` whose message is one line: which file, what is wrong, what to do. The CLI prints
that line and exits 2; anything else escaping is a bug in graphfix and is reported as such.
"""

from __future__ import annotations


class GraphfixError(Exception):
    """A problem with the user's input or options, reported as one line (exit code 2)."""


class ModelError(GraphfixError):
    """A model that cannot be read, or that is not a valid ONNX graph graphfix can analyse."""

    def __init__(self, source: str, problem: str, hint: str | None = None) -> None:
        self.source = source
        self.problem = problem
        self.hint = hint
        text = f"{source}: {problem}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class UsageError(GraphfixError):
    """A bad option or option value."""


class VerificationError(GraphfixError):
    """The fixed model does not compute what the original computes."""
