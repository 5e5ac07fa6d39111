"""The rules graphfix knows, and how the user selects them.

Rules are listed explicitly in ``graphfix.rules.RULES`` (checking rules) and ``graphfix.rules.META_RULES``
(codes the engine itself emits: a crashed rule, an unreadable file). Selection follows ruff: code
prefixes, the most specific matching selector wins, selecting nothing selects everything.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphfix.errors import UsageError
from graphfix.linting.rule import Rule


def all_rules() -> list[type[Rule]]:
    """The checking rules, in registry order."""
    from graphfix.rules import RULES

    return list(RULES)


def meta_rules() -> list[type[Rule]]:
    """Documented codes the engine emits itself (an unreadable model, a crashed rule)."""
    from graphfix.rules import META_RULES

    return list(META_RULES)


def documented_rules() -> list[type[Rule]]:
    """Every documented code: the checking rules, then the meta rules."""
    return [*all_rules(), *meta_rules()]


def crash_rule() -> type[Rule]:
    """The meta rule that reports a rule that crashed."""
    from graphfix.rules import RULE_CRASHED

    return RULE_CRASHED


def unreadable_rule() -> type[Rule]:
    """The meta rule that reports a file graphfix could not check."""
    from graphfix.rules import UNREADABLE_MODEL

    return UNREADABLE_MODEL


def rule_by_code(code: str) -> type[Rule]:
    """The rule (checking or meta) with this code (case-insensitive).

    Raises:
        UsageError: No rule has this code.
    """
    for rule in documented_rules():
        if rule.code == code.upper():
            return rule
    raise UsageError(f"no rule {code!r}; `graphfix rules` lists them")


def rule_by_name(name: str) -> type[Rule]:
    """The rule (checking or meta) named ``name`` (``"custom-op-without-reference"``): how code outside
    ``rules/`` refers to a rule without writing its code.

    Raises:
        UsageError: No rule has this name.
    """
    for rule in documented_rules():
        if rule.name == name:
            return rule
    raise UsageError(f"no rule named {name!r}; `graphfix rules` lists them")


def parse_selectors(text: str | Sequence[str] | None) -> list[str]:
    """``"GF1,GF201"`` (or a list of such strings) as upper-case code prefixes.

    Raises:
        UsageError: A selector matches no rule code.
    """
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else [part for t in text for part in t.split(",")]
    selectors = [item.strip().upper() for item in items if item.strip()]
    codes = [rule.code for rule in documented_rules()]
    for selector in selectors:
        if selector != "ALL" and not any(code.startswith(selector) for code in codes):
            raise UsageError(f"selector {selector!r} matches no rule code (codes look like GF101; "
                             "prefixes such as GF1 select a family)")
    return selectors


def is_selected(code: str, select: Sequence[str], ignore: Sequence[str]) -> bool:
    """ruff's rule: the most specific matching selector wins; selecting nothing selects everything."""

    def best(selectors: Sequence[str]) -> int:
        lengths = [len(s) if s != "ALL" else 0 for s in selectors if s == "ALL" or code.startswith(s)]
        return max(lengths, default=-1)

    chosen = best(select) if select else 0
    if chosen < 0:
        return False
    dropped = best(ignore)
    return dropped < 0 or chosen > dropped


def rule_for_tensorrt_error(op_type: str | None, message: str) -> str | None:
    """The code of the rule whose fix removes the cause of a TensorRT parser or builder error, if any.

    Each rule declares the errors it explains (``Rule.tensorrt_errors``); when several match, the lowest
    priority wins, then registry order. ``op_type`` is the failing node's op (None when TensorRT did not
    say, e.g. a builder error); ``message`` is TensorRT's text.
    """
    best: tuple[int, int, str] | None = None
    for position, rule in enumerate(documented_rules()):
        for pattern in rule.tensorrt_errors:
            if pattern.matches((op_type or "").strip() or None, message or ""):
                candidate = (pattern.priority, position, rule.code)
                if best is None or candidate < best:
                    best = candidate
    return best[2] if best is not None else None
