"""Export zoo models once per test session, and make valid ONNX Runtime inputs for them.

- ``export_zoo(name, exporter, directory) -> Path``: ``directory / f"{name}-{exporter}.onnx"``, exported
  with ``graphfix.export.export`` (dynamic batch plus the entry's ``dynamic_dims``) on first use and
  reused afterwards (in-process cache keyed by name, exporter and directory). Give it a session-scoped
  directory, e.g. ``tmp_path_factory.mktemp("zoo")``; tests must not modify the returned files (copy
  them first: dynamo exports may carry a ``.onnx.data`` external-data file beside them).
- ``make_inputs(zoo_model, batch, dims=None, seed=0) -> {input name: np.ndarray}``: random float inputs
  and valid integer inputs (token ids below the vocabulary size, 0/1 attention masks with some padding
  but never a fully padded row) at any batch size; ``dims`` overrides other axes, e.g.
  ``{"x": {2: 24, 3: 32}}`` for ``dynamic_hw``.
- ``run_torch(zoo_model, feeds) -> list[np.ndarray]``: the reference outputs for those inputs.
"""

from __future__ import annotations

import pathlib
import threading

import numpy as np

from .zoo import ZOO, ZooModel

_cache: dict[tuple[str, str, pathlib.Path], pathlib.Path] = {}
_lock = threading.Lock()


def export_zoo(name: str, exporter: str, directory: str | pathlib.Path) -> pathlib.Path:
    """Path of zoo entry ``name`` exported by ``exporter`` ("legacy" or "dynamo") into ``directory``."""
    from graphfix.export import export

    if name not in ZOO:
        raise KeyError(f"no zoo model {name!r}; known: {', '.join(ZOO)}")
    directory = pathlib.Path(directory).resolve()
    key = (name, exporter, directory)
    with _lock:
        path = _cache.get(key)
        if path is not None and path.exists():
            return path
        zm = ZOO[name]()
        path = export(zm.module, zm.inputs, directory / f"{name}-{exporter}.onnx", exporter=exporter,
                      **zm.export_kwargs())
        _cache[key] = path
        return path


def make_inputs(
    zoo_model: ZooModel,
    batch: int,
    dims: dict[str, dict[int, int]] | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Inputs for ``zoo_model`` at ``batch`` (other axes as in the example unless ``dims`` says otherwise)."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for name, example in zip(zoo_model.input_names, zoo_model.inputs):
        shape = list(example.shape)
        shape[0] = batch
        for axis, size in (dims or {}).get(name, {}).items():
            shape[axis] = size
        if example.dtype.is_floating_point:
            feeds[name] = rng.standard_normal(shape).astype(np.float32)
        elif name in zoo_model.int_high and zoo_model.int_high[name] == 2 and "mask" in name:
            mask = np.ones(shape, dtype=np.int64)
            mask[1::2, ..., -(shape[-1] // 4 or 1):] = 0  # pad the tail of every other row
            feeds[name] = mask
        else:
            high = zoo_model.int_high.get(name, 2)
            feeds[name] = rng.integers(0, high, size=shape, dtype=np.int64)
    return feeds


def run_torch(zoo_model: ZooModel, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run the torch module on ``feeds`` (as made by ``make_inputs``) and return its outputs as numpy."""
    import torch

    args = tuple(torch.from_numpy(feeds[n]) for n in zoo_model.input_names)
    with torch.no_grad():
        out = zoo_model.module(*args)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.detach().numpy() for o in outs]
