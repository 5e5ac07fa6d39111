"""GF401 tensorrt-pro-plugin-node

## What it finds
A tensorRT_Pro-style plugin node: op type ``Plugin`` (in any domain) whose string attribute ``name``
names the plugin and whose ``info`` carries its configuration, as the seed's ``symbolic`` writes it with
``g.op("Plugin", input, bias, name_s="HSwish", info_s=json.dumps({...}))``.

## Why it hurts TensorRT
Only tensorRT_Pro's modified ONNX parser knows the ``Plugin`` op. Stock TensorRT looks a plugin up by
the node's op type, with the attributes ``plugin_version`` and ``plugin_namespace``, so it fails with
"Plugin not found" (no plugin is called ``Plugin``). ``onnx.checker`` and ONNX Runtime refuse an unknown op
in the default domain, so the model cannot even be verified. When ``name`` is also an ONNX operator
(``HardSwish``), TensorRT's built-in importer takes the node instead of the plugin: the finding warns.

## Example
```text
Plugin(input1, hswish.bias, name="HSwish", info='{"alpha": 3.5, "beta": 2.88}')
```

## Fixed
```text
trt.plugins::HSwish(input1, hswish.bias, info='{"alpha": 3.5, "beta": 2.88}',
                    plugin_version="1", plugin_namespace="")
```
The op type is the plugin's name, the domain ``trt.plugins`` (ONNX Runtime's TensorRT execution provider
names plugins in that domain), ``info`` stays a string attribute, and every input (the bias initializer
too) stays an input in order; outputs and names are kept. Give graphfix a reference implementation
(``--custom-ops``) to verify the result, and TensorRT the plugin (``--plugins``; ``graphfix plugin`` writes a
Python one).

With ``--plugin-namespace NS`` the fix writes ``plugin_namespace="NS"``: a Python plugin
(``tensorrt.plugin``, what ``graphfix plugin`` writes) registers as ``NS::HSwish`` and cannot use the
empty namespace; the empty default is what tensorRT_Pro's C++ creators register under.

## Fix safety
Safe: the computation is unchanged; verification runs both models through the reference implementation.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphfix.ir import node_label
from graphfix.linting import Context, Finding, FixAvailability, Rule, TensorRTError
from graphfix.plugins.registry import PLUGIN_OP, NodeView
from graphfix.plugins.stock import plan_stock_form


class PluginNode(Rule):
    code = "GF401"
    name = "tensorrt-pro-plugin-node"
    summary = "a tensorRT_Pro Plugin(name=, info=) node, which stock TensorRT cannot parse"
    fix_availability = FixAvailability.ALWAYS
    # Stock TensorRT has no plugin called "Plugin": whatever the parser says about such a node is this.
    tensorrt_errors = (TensorRTError(r"", ops=frozenset({PLUGIN_OP}), priority=10),)

    def check(self, ctx: Context) -> Iterator[Finding]:
        for node in ctx.all_nodes:
            if node.op_type != PLUGIN_OP:
                continue  # plugin_name is None; NodeView.of would convert (and read) every attribute
            name = NodeView.of(node).plugin_name
            if name is None:
                continue
            # `--plugin-namespace NS` ("" by default, what tensorRT_Pro's creators use; a tensorrt.plugin
            # Python plugin cannot register in the empty namespace).
            plan = plan_stock_form(node, namespace=ctx.options.plugin_namespace)
            default = node.domain in ("", "ai.onnx")
            where = "in the default domain" if default else f"in domain {node.domain!r}"
            message = (f"Plugin {node_label(node)!r} (name={name!r}, {where}) is tensorRT_Pro's plugin form, "
                       f"which only its modified parser reads; fixable as {plan.domain}::{name} with "
                       f"plugin_version={plan.version!r}, plugin_namespace={plan.namespace!r}"
                       + (f" ({', '.join(plan.kept)} kept)" if plan.kept else ""))
            if plan.warning:
                message += f"; warning: {plan.warning}"
            yield self.finding(message, node, fix=(plan.as_plan(),))
