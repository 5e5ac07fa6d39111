"""The user's own Reshape targets, applied before the rules run: the seed's ``set_layer_hook_reshape``.

``reshape={"/head/Reshape": [-1, 25]}`` sets a target by node name; ``reshape_hook(name, current)``
is called with every Reshape whose target the analysis knows and returns a new target (or None).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from graphfix.analyse import analyse
from graphfix.errors import UsageError
from graphfix.fixing.editor import Editor
from graphfix.ir import LoadedModel, node_label
from graphfix.linting import Options, SetInputs

ReshapeHook = Callable[[str, list[int]], Sequence[int] | None]
"""``hook(node name, current target) -> new target or None``."""


def apply_user_reshapes(loaded: LoadedModel, options: Options, hook: ReshapeHook | None, editor: Editor) -> list[str]:
    """Apply ``options.reshape_overrides`` and ``hook`` through ``editor``; returns what was set.

    Raises:
        UsageError: An override names no Reshape node (parameter ``reshape``).
    """
    reshapes = {node.name or "": node for node in loaded.model.graph if node.op_type == "Reshape"}
    edits: list[str] = []
    missing = [name for name in options.reshape_overrides if name not in reshapes]
    if missing:
        shown = ", ".join(sorted(reshapes)[:8]) or "none"
        raise UsageError(f"reshape: no Reshape node named {', '.join(repr(m) for m in missing)} "
                         f"(Reshape nodes: {shown}{', ...' if len(reshapes) > 8 else ''})", parameters=("reshape",))
    targets: dict[str, Sequence[int]] = dict(options.reshape_overrides)
    if hook is not None:
        analysis = analyse(loaded, options.input_shapes, custom_ops=options.custom_ops)
        for name, node in reshapes.items():
            current = analysis.value(node.inputs[1]) if node.inputs[1] is not None else None
            if current is None:
                continue
            values = [int(v) for v in np.asarray(current).reshape(-1)]
            wanted = hook(name, values)
            if wanted is not None and list(wanted) != values:
                targets[name] = list(wanted)
    for name, dims in targets.items():
        node = reshapes[name]
        editor.apply([SetInputs(node, {1: np.array([int(d) for d in dims], dtype=np.int64)})])
        edits.append(f"{node_label(node)}: target := [{', '.join(str(int(d)) for d in dims)}]")
    if edits:
        editor.cleanup()
    return edits
