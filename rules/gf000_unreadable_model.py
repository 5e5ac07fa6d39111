"""GF000 unreadable-model

## What it finds
A file graphfix could not check at all: it does not exist, it is not an ONNX model (or is truncated),
its external data is missing or points outside its folder, its graph has a cycle or an undefined
tensor, or its opset is newer than the installed ``onnx`` knows. This is a meta rule: the engine
reports it (as the file's ``error`` in JSON, a SARIF result of level ``error``, exit code 2) instead of
running the other rules.

## Why it hurts TensorRT
TensorRT's ONNX parser refuses the same files, usually with a less precise message; and graphfix
cannot say anything about a model it cannot read.

## Example
```text
$ graphfix lint truncated.onnx
graphfix: error: truncated.onnx: not a readable ONNX model: the protobuf does not parse (is the file truncated, or not an .onnx file?)
```

## Fixed
Re-export the model, or copy it (and its ``.data`` file) completely. The message names the file, what
is wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphfix.linting import Context, Finding, FixAvailability, Rule, Severity


class UnreadableModel(Rule):
    code = "GF000"
    name = "unreadable-model"
    summary = "the file could not be read or checked (reported by the engine)"
    fix_availability = FixAvailability.NEVER
    severity = Severity.ERROR

    def check(self, ctx: Context) -> Iterator[Finding]:
        """A meta rule: the engine reports it when loading fails; on a loaded model it finds nothing."""
        return iter(())
