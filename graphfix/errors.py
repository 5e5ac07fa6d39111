"""Errors graphfix reports to its users.

Every error a user can cause (a missing file, a model that is not ONNX, a bad parameter) is a
``GraphfixError`` whose message is one line: which file, what is wrong, what to do. The CLI prints that
line and exits 2; anything else escaping is a bug in graphfix and is reported as such.

Library errors speak of the library's parameters (``input_shapes``, ``verify=False``). An error that
concerns parameters lists their spellings in ``parameters``; the CLI replaces each with its flag
(``--input-shape``, ``--no-verify``) when it prints the error, so each layer speaks its own language.

    GraphfixError
    ├── ModelError               a model that cannot be read or is not valid ONNX
    ├── UsageError               a bad parameter value
    ├── VerificationError        the fixed model does not compute what the original computes
    ├── PrecisionError           a precision transform failed or made a model TensorRT refuses
    ├── CalibrationError         int8 calibration data that does not fit the model
    ├── CompileError             a backend could not compile the model
    │   └── TensorRTBuildError   TensorRT could not parse the model or build the engine
    ├── MissingDependencyError   an optional dependency is not installed (also an ImportError)
    └── WriteError               an output could not be written (also an OSError)
"""

from __future__ import annotations

from collections.abc import Sequence


class GraphfixError(Exception):
    """A problem with the user's input or parameters, reported as one line (exit code 2).

    Args:
        message: The one-line message.
        parameters: The library spellings of the parameters the message names (``"input_shapes"``,
            ``"verify=False"``), for the CLI to replace with its flags.
    """

    def __init__(self, message: str, *, parameters: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.parameters: tuple[str, ...] = tuple(parameters)

    @property
    def parameter(self) -> str | None:
        """The first parameter the message names, or None."""
        return self.parameters[0] if self.parameters else None


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
    """A bad parameter or parameter value."""


class VerificationError(GraphfixError):
    """The fixed model does not compute what the original computes (nothing was written)."""


class PrecisionError(GraphfixError):
    """A precision transform failed or produced a model TensorRT would not accept."""


class CalibrationError(GraphfixError):
    """Calibration data that cannot be used for this model (one line: which file, what is wrong)."""


class CompileError(GraphfixError):
    """A backend could not compile the model."""


class TensorRTBuildError(CompileError):
    """TensorRT could not parse the model or build the engine; one line, with the rule that helps.

    Args:
        message: The one-line message.
        issues: The parser errors (``ParserIssue``) TensorRT reported.
        rule: The code of the graphfix rule whose fix removes the cause, if any.
    """

    def __init__(self, message: str, issues: Sequence[object] = (), rule: str | None = None) -> None:
        super().__init__(message)
        self.issues = list(issues)
        self.rule = rule


class MissingDependencyError(GraphfixError, ImportError):
    """An optional dependency (ONNX Runtime, Polygraphy, onnxconverter-common, TensorRT, torch) is missing.

    Args:
        message: What needs it and how to install it.
        dependency: The import name of the missing module.
    """

    def __init__(self, message: str, *, dependency: str, parameters: Sequence[str] = ()) -> None:
        GraphfixError.__init__(self, message, parameters=parameters)
        self.dependency = dependency


class WriteError(GraphfixError, OSError):
    """An output could not be written; nothing was (the destination is as it was)."""
