"""TensorRT's parser and builder errors, turned into one line that names the node, its op and the graphfix
rule whose fix removes the cause. Which rule explains which error is declared by the rules themselves
(``Rule.tensorrt_errors``); this module only asks the registry."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graphfix.errors import TensorRTBuildError
from graphfix.linting.registry import rule_by_code, rule_for_tensorrt_error


def rule_for_parser_error(op_type: str | None, message: str) -> str | None:
    """The graphfix rule whose fix removes the cause of a TensorRT parser or builder error, if any.

    ``op_type`` is the failing node's op (None when TensorRT did not say, e.g. a builder error);
    ``message`` is TensorRT's text. Returns a rule code or None. The rules declare the errors they
    explain (``Rule.tensorrt_errors``).
    """
    return rule_for_tensorrt_error(op_type, message)


def plugin_rule() -> str | None:
    """The rule for unknown ops and plugins (a node of op ``Plugin``, or a plugin TensorRT cannot find)."""
    return rule_for_tensorrt_error("Plugin", "")


def _rule_name(code: str) -> str | None:
    try:
        return rule_by_code(code).name
    except Exception:  # noqa: BLE001 - a hint must not fail because the rule registry did
        return None


@dataclass(frozen=True)
class ParserIssue:
    """One error from TensorRT's ONNX parser, with the graphfix rule that addresses it (if any)."""

    node_index: int | None
    node_name: str | None
    op_type: str | None
    code: str | None
    message: str
    rule: str | None

    def describe(self) -> str:
        where = []
        if self.node_name:
            where.append(f"node {self.node_name!r}")
        elif self.node_index is not None and self.node_index >= 0:
            where.append(f"node #{self.node_index}")
        if self.op_type:
            where.append(f"({self.op_type})")
        head = " ".join(where) or "the model"
        return f"{head}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))


def _first_line(text: str) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def _compact(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _call(obj: Any, method: str) -> Any:
    function = getattr(obj, method, None)
    if function is None:
        return None
    try:
        return function()
    except Exception:  # noqa: BLE001 - an accessor this TensorRT does not implement
        return None


def parser_issues(parser: Any, nodes: Sequence[tuple[str, str]] = ()) -> list[ParserIssue]:
    """The errors of a ``trt.OnnxParser`` after a failed parse.

    TensorRT 10+ errors name the node and its op (``node_name()``, ``node_operator()``); 8.6 gives only
    the node's index, which ``nodes`` (the ONNX graph's ``(name, op_type)`` in order) resolves.
    """
    issues = []
    for index in range(int(parser.num_errors)):
        error = parser.get_error(index)
        node_index = _call(error, "node")
        node_index = int(node_index) if isinstance(node_index, (int, np.integer)) else None
        name = _call(error, "node_name") or None
        op_type = _call(error, "node_operator") or None
        if (name is None or op_type is None) and node_index is not None and 0 <= node_index < len(nodes):
            name = name or nodes[node_index][0] or None
            op_type = op_type or nodes[node_index][1] or None
        code = _call(error, "code")
        desc = _call(error, "desc") or str(error)
        message = _compact(desc)
        issues.append(ParserIssue(node_index, name, op_type, None if code is None else str(code), message,
                                  rule_for_parser_error(op_type, desc)))
    return issues


# TensorRT 10+: "In node 3 with name: /Resize and operator: Resize (importResize): UNSUPPORTED_NODE: ..."
# TensorRT 8.6: "In node 3 (importResize): UNSUPPORTED_NODE: ..."
_ERROR_TEXT = re.compile(
    r"In node (?P<index>-?\d+)(?: with name: (?P<name>.*?) and operator: (?P<op>\S*))?\s*"
    r"\((?P<func>[^)]*)\): (?P<code>[A-Z_]+): (?P<desc>.*)", re.DOTALL)


def issues_from_text(lines: Sequence[str], nodes: Sequence[tuple[str, str]] = ()) -> list[ParserIssue]:
    """Parser issues from the text of TensorRT's parser errors (a fallback when the parser object is gone)."""
    issues = []
    for line in lines:
        match = _ERROR_TEXT.search(line)
        if match is None:
            continue
        index = int(match.group("index"))
        name = (match.group("name") or "").strip() or None
        op_type = (match.group("op") or "").strip() or None
        if (name is None or op_type is None) and 0 <= index < len(nodes):
            name = name or nodes[index][0] or None
            op_type = op_type or nodes[index][1] or None
        desc = match.group("desc")
        issues.append(ParserIssue(index, name, op_type, match.group("code"), _compact(desc),
                                  rule_for_parser_error(op_type, desc)))
    return issues


def _rule_hint(rule: str | None) -> str:
    if rule is None:
        return "no graphfix rule covers this"
    name = _rule_name(rule)
    label = f"{rule} {name}" if name else rule
    return f"graphfix rule {label} covers this (graphfix lint / graphfix rule {rule})"


def parse_failure(source: str, version: str, issues: Sequence[ParserIssue]) -> TensorRTBuildError:
    """The one-line error for a failed parse: the first issue that has a rule (else the first issue)."""
    if not issues:
        return TensorRTBuildError(f"{source}: TensorRT {version} cannot parse the model (it gave no parser "
                                  "errors; run with --verbose for TensorRT's log)")
    main = next((issue for issue in issues if issue.rule), issues[0])
    more = f" (+{len(issues) - 1} more parser errors)" if len(issues) > 1 else ""
    return TensorRTBuildError(f"{source}: TensorRT {version} cannot parse {main.describe()}; "
                              f"{_rule_hint(main.rule)}{more}", issues, main.rule)


def build_failure(source: str, version: str, errors: Sequence[str], fallback: str,
                  timing_cache: Path | None = None) -> TensorRTBuildError:
    """The one-line error for a failed build, from TensorRT's logged errors."""
    rules = [rule_for_parser_error(None, error) for error in errors]
    index = next((i for i, rule in enumerate(rules) if rule), 0)
    text = _compact(errors[index]) if errors else _compact(fallback)
    rule = rules[index] if errors else rule_for_parser_error(None, fallback)
    cache = (f"; if the timing cache {timing_cache} comes from another TensorRT or GPU, delete it"
             if timing_cache is not None and timing_cache.exists() else "")
    return TensorRTBuildError(f"{source}: TensorRT {version} failed to build the engine: {text}; "
                              f"{_rule_hint(rule)}{cache}", rule=rule)


def onnx_nodes(onnx_path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(name, op_type)`` of the main graph's nodes, read without weights."""
    import onnx

    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception:  # noqa: BLE001 - only used to name nodes in error messages
        return []
    return [(node.name, node.op_type) for node in model.graph.node]
