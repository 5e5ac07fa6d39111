"""Which nodes are custom operators, and which of them graphfix cannot run.

A node is *custom* when neither ONNX nor ONNX Runtime implements it: its (domain, op type) has no ONNX
schema and is not one of ONNX Runtime's own operators (``com.microsoft`` contrib ops run natively), and it
does not call one of the model's local functions. The seed's ``Plugin`` node in the default domain is
custom (no ONNX operator is called ``Plugin``), so is ``trt.plugins::HSwish``.

A custom node *needs a reference* to be run by graphfix (verification, precision checks, ``graphfix
run``); ``missing_implementations`` lists those without one, which the pipeline refuses with GF402.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import onnx
import onnx.defs
import onnx_ir as ir

from graphfix.plugins.registry import NodeView, Registry, active_registry, default_registry

STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training"})

ModelLike = str | os.PathLike[str] | onnx.ModelProto | ir.Model


@functools.lru_cache(maxsize=2)
def _ort_schemas(imported: bool) -> frozenset[tuple[str, str]]:
    return _ort_operators_now() if imported else frozenset()


def _ort_operators() -> frozenset[tuple[str, str]]:
    return _ort_schemas("onnxruntime" in sys.modules)


def _ort_operators_now() -> frozenset[tuple[str, str]]:
    """(domain, op type) of every operator ONNX Runtime registers a schema for (contrib ops included).

    Only once ONNX Runtime is imported: ``graphfix lint`` never imports it (``runs_natively`` then takes
    ONNX Runtime's own domains as native)."""
    try:
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        return frozenset((s.domain, s.name) for s in state.get_all_operator_schema())
    except Exception:  # noqa: BLE001 - without ONNX Runtime only ONNX's own schemas count
        return frozenset()


def runs_natively(op_type: str, domain: str) -> bool:
    """True when ONNX (any opset) or ONNX Runtime defines ``domain::op_type``."""
    domain = "" if domain == "ai.onnx" else domain
    try:
        if onnx.defs.has(op_type, domain):
            return True
    except Exception:  # noqa: BLE001 - onnx raises for domains it does not know
        pass
    known = _ort_operators()
    if not known:  # ONNX Runtime not imported (lint): its own domains run natively
        return domain.startswith("com.microsoft")
    return (domain, op_type) in known


def as_ir(model: ModelLike) -> ir.Model:
    """An onnx-ir model from a path (weights stay on disk), a ``ModelProto`` or an ``ir.Model``."""
    if isinstance(model, ir.Model):
        return model
    if isinstance(model, onnx.ModelProto):
        return ir.serde.deserialize_model(model)
    return ir.load(str(Path(model)))


def _function_ids(model: ir.Model) -> set[tuple[str, str]]:
    return {(f.domain, f.name) for f in model.functions.values()}


def is_custom(node: ir.Node, functions: set[tuple[str, str]] = frozenset()) -> bool:  # type: ignore[assignment]
    """True when ``node`` is an operator neither ONNX nor ONNX Runtime implements (see the module doc)."""
    if (node.domain, node.op_type) in functions:
        return False
    return not runs_natively(node.op_type, node.domain)


def iter_nodes(model: ir.Model) -> Iterator[ir.Node]:
    """Every node: the main graph, subgraphs (If/Loop/Scan bodies) and local function bodies."""
    def walk(graph: ir.Graph | ir.Function) -> Iterator[ir.Node]:
        for node in graph:
            yield node
            for attr in node.attributes.values():
                if isinstance(attr, ir.Attr) and attr.type == ir.AttributeType.GRAPH:
                    yield from walk(attr.value)
                elif isinstance(attr, ir.Attr) and attr.type == ir.AttributeType.GRAPHS:
                    for sub in attr.value:
                        yield from walk(sub)

    yield from walk(model.graph)
    for function in model.functions.values():
        yield from walk(function)


def custom_nodes(model: ModelLike, nodes: Iterable[ir.Node] | None = None) -> list[ir.Node]:
    """Every custom node of the model, in graph order (subgraphs and functions included); ``nodes``: all of
    its nodes when the caller has listed them (:func:`iter_nodes`)."""
    ir_model = as_ir(model)
    functions = _function_ids(ir_model)
    return [node for node in (iter_nodes(ir_model) if nodes is None else nodes) if is_custom(node, functions)]


def custom_op_names(model: ModelLike) -> list[str]:
    """The names references are looked up by (a ``Plugin``'s ``name``, else the op type), sorted."""
    return sorted({NodeView.of(node).op for node in custom_nodes(model)})


def missing_implementations(model: ModelLike, registry: Registry | None = None) -> list[ir.Node]:
    """Custom nodes with no reference in ``registry`` (default: ``default_registry``).

    Nothing is verified through such a node: the pipeline refuses with ``no_reference_message`` (GF402)
    unless the user passed ``--no-verify``.
    """
    registry = registry if registry is not None else active_registry()
    return [node for node in custom_nodes(model) if registry.lookup(node) is None]


# The rule that reports a custom op without a reference (its code is the rule's data, asked by name).
NO_REFERENCE_RULE = "custom-op-without-reference"


def no_reference_code() -> str:
    """The code of the rule reporting custom ops without a reference (GF402), from the rule registry."""
    from graphfix.linting.registry import rule_by_name

    return rule_by_name(NO_REFERENCE_RULE).code


def no_reference_message(nodes: list[ir.Node]) -> str:
    """GF402's text for nodes without a reference: what is missing and both ways out."""
    ops = sorted({NodeView.of(n).op for n in nodes})
    where = ", ".join(repr(NodeView.of(n).label) for n in nodes[:3]) + (" ..." if len(nodes) > 3 else "")
    names = ", ".join(ops)
    return (f"{no_reference_code()} custom operator {names} (node {where}) has no reference implementation, so graphfix "
            f"cannot run or verify the model through it. Give one with --custom-ops FILE.py (a function "
            f"named {ops[0]} taking the inputs as numpy arrays and the attributes as keyword arguments) or "
            f"graphfix.register_op({ops[0]!r}, fn); TensorRT needs the plugin itself: --plugins FILE.py|lib.so "
            f"(`graphfix plugin MODEL --op {ops[0]} -o {ops[0].lower()}_plugin.py` writes a Python one); "
            "or pass verify=False to skip verification")
