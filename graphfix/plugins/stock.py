"""The stock TensorRT plugin form of a tensorRT_Pro ``Plugin`` node (GF401's fix): plan and editor step.

tensorRT_Pro's modified ONNX parser maps ``Plugin(name="HSwish", info=...)`` to the creator named by the
``name`` attribute (version "1", namespace ""), passes ``info`` through unparsed, and turns initializer
inputs into plugin weights. Stock TensorRT's parser (onnx-tensorrt ``FallbackPluginImporter``, 8.x to
10.x) looks a plugin up by the node's **op type**, with the string attributes ``plugin_version``
(default "1") and ``plugin_namespace`` (default ""); it builds the plugin's fields from the attributes the
creator declares, and hands every input, initializers included, to the plugin as a tensor. So the stock
form of the seed's node is::

    Plugin(input1, bias, name="HSwish", info=I)
        ->  trt.plugins::HSwish(input1, bias, info=I, plugin_version="1", plugin_namespace="")

- op type = the ``name`` attribute; ``name`` is dropped (the op type says it);
- domain ``trt.plugins``: ONNX Runtime's TensorRT execution provider exposes every registered TensorRT
  plugin as a custom op of that domain (onnxruntime ``tensorrt_execution_provider_custom_ops.cc``), so the
  stock form also runs there unchanged; TensorRT's own parser ignores domains; ONNX and ONNX Runtime need
  *some* custom domain for an op they do not know (the default domain makes ``onnx.checker`` fail);
- ``plugin_version="1"`` and ``plugin_namespace=""``: what tensorRT_Pro's parser asked for, so a C++
  creator registered the tensorRT_Pro way is found unchanged. A Python plugin (``tensorrt.plugin``)
  cannot use the empty namespace: ``stock_form(..., namespace="graphfix")`` writes the one it registers;
- ``info`` is kept as a string attribute (TensorRT passes it as a kCHAR field to a creator that declares
  ``info``); every other attribute, the inputs (initializer inputs such as the bias included, in order),
  the outputs and the node name are kept.

Where ``name`` is also an ONNX operator (``HardSwish``, ``Gelu``, ...), TensorRT's parser dispatches to
its built-in importer before it looks for plugins (before 10.15 always; from 10.15 a registered plugin
wins for a node carrying ``plugin_namespace`` or with ``OnnxParserFlag.ENABLE_PLUGIN_OVERRIDE``): the plan
carries a warning saying so.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx.defs
import onnx_ir as ir

from graphfix.linting.plans import ReplaceOp
from graphfix.plugins.registry import PLUGIN_NAME_ATTRIBUTE, PLUGIN_OP, NodeView

STOCK_DOMAIN = "trt.plugins"
DEFAULT_VERSION = "1"
DEFAULT_NAMESPACE = ""


def onnx_operator_named(name: str) -> bool:
    """True when ``name`` is an ONNX operator of the default domain (any opset)."""
    try:
        return onnx.defs.has(name, "")
    except Exception:  # noqa: BLE001
        return False


def collision_warning(name: str) -> str | None:
    """The warning for a plugin named like an ONNX operator, or None."""
    if not onnx_operator_named(name):
        return None
    return (f"{name!r} is also an ONNX operator: TensorRT's ONNX parser dispatches on the op type and its "
            f"built-in {name} importer takes the node instead of the plugin (TensorRT before 10.15 always; "
            "10.15 and later let a registered plugin win for a node with plugin_namespace, or with "
            "OnnxParserFlag.ENABLE_PLUGIN_OVERRIDE); rename the plugin to be safe")


def is_plugin_node(node: ir.Node) -> bool:
    """A tensorRT_Pro-style plugin node: op type ``Plugin`` (any domain) with a string ``name``."""
    return NodeView.of(node).plugin_name is not None


@dataclass(frozen=True)
class StockPluginForm:
    """Fix plan: rewrite a ``Plugin(name=N, info=I)`` node into ``domain::N`` with ``plugin_version`` and
    ``plugin_namespace`` (see the module docstring). Plain data until ``apply_stock_form`` runs it."""

    node: ir.Node
    op_type: str
    domain: str = STOCK_DOMAIN
    version: str = DEFAULT_VERSION
    namespace: str = DEFAULT_NAMESPACE
    warning: str | None = None
    kept: tuple[str, ...] = ()  # the node's other attributes, kept as they are (``info``)
    label: str = ""

    def as_plan(self) -> ReplaceOp:
        """The plan as the editor applies it (``graphfix.linting.plans.ReplaceOp``)."""
        return ReplaceOp(self.node, self.op_type, self.domain,
                         (("plugin_version", self.version), ("plugin_namespace", self.namespace)),
                         drop=(PLUGIN_NAME_ATTRIBUTE,), note=self.warning or "",
                         before=f"{PLUGIN_OP}(name={self.op_type!r})", kept=self.kept)

    def describe(self) -> str:
        text = (f"{self.label}: {PLUGIN_OP}(name={self.op_type!r}) := {self.domain}::{self.op_type} "
                f"(plugin_version={self.version!r}, plugin_namespace={self.namespace!r}"
                + (f", keeps {', '.join(self.kept)}" if self.kept else "") + ")")
        return text + (f"; warning: {self.warning}" if self.warning else "")


def plan_stock_form(node: ir.Node, *, domain: str = STOCK_DOMAIN, version: str = DEFAULT_VERSION,
                    namespace: str = DEFAULT_NAMESPACE) -> StockPluginForm:
    """The plan for one tensorRT_Pro ``Plugin`` node. Raises ``ValueError`` for any other node."""
    name = NodeView.of(node).plugin_name
    if name is None:
        raise ValueError(f"node {node.name or node.op_type!r} is not a Plugin node with a string 'name'")
    kept = tuple(key for key in node.attributes if key != PLUGIN_NAME_ATTRIBUTE)
    label = node.name or f"{node.op_type}({node.outputs[0].name if node.outputs else '?'})"
    return StockPluginForm(node, name, domain, version, namespace, collision_warning(name), kept, label)


def apply_stock_form(model: ir.Model, plan: StockPluginForm) -> None:
    """Rewrite the plan's node in place: op type, domain, addressing attributes; imports the domain.

    Inputs (initializers included, in order), outputs, the node's name and its other attributes are kept;
    attributes the node already has (``plugin_version`` set by hand) win over the plan's.
    """
    from graphfix.fixing.editor import Editor  # the one mutator

    Editor(model).apply([plan.as_plan()])


def stock_form(model: ir.Model, *, domain: str = STOCK_DOMAIN, version: str = DEFAULT_VERSION,
               namespace: str = DEFAULT_NAMESPACE) -> list[StockPluginForm]:
    """Rewrite every ``Plugin`` node of the main graph and of local functions; returns the plans applied."""
    from graphfix.plugins.nodes import iter_nodes

    plans = [plan_stock_form(node, domain=domain, version=version, namespace=namespace)
             for node in iter_nodes(model) if node.op_type == PLUGIN_OP and is_plugin_node(node)]
    for plan in plans:
        apply_stock_form(model, plan)
    return plans


def set_plugin_namespace(model: ir.Model, op_type: str, namespace: str) -> int:
    """Set ``plugin_namespace`` on every stock-form node of ``op_type`` (what a Python plugin registered as
    ``namespace::op_type`` needs); returns how many nodes changed."""
    from graphfix.plugins.nodes import iter_nodes

    changed = 0
    for node in iter_nodes(model):
        if node.op_type == op_type and node.domain not in ("", "ai.onnx"):
            current = node.attributes.get("plugin_namespace")
            if current is None or current.value != namespace:
                node.attributes["plugin_namespace"] = ir.AttrString("plugin_namespace", namespace)
                changed += 1
    return changed
