"""Near misses: why a rule looked at a node and did not fire, recorded as data.

Like the onnxscript rewriter's ``MatchingTracer``, rules record a reason instead of only skipping
(``ctx.skip(node, "the -1 carries the batch")``). ``graphfix lint --explain NODE`` prints the near
misses of one node, and the JSON report carries them in a ``debug`` field.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NearMiss:
    """Rule ``code`` looked at ``node`` (a node label; None for the model) and did not fire: ``reason``."""

    code: str
    node: str | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "node": self.node, "reason": self.reason}


def near_misses_of(near_misses: list[NearMiss], node: str) -> list[NearMiss]:
    """The near misses recorded for one node (by its label), in the order the rules ran."""
    return [miss for miss in near_misses if miss.node == node]
