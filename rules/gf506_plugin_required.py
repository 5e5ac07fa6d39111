"""GF506 plugin-required

## What it finds
A node of a custom domain (or tensorRT_Pro's ``Plugin`` node, whatever its domain), which the target
TensorRT version's ONNX parser can only import through a TensorRT plugin. It is information ("needs a
TensorRT plugin"), not a failure: a plugin you load at build time makes it parse. It is an error when
the op type is also the name of a built-in importer: the parser dispatches on the op type alone and
ignores the domain, so it imports the node as that ONNX operator and never asks the plugin (from
TensorRT 10.15, ``kENABLE_PLUGIN_OVERRIDE`` lets a plugin win).

## Why it hurts TensorRT
Without a plugin registered under the node's op type (``plugin_version`` and ``plugin_namespace``
attributes select the version and namespace) the parse fails with "Plugin not found". tensorRT_Pro's
``Plugin`` node is read by tensorRT_Pro's modified parser only: stock TensorRT looks for a plugin named
``Plugin``.

## Example
```text
y = Plugin <name = "HSwish", info = "{...}"> (x)           # tensorRT_Pro's form
```

## Fixed
```text
y = custom.HSwish <plugin_version = "1", info = "{...}"> (x)   # the stock plugin form (GF4xx)
```
Load the plugin when building (``trtexec --staticPlugins``/``--dynamicPlugins``, ``--plugins`` in
graphfix's compile commands). The GF4xx rules rewrite tensorRT_Pro's form.

## Fix safety
No fix of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphfix.linting import Context, Finding, FixAvailability, Rule, TensorRTError
from graphfix.targets import is_default_domain
from graphfix.targets.sites import local_function_calls, sites
from graphfix.targets.target import target_for


class PluginRequired(Rule):
    code = "GF506"
    name = "plugin-required"
    summary = "a custom-domain node that needs a TensorRT plugin (information)"
    fix_availability = FixAvailability.NEVER
    checks_trt_target = True
    tensorrt_errors = (
        TensorRTError(r"plugin not found|could not find plugin|getplugincreator|no importer registered", priority=45),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        target = target_for(ctx)
        table, version = target.table, target.version
        # (a model without local functions has no calls to skip: no walk over every node for them)
        calls = {node for node, _ in local_function_calls(ctx.model)} if ctx.model.functions else set()
        cite = f"[table trt-{table.version}: dispatch]"
        for site in sites(ctx.analysis, table):
            node = site.node
            if node in calls:
                continue  # a local function call: its body is imported (GF501 on 8.6)
            plugin_pro = node.op_type == "Plugin"
            if is_default_domain(node.domain) and not plugin_pro:
                continue
            domain = node.domain or "ai.onnx"
            if table.imports(node.op_type) and not plugin_pro:
                override = table.dispatch.get("plugin_namespace_from_domain", False)
                yield self.finding(
                    f"{domain}::{node.op_type} {site.label!r}: TensorRT {version}'s parser ignores the domain and "
                    f"imports it as the built-in ONNX {node.op_type}, not as your operator"
                    f"{'' if not override else ' (unless the build enables kENABLE_PLUGIN_OVERRIDE)'}; "
                    f"rename the op type if it is not the ONNX operator {cite}", node)
                continue
            what = ("tensorRT_Pro's Plugin node: stock TensorRT looks for a plugin named 'Plugin' (GF4xx rewrite "
                    f"it to the stock form, op type = its name attribute {node.attributes['name'].value!r})"
                    if plugin_pro and "name" in node.attributes else f"a {domain}::{node.op_type} node")
            yield self.finding(
                f"{node.op_type} {site.label!r} needs a TensorRT plugin: {what}; TensorRT {version}'s parser has "
                f"no importer for {node.op_type!r} and looks it up in the plugin registry; load a plugin "
                f"registered as {node.op_type!r} when building {cite}", node, severity="info")
