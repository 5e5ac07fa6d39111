"""The one result type of a comparison, read the same way by the CLI, JSON and the library."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from graphfix.compare.policy import Policy, Thresholds, Tolerance
from graphfix.compare.stats import OutputComparison

C = TypeVar("C", bound="Comparison")


@dataclass(frozen=True)
class Failure:
    """Why nothing (or not everything) could be compared."""

    kind: str  # "inputs" (no random data), "load" (a side did not load), "run" (a side failed to run)
    side: str | None = None  # the label of the side that failed, when known
    detail: str = ""


@dataclass
class Comparison:
    """A candidate's outputs against a reference's at one or more batch sizes.

    ``outputs`` has one :class:`OutputComparison` per (output, batch), batch-major; ``message`` says what
    failed (or, for some callers, summarises what passed); ``runner`` describes how the candidate ran.
    ``parameters`` lists the library parameter spellings the message names (for the CLI to translate).
    """

    passed: bool
    batches: list[int]
    outputs: list[OutputComparison] = field(default_factory=list)
    message: str = ""
    policy: Policy | None = None
    runner: str = ""
    failure: Failure | None = None
    parameters: tuple[str, ...] = ()

    def worst(self) -> OutputComparison | None:
        """The output that is furthest from passing: by max abs error for elementwise policies, by
        cosine similarity for similarity thresholds (failed outputs first)."""
        if isinstance(self.policy, Thresholds):
            return min(self.outputs, key=lambda o: (o.passed, o.cosine if math.isfinite(o.cosine) else -2.0),
                       default=None)
        return max(self.outputs, key=lambda o: (not o.passed, o.max_abs), default=None)

    def to_dict(self) -> dict[str, object]:
        """Every field: the policy by its kind and values, every statistic per output."""
        policy: dict[str, object] | None = None
        if isinstance(self.policy, Tolerance):
            policy = {"kind": "elementwise", **vars(self.policy)}
        elif isinstance(self.policy, Thresholds):
            policy = {"kind": "similarity", **vars(self.policy)}
        return {
            "passed": self.passed,
            "batches": self.batches,
            "message": self.message,
            "policy": policy,
            "runner": self.runner,
            "outputs": [o.to_dict() for o in self.outputs],
        }

    @classmethod
    def view(cls: type[C], comparison: Comparison, **extra: Any) -> C:
        """``comparison`` as this (sub)class, with the extra fields it adds."""
        values: dict[str, Any] = {f.name: getattr(comparison, f.name) for f in fields(Comparison)}
        return cls(**values, **extra)
