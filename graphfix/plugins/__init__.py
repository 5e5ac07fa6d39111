"""Custom operators and TensorRT plugins: the seed's ``Plugin`` layers, end to end.

- ``registry``: reference implementations (``register_op``, ``load_custom_ops`` for ``--custom-ops``).
- ``nodes``: which nodes are custom, which lack a reference (``missing_implementations``, GF402's text).
- ``shapes``: output shapes of custom nodes from their reference (``infer_shapes``, for the analysis).
- ``session``: running such models in ONNX Runtime (``session_for``, ``session_loader`` for Polygraphy).
- ``stock``: tensorRT_Pro's ``Plugin(name=, info=)`` to TensorRT's stock plugin form (GF401's fix).
- ``scaffold``: a ``tensorrt.plugin`` Python plugin for a custom op (``graphfix plugin``).
- ``loader``: ``--plugins FILE.py|lib.so`` before TensorRT parses.
- ``export``: both torch exporters writing the stock form directly.

``docs/custom-layers.md`` walks the seed's HSwish through all of it.
"""

from graphfix.plugins.nodes import custom_nodes, custom_op_names, missing_implementations, no_reference_message
from graphfix.plugins.registry import (
    CustomOp,
    NodeView,
    ReferenceError,
    Registry,
    active_registry,
    default_registry,
    load_custom_ops,
    register_op,
    registry_from,
    using,
)
from graphfix.plugins.session import (
    MissingReference,
    ReferenceSession,
    UnsupportedCustomNode,
    has_custom_ops,
    require_implementations,
    session_for,
    session_loader,
)
from graphfix.plugins.shapes import TensorFacts, infer_shapes
from graphfix.plugins.stock import STOCK_DOMAIN, StockPluginForm, apply_stock_form, plan_stock_form, stock_form

__all__ = [
    "STOCK_DOMAIN", "CustomOp", "MissingReference", "NodeView", "ReferenceError", "ReferenceSession",
    "Registry", "StockPluginForm", "active_registry", "registry_from", "using", "TensorFacts", "UnsupportedCustomNode", "apply_stock_form", "custom_nodes",
    "custom_op_names", "default_registry", "has_custom_ops", "infer_shapes", "load_custom_ops",
    "missing_implementations", "no_reference_message", "plan_stock_form", "register_op",
    "require_implementations", "session_for", "session_loader", "stock_form",
]
