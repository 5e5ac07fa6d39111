"""GF402 custom-op-without-reference

## What it finds
A custom operator (an op neither ONNX nor ONNX Runtime implements: a ``Plugin`` node, ``trt.plugins::X``,
any custom domain) for which no reference implementation is registered, so graphfix cannot run the
model: it cannot verify a fix, check a precision or run it through the node. The finding says whether a
TensorRT plugin is known for it (from ``--plugins`` Python files).

## Why it hurts TensorRT
TensorRT needs a plugin for the op, and without a reference nothing checks that the plugin, the exported
graph and the original model agree. graphfix refuses to call a model verified through an op it cannot
run: ``fix`` and ``compile`` stop with this code unless ``--no-verify``.

## Example
```text
custom::UpsampleAdd(x, skip, scale=2, gain=0.5)     # no --custom-ops function UpsampleAdd
```

## Fixed
Both ways out: register a reference, a Python function named after the op that takes the inputs as
numpy arrays and the attributes as keyword arguments (``--custom-ops ref.py``, or
``graphfix.register_op("UpsampleAdd", fn)``), so graphfix can verify through it; and give TensorRT the
plugin (``--plugins FILE.py|lib.so``; ``graphfix plugin MODEL --op UpsampleAdd -o upsampleadd_plugin.py``
writes a Python one). graphfix does not rewrite the node.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphfix.ir import node_label
from graphfix.linting import Context, Finding, FixAvailability, Rule, TensorRTError
from graphfix.plugins.loader import declared_plugins
from graphfix.plugins.nodes import custom_nodes
from graphfix.plugins.registry import NodeView, Registry, active_registry


def _registry(ctx: Context) -> Registry:
    # --custom-ops fills a Registry carried by the options; else the one graphfix.register_op fills.
    return ctx.options.custom_ops if ctx.options.custom_ops is not None else active_registry()


def _known_plugins(ctx: Context) -> dict[str, str]:
    """Plugin name -> the --plugins Python file that registers it."""
    known: dict[str, str] = {}
    for path in ctx.options.plugins:
        if str(path).endswith(".py"):
            try:
                ids = declared_plugins(path)
            except Exception:  # noqa: BLE001 - an unreadable file is reported where it is loaded
                continue
            for plugin_id in ids:
                known.setdefault(plugin_id.split("::")[-1], str(path))
    return known


class NoReference(Rule):
    code = "GF402"
    name = "custom-op-without-reference"
    summary = "a custom operator with no reference implementation: graphfix cannot verify through it"
    fix_availability = FixAvailability.NEVER
    # TensorRT found no plugin for a custom op (GF401 takes the errors of a "Plugin" node first).
    tensorrt_errors = (TensorRTError(r"plugin not found|no importer registered|could not find plugin"
                                     r"|getplugincreator|plugin creator", priority=20),)

    def check(self, ctx: Context) -> Iterator[Finding]:
        registry = _registry(ctx)
        plugins = _known_plugins(ctx)
        for node in custom_nodes(ctx.model, ctx.all_nodes):
            if registry.lookup(node) is not None:
                continue
            op = NodeView.of(node).op
            kind = f"{node.domain or 'ai.onnx'}::{node.op_type}"
            if op != node.op_type:
                kind += f"(name={op!r})"
            plugin = (f"the TensorRT plugin {op} from {plugins[op]} covers TensorRT" if op in plugins else
                      "no TensorRT plugin is known for it")
            message = (f"{kind} {node_label(node)!r} has no reference implementation: graphfix cannot run "
                       f"or verify the model through it, and {plugin}. Register a reference (--custom-ops "
                       f"FILE.py with a function {op}(inputs..., **attributes), or "
                       f"graphfix.register_op({op!r}, fn)) to verify; give TensorRT the plugin with --plugins "
                       f"FILE.py|lib.so (`graphfix plugin MODEL --op {op} -o {op.lower()}_plugin.py` writes "
                       "a Python one)")
            yield self.finding(message, node, reason="no reference implementation")
