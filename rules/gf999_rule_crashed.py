"""GF999 rule-crashed

## What it finds
A graphfix rule that raised an exception while checking the model: a bug in graphfix. The engine
reports it (with the exception and where it was raised) and keeps going, so one broken rule does not
hide the other rules' findings. This is a meta rule: the engine emits it, select or ignore it like any
other code (``--ignore GF999``).

## Why it hurts TensorRT
It does not by itself; but the rule that crashed did not check the model, so problems it looks for may
be missed.

## Example
```text
model.onnx: GF999 rule GF101 crashed: IndexError: list index out of range (at gf101_runtime_shape.py:88); please report this
```

## Fixed
Please report it, with the model (or the output of ``graphfix lint --format json``) if you can share it.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphfix.linting import Context, Finding, FixAvailability, Rule, Severity


class RuleCrashed(Rule):
    code = "GF999"
    name = "rule-crashed"
    summary = "a graphfix rule crashed (reported by the engine; please report it)"
    fix_availability = FixAvailability.NEVER
    severity = Severity.NOTE

    def check(self, ctx: Context) -> Iterator[Finding]:
        """A meta rule: the engine reports it when another rule raises; by itself it finds nothing."""
        return iter(())
