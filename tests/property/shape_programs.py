"""Random shape programs: small seeded torch modules built from the shape patterns users write.

``generate(seed) -> ShapeProgram`` writes the Python source of one ``nn.Module`` (a few thousand weights at
most) from a random composition of patterns:

======================  ==================================================================================
kind                    what the step does (sizes always read from the tensor, as users write it)
======================  ==================================================================================
``view``                ``view``/``reshape``/``flatten`` with ``x.size(i)``/``x.shape``, back to the layout
``permute_view``        ``permute(...).reshape(b, h * w, c)`` and back, multi-head attention, to tokens/image
``interpolate``         ``F.interpolate`` by ``size=`` computed from the input (x2, //2, another tensor's
                        ``shape[-2:]``, through ``int()``) and by ``scale_factor``
``expand_param``        a parameter/buffer expanded (or ``repeat``-ed) to the batch: ``p.expand(x.shape[0], ...)``
``pad_multiple``        ``F.pad`` to a multiple of m with amounts ``(m - h % m) % m``, then pool/crop
``split``               ``torch.split(x, x.size(1) // 2, 1)``, ``chunk``, sizes ``[c - k, k]``, re-concatenated
``window``              Swin window partition/reverse with the batch from ``x.shape``
``arange``              ``torch.arange(x.size(1))`` as positions (embedding, ramp, expanded position ids)
``batch_arith``         batch arithmetic in shapes: ``view(-1, c // 2, ...)`` then ``x.size(0) // 2``,
                        ``x.size(0) * x.size(1)``, pad the batch to even with ``x.size(0) % 2`` and crop
``squeeze``             ``squeeze()`` without dims (drops the batch at batch 1), ``squeeze(1)``/``unsqueeze``
======================  ==================================================================================

and, in some programs, one step that bakes the batch on purpose (``ShapeProgram.bake``):

- ``int``: the batch through ``int()``: ``int(x.shape[0])``, Swin's ``int(windows.shape[0] / (h * w / ws / ws))``,
  ``[int(s) for s in x.shape]``;
- ``full_int``: ``b = x.shape[0]; torch.full((int(b), ...))`` / ``torch.zeros(int(b), ...)`` mixed with x;
- ``unbind_loop``: a Python loop over the images (``x.unbind(0)``, ``for s in x``);
- ``data_size``: ``x.data.size(0)`` (``.data`` leaves the trace);
- ``batch1_buffer``: a ``[1, K, C]`` buffer viewed with the image batch (``emb.view(b, -1, c)``). This one is
  right only at batch 1, even in eager torch, so such programs are exported at batch 1 and their
  reference is the program run on each sample alone (``ShapeProgram.per_sample``).

Every program treats its samples independently (nothing mixes dim 0), so eager torch at batch b is the
ground truth at every batch (for ``batch1_buffer`` programs: eager torch per sample). ``check_program``
verifies that claim on a generated program.

The source is the description: ``program.source`` is the module that runs (it is compiled from that text),
and ``python tests/property/shape_programs.py SEED`` prints it.
"""

from __future__ import annotations

import linecache
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PATTERN_KINDS = (
    "view",
    "permute_view",
    "interpolate",
    "expand_param",
    "pad_multiple",
    "split",
    "window",
    "arange",
    "batch_arith",
    "squeeze",
)
BAKE_KINDS = ("int", "full_int", "unbind_loop", "data_size", "batch1_buffer")
MAX_WEIGHTS = 6000
MAX_HW = 16
MAX_TOKENS = 64
MAX_CHANNELS = 12


@dataclass
class ShapeProgram:
    """One generated program: its source, the input it takes and how it treats the batch.

    ``input_shape`` excludes the batch (dim 0). ``bake`` is None for a program that keeps the batch, else
    the way it bakes it on purpose (one of ``BAKE_KINDS``). ``per_sample`` means eager torch is only
    right per sample (run each sample alone at batch 1), as for ``batch1_buffer``.
    """

    seed: int
    source: str
    input_shape: tuple[int, ...]
    export_batch: int
    kinds: tuple[str, ...]
    bake: str | None = None
    bake_note: str = ""
    per_sample: bool = False
    _cls: Any = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"seed{self.seed}"

    @property
    def patterns(self) -> tuple[str, ...]:
        """Pattern kinds plus ``baked:<kind>``, for counting results per pattern."""
        return (*self.kinds, *((f"baked:{self.bake}",) if self.bake else ()))

    def module(self):
        """A new instance with the seeded weights (the same on every call)."""
        import torch

        if self._cls is None:
            self._cls = _compile(self.source, f"<shape-program seed {self.seed}>")
        torch.manual_seed(self.seed)
        module = self._cls()
        module.eval()
        return module

    def inputs(self, batch: int, salt: int = 0) -> np.ndarray:
        """The input at ``batch``: seeded standard normal float32 (same seed, same data)."""
        rng = np.random.default_rng([self.seed, batch, salt])
        return rng.standard_normal((batch, *self.input_shape)).astype(np.float32)

    def eager(self, x: np.ndarray, module: Any = None) -> list[np.ndarray]:
        """Eager torch outputs for ``x``; per sample (each at batch 1) when ``per_sample``."""
        import torch

        module = module if module is not None else self.module()
        with torch.no_grad():
            if self.per_sample:
                rows = [_as_list(module(torch.from_numpy(x[i : i + 1]))) for i in range(len(x))]
                return [np.concatenate(parts) for parts in zip(*rows)]
            return _as_list(module(torch.from_numpy(x)))

    def describe(self) -> str:
        bake = (
            f"bakes the batch on purpose: {self.bake} ({self.bake_note})" if self.bake else "keeps the batch"
        )
        return (
            f"# shape program seed {self.seed}: input x [batch, {', '.join(map(str, self.input_shape))}], "
            f"export batch {self.export_batch}, {bake}\n# patterns: {', '.join(self.patterns)}\n"
            + self.source
        )


def _as_list(out: Any) -> list[np.ndarray]:
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.detach().numpy().copy() for o in outs]


def _compile(source: str, filename: str) -> Any:
    import torch
    import torch.nn.functional as F
    from torch import nn

    # Registered with linecache so tracebacks and torch.export's source lookups can read the program.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace: dict[str, Any] = {"torch": torch, "nn": nn, "F": F, "__name__": "shape_program"}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated source
    return namespace["Program"]


# --------------------------------------------------------------------------------------------------
# The generator. State: the current tensor's layout and its non-batch dims.
#   image  (C, H, W)      tokens (N, C) [+ hw when N == h * w]      flat (D,)
# --------------------------------------------------------------------------------------------------


@dataclass
class _State:
    layout: str
    dims: tuple[int, ...]
    hw: tuple[int, int] | None = None
    contiguous: bool = True  # False after a permute/transpose: the next step starts with x.contiguous()


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.init: list[str] = []
        self.body: list[str] = []
        self.kinds: list[str] = []
        self.index = 0
        self.bake: str | None = None
        self.bake_note = ""
        self.per_sample = False

    def step(
        self,
        kind: str | None,
        lines: list[str],
        init: list[str] = (),  # type: ignore[assignment]
        label: str | None = None,
    ) -> None:
        if kind:
            self.kinds.append(kind)
        self.body.append(f"# {label or kind or 'mix'}")
        self.body.extend(lines)
        self.init.extend(init)
        self.index += 1

    def choice(self, items):
        return self.rng.choice(list(items))

    def source(self) -> str:
        init = "\n".join(f"        {line}" for line in self.init) or "        pass"
        body = "\n".join(f"        {line}" for line in self.body)
        return (
            f"class Program(nn.Module):\n    def __init__(self):\n        super().__init__()\n{init}\n\n"
            f"    def forward(self, x):\n{body}\n        return x\n"
        )


Step = Callable[[_Builder, _State], "_State | None"]


def _mode(b: _Builder) -> str:
    return b.choice(['"nearest"', '"bilinear"'])


# ---- image steps -----------------------------------------------------------------------------------


def _mix_image(b: _Builder, s: _State) -> _State:
    c, h, w = s.dims
    c2 = b.choice((4, 6, 8))
    i = b.index
    b.step(None, [f"x = F.gelu(self.conv{i}(x))"], [f"self.conv{i} = nn.Conv2d({c}, {c2}, 3, padding=1)"])
    return _State("image", (c2, h, w))


def _view_image(b: _Builder, s: _State) -> _State | None:
    c, h, w = s.dims
    i = b.index
    v = b.rng.randrange(4)
    if v == 0:
        b.step(
            "view",
            [
                f"b{i}, c{i}, h{i}, w{i} = x.shape",
                f"x = x.view(b{i}, c{i}, h{i} * w{i}).softmax(-1).view(b{i}, c{i}, h{i}, w{i})",
            ],
        )
    elif v == 1:
        b.step("view", [f"x = torch.tanh(x.view(x.size(0), -1) * 0.5).view(x.size(0), {c}, {h}, {w})"])
    elif v == 2:
        back = b.choice((f"x.reshape(x.shape[0], {c}, {h}, {w})", f"x.reshape(-1, {c}, {h}, {w})"))
        b.step("view", ["x = torch.flatten(x, 1)", "x = F.layer_norm(x, x.shape[1:])", f"x = {back}"])
    else:
        b.step("view", ["x = x.flatten(2).softmax(-1).view(x.shape)"])
    return s


def _permute_view_image(b: _Builder, s: _State) -> _State | None:
    c, h, w = s.dims
    i = b.index
    v = b.rng.randrange(3)
    if v == 0:
        back = b.choice(
            (
                f"t{i}.reshape(b{i}, h{i}, w{i}, c{i}).permute(0, 3, 1, 2)",
                f"t{i}.view(b{i}, h{i}, w{i}, c{i}).permute(0, 3, 1, 2).contiguous()",
            )
        )
        b.step(
            "permute_view",
            [
                f"b{i}, c{i}, h{i}, w{i} = x.shape",
                f"t{i} = x.permute(0, 2, 3, 1).reshape(b{i}, h{i} * w{i}, c{i})",
                f"t{i} = self.fc{i}(t{i})",
                f"x = {back}",
            ],
            [f"self.fc{i} = nn.Linear({c}, {c})"],
        )
        return _State("image", s.dims, contiguous=back.endswith("contiguous()"))
    if v == 1:
        b.step(
            "permute_view",
            [f"x = torch.tanh(x.permute(0, 1, 3, 2).contiguous().view(x.size(0), {c}, {w}, {h}))"],
        )
        return _State("image", (c, w, h))
    if h * w > MAX_TOKENS:
        return None
    if b.rng.random() < 0.5:  # to tokens
        b.step(
            "permute_view",
            [
                f"b{i}, c{i}, h{i}, w{i} = x.shape",
                f"x = x.permute(0, 2, 3, 1).contiguous().view(b{i}, h{i} * w{i}, c{i})",
            ],
        )
    else:
        b.step("permute_view", ["x = x.flatten(2).transpose(1, 2)"])
        return _State("tokens", (h * w, c), (h, w), contiguous=False)
    return _State("tokens", (h * w, c), (h, w))


def _interpolate_image(b: _Builder, s: _State) -> _State | None:
    c, h, w = s.dims
    i = b.index
    options = []
    if 2 * h <= MAX_HW and 2 * w <= MAX_HW:
        options += ["x2", "scale", "int"]
    if h % 2 == 0 and w % 2 == 0 and h >= 4 and w >= 4:
        options += ["fpn", "half"]
    if not options:
        return None
    v = b.choice(options)
    mode = _mode(b)
    if v == "x2":
        b.step("interpolate", [f"x = F.interpolate(x, size=(x.shape[2] * 2, x.shape[3] * 2), mode={mode})"])
        return _State("image", (c, 2 * h, 2 * w))
    if v == "scale":
        b.step("interpolate", [f"x = F.interpolate(x, scale_factor=2, mode={mode})"])
        return _State("image", (c, 2 * h, 2 * w))
    if v == "int":
        b.step(
            "interpolate",
            [f"x = F.interpolate(x, size=(int(x.shape[2]) * 2, int(x.shape[3]) * 2), mode={mode})"],
        )
        return _State("image", (c, 2 * h, 2 * w))
    if v == "half":
        b.step("interpolate", [f"x = F.interpolate(x, size=(x.size(2) // 2, x.size(3) // 2), mode={mode})"])
        return _State("image", (c, h // 2, w // 2))
    b.step(
        "interpolate",
        [
            f"y{i} = self.conv{i}(F.avg_pool2d(x, 2))",
            f"x = x + F.interpolate(y{i}, size=x.shape[-2:], mode={mode})",
        ],
        [f"self.conv{i} = nn.Conv2d({c}, {c}, 1)"],
    )
    return s


def _expand_image(b: _Builder, s: _State) -> _State | None:
    c, h, w = s.dims
    i = b.index
    options = ["repeat", "buffer"]
    if c * h * w <= 1024:
        options.append("pos")
    if c + 1 <= MAX_CHANNELS:
        options.append("map")
    v = b.choice(options)
    if v == "pos":
        b.step(
            "expand_param",
            [f"x = x + self.pos{i}.expand(x.shape[0], -1, -1, -1)"],
            [f"self.pos{i} = nn.Parameter(torch.randn(1, {c}, {h}, {w}) * 0.5)"],
        )
        return s
    if v == "map":
        b.step(
            "expand_param",
            [f"x = torch.cat([x, self.map{i}.expand(x.size(0), 1, x.size(2), x.size(3))], 1)"],
            [f"self.map{i} = nn.Parameter(torch.randn(1, 1, {h}, {w}))"],
        )
        return _State("image", (c + 1, h, w))
    if v == "repeat":
        b.step(
            "expand_param",
            [f"x = x * self.g{i}.repeat(x.shape[0], 1, {h}, 1)"],
            [f"self.g{i} = nn.Parameter(torch.randn(1, {c}, 1, {w}))"],
        )
        return s
    b.step(
        "expand_param",
        [f"x = x + self.bias{i}.expand(x.size(0), {c}, {h}, {w})"],
        [f'self.register_buffer("bias{i}", torch.randn(1, {c}, 1, 1))'],
    )
    return s


def _pad_image(b: _Builder, s: _State) -> _State | None:
    c, h, w = s.dims
    i = b.index
    m = b.choice((3, 4, 5))
    ph, pw = (m - h % m) % m, (m - w % m) % m
    if h + ph > MAX_HW + 4 or w + pw > MAX_HW + 4:
        return None
    pad = [
        f"h{i}, w{i} = x.shape[-2:]",
        f"ph{i} = ({m} - h{i} % {m}) % {m}",
        f"pw{i} = ({m} - w{i} % {m}) % {m}",
    ]
    v = b.rng.randrange(3)
    if v == 0:
        b.step(
            "pad_multiple",
            [
                *pad,
                f"x = F.avg_pool2d(F.pad(x, (0, pw{i}, 0, ph{i})), {m})",
                f"x = F.interpolate(x, size=(h{i}, w{i}), mode={_mode(b)})",
            ],
        )
        return s
    if v == 1:
        b.step(
            "pad_multiple",
            [*pad, f"x = self.conv{i}(F.pad(x, (0, pw{i}, 0, ph{i})))[:, :, :h{i}, :w{i}]"],
            [f"self.conv{i} = nn.Conv2d({c}, {c}, 3, padding=1)"],
        )
        return _State("image", s.dims, contiguous=ph == 0 and pw == 0)  # the crop is a strided view
    if h + ph > MAX_HW or w + pw > MAX_HW:
        return None
    mode = b.choice(('"constant"', '"replicate"'))
    b.step("pad_multiple", [*pad, f"x = F.pad(x, (0, pw{i}, 0, ph{i}), mode={mode})"])
    return _State("image", (c, h + ph, w + pw))


def _split_image(b: _Builder, s: _State) -> _State | None:
    c, _h, _w = s.dims
    i = b.index
    options = ["half_c", "half_w"]
    if c % 2 == 0:
        options.append("chunk")
    if c >= 3:
        options.append("sizes")
    v = b.choice(options)
    if v == "half_c":
        b.step(
            "split",
            [
                f"parts{i} = torch.split(x, x.size(1) // 2, 1)",
                f"x = torch.cat([torch.tanh(p) * (k + 1) for k, p in enumerate(parts{i}[::-1])], 1)",
            ],
        )
    elif v == "half_w":
        b.step(
            "split",
            [f"parts{i} = torch.split(x, (x.size(3) + 1) // 2, 3)", f"x = torch.cat(parts{i}[::-1], 3)"],
        )
    elif v == "chunk":
        b.step(
            "split",
            [f"a{i}, g{i} = x.chunk(2, dim=1)", f"x = torch.cat([a{i} * torch.sigmoid(g{i}), g{i}], 1)"],
        )
    else:
        b.step(
            "split",
            [
                f"k{i} = x.size(1) // 3",
                f"a{i}, g{i} = torch.split(x, [x.size(1) - k{i}, k{i}], 1)",
                f"x = torch.cat([g{i} * 2, a{i}], 1)",
            ],
        )
    return s


def _window_image(b: _Builder, s: _State, baked: bool = False) -> _State | None:
    c, h, w = s.dims
    i = b.index
    sizes = [ws for ws in (2, 4) if h % ws == 0 and w % ws == 0 and (h // ws) * (w // ws) >= 2]
    if not sizes:
        return None
    ws = b.choice(sizes)
    lines = [
        f"b{i}, c{i}, h{i}, w{i} = x.shape",
        f"win{i} = x.view(b{i}, c{i}, h{i} // {ws}, {ws}, w{i} // {ws}, {ws}).permute(0, 2, 4, 3, 5, 1)",
        f"win{i} = win{i}.reshape(-1, {ws * ws}, c{i})",
        f"win{i} = win{i} + torch.softmax(win{i} @ win{i}.transpose(1, 2) * 0.5, -1) @ self.fc{i}(win{i})",
    ]
    init = [f"self.fc{i} = nn.Linear({c}, {c})"]
    if baked:
        lines += [
            f"n{i} = int(win{i}.shape[0] / (h{i} * w{i} / {ws} / {ws}))",
            f"x = win{i}.reshape(n{i}, h{i} // {ws}, w{i} // {ws}, {ws}, {ws}, -1).permute(0, 5, 1, 3, 2, 4)",
            f"x = x.reshape(n{i}, win{i}.shape[2], h{i}, w{i})",
        ]
        b.bake, b.bake_note = (
            "int",
            "window reverse recovers the batch with int(windows.shape[0] / (h*w/ws/ws))",
        )
        b.step(None, lines, init, label="window, baked batch: int")
        b.kinds.append("window")
    else:
        lines += [
            f"x = win{i}.view(b{i}, h{i} // {ws}, w{i} // {ws}, {ws}, {ws}, c{i}).permute(0, 5, 1, 3, 2, 4)",
            f"x = x.reshape(b{i}, c{i}, h{i}, w{i})",
        ]
        b.step("window", lines, init)
    # With one window along H or W, the final reshape of the permuted windows can be a strided view.
    return _State("image", s.dims, contiguous=h // ws > 1 and w // ws > 1)


def _arange_image(b: _Builder, s: _State) -> _State | None:
    i = b.index
    if b.rng.random() < 0.5:
        b.step("arange", ["x = x + torch.arange(x.size(3), dtype=x.dtype) * 0.1"])
    else:
        b.step(
            "arange",
            [
                f"pos{i} = torch.arange(x.shape[2]).to(x.dtype)",
                f"x = x + pos{i}.view(1, 1, -1, 1) / x.shape[2]",
            ],
        )
    return s


def _batch_arith_image(b: _Builder, s: _State) -> _State | None:
    c, h, w = s.dims
    i = b.index
    options = ["pad_batch", "rows"]
    if c % 2 == 0:
        options.append("half_c")
    if 2 * c <= MAX_CHANNELS:
        options.append("stack")
    v = b.choice(options)
    if v == "half_c":
        b.step(
            "batch_arith",
            [
                f"x = x.view(-1, {c // 2}, {h}, {w})",
                f"x = F.gelu(self.conv{i}(x))",
                f"x = x.view(x.size(0) // 2, {c}, {h}, {w})",
            ],
            [f"self.conv{i} = nn.Conv2d({c // 2}, {c // 2}, 3, padding=1)"],
        )
        return s
    if v == "pad_batch":
        b.step(
            "batch_arith",
            [
                f"n{i} = x.size(0)",
                f"y{i} = F.pad(x, (0, 0, 0, 0, 0, 0, 0, n{i} % 2))",
                f"x = torch.tanh(y{i})[:n{i}]",
            ],
        )
        return s
    if v == "rows":
        b.step(
            "batch_arith",
            [
                "x = x.reshape(x.size(0) * x.size(1), x.size(2), x.size(3)).softmax(1)",
                f"x = x.reshape(-1, {c}, {h}, {w})",
            ],
        )
        return s
    b.step(
        "batch_arith",
        [
            f"x = torch.stack([x, -x], 1).view(x.size(0) * 2, {c}, {h}, {w})",
            f"x = F.relu(x).view(-1, {2 * c}, {h}, {w})",
        ],
    )
    return _State("image", (2 * c, h, w))


def _squeeze_image(b: _Builder, s: _State) -> _State | None:
    c, h, w = s.dims
    if min(c, h, w) == 1:  # squeeze() would drop more than the batch and broadcast across samples
        return None
    i = b.index
    v = b.rng.randrange(3)
    if v == 0:
        b.step(
            "squeeze",
            [
                f"s{i} = x.mean((2, 3), keepdim=True).squeeze()",
                f"s{i} = torch.sigmoid(self.fc{i}(s{i}))",
                f"x = x * s{i}.view(-1, {c}, 1, 1)",
            ],
            [f"self.fc{i} = nn.Linear({c}, {c})"],
        )
    elif v == 1:
        b.step("squeeze", [f"m{i} = x.mean(1, keepdim=True)", f"x = x - m{i}.squeeze(1).unsqueeze(1)"])
    else:
        b.step(
            "squeeze",
            [f"f{i} = x.amax(1, keepdim=True)", f"x = x * torch.sigmoid(f{i}.squeeze()).unsqueeze(-3)"],
        )
    return s


# ---- token steps ([B, N, C]) -----------------------------------------------------------------------


def _mix_tokens(b: _Builder, s: _State) -> _State:
    _n, c = s.dims
    i = b.index
    b.step(None, [f"x = x + torch.tanh(self.fc{i}(x))"], [f"self.fc{i} = nn.Linear({c}, {c})"])
    return s


def _view_tokens(b: _Builder, s: _State) -> _State | None:
    n, c = s.dims
    i = b.index
    if b.rng.random() < 0.5:
        b.step("view", [f"x = torch.tanh(x.reshape(x.size(0), -1)).view(x.size(0), {n}, {c})"])
    else:
        b.step(
            "view",
            [
                f"b{i}, n{i}, c{i} = x.shape",
                f"x = x.view(b{i}, n{i} * c{i}).softmax(-1).view(b{i}, n{i}, c{i})",
            ],
        )
    return s


def _permute_view_tokens(b: _Builder, s: _State) -> _State | None:
    _n, c = s.dims
    i = b.index
    heads = [k for k in (2, 4) if c % k == 0]
    options = (["attention"] if heads else []) + (["to_image"] if s.hw else [])
    if not options:
        return None
    if b.choice(options) == "attention":
        k = b.choice(heads)
        b.step(
            "permute_view",
            [
                f"b{i}, n{i}, c{i} = x.shape",
                f"q{i} = self.qkv{i}(x).view(b{i}, n{i}, 3, {k}, c{i} // {k}).permute(2, 0, 3, 1, 4)",
                f"att{i} = torch.softmax(q{i}[0] @ q{i}[1].transpose(-2, -1) * {(c // k) ** -0.5:.4f}, -1)",
                f"x = x + (att{i} @ q{i}[2]).transpose(1, 2).reshape(b{i}, n{i}, c{i})",
            ],
            [f"self.qkv{i} = nn.Linear({c}, {3 * c})"],
        )
        return s
    h, w = s.hw  # type: ignore[misc]
    if b.rng.random() < 0.5:
        b.step("permute_view", [f"x = x.transpose(1, 2).reshape(x.size(0), {c}, {h}, {w})"])
    else:
        b.step(
            "permute_view",
            [f"b{i}, n{i}, c{i} = x.shape", f"x = x.permute(0, 2, 1).reshape(b{i}, c{i}, {h}, n{i} // {h})"],
        )
    return _State("image", (c, h, w))


def _interpolate_tokens(b: _Builder, s: _State) -> _State | None:
    n, c = s.dims
    if 2 * n > MAX_TOKENS:
        return None
    b.step(
        "interpolate",
        ['x = F.interpolate(x.transpose(1, 2), size=x.shape[1] * 2, mode="linear").transpose(1, 2)'],
    )
    return _State("tokens", (2 * n, c), contiguous=False)


def _expand_tokens(b: _Builder, s: _State) -> _State | None:
    n, c = s.dims
    i = b.index
    if n + 1 > MAX_TOKENS:
        return None
    if b.rng.random() < 0.5:
        b.step(
            "expand_param",
            [f"x = torch.cat([self.cls{i}.expand(x.shape[0], -1, -1), x], 1)"],
            [f"self.cls{i} = nn.Parameter(torch.randn(1, 1, {c}))"],
        )
    else:
        b.step(
            "expand_param",
            [f"x = torch.cat([x, self.cls{i}.repeat(x.size(0), 1, 1)], 1)"],
            [f"self.cls{i} = nn.Parameter(torch.randn(1, 1, {c}))"],
        )
    return _State("tokens", (n + 1, c))


def _pad_tokens(b: _Builder, s: _State) -> _State | None:
    n, c = s.dims
    i = b.index
    m = b.choice((2, 3, 4))
    padded = n + (m - n % m) % m
    b.step(
        "pad_multiple",
        [
            f"n{i} = x.size(1)",
            f"p{i} = ({m} - n{i} % {m}) % {m}",
            f"x = F.pad(x, (0, 0, 0, p{i}))",
            f"x = x.view(x.size(0), -1, {m}, {c}).mean(2)",
        ],
    )
    return _State("tokens", (padded // m, c))


def _split_tokens(b: _Builder, s: _State) -> _State | None:
    n, c = s.dims
    i = b.index
    if n < 2:
        return None
    if b.rng.random() < 0.6:
        b.step(
            "split", [f"parts{i} = torch.split(x, x.size(1) // 2, 1)", f"x = torch.cat(parts{i}[::-1], 1)"]
        )
    else:
        b.step(
            "split",
            [
                f"a{i}, g{i} = x.chunk(2, dim=-1)" if c % 2 == 0 else f"a{i}, g{i} = x, x",
                f"x = torch.cat([a{i} * torch.sigmoid(g{i}), g{i}], -1)",
            ],
        )
        if c % 2:
            return _State("tokens", (n, 2 * c)) if 2 * c <= MAX_CHANNELS else None
    return _State("tokens", (n, c), s.hw)


def _arange_tokens(b: _Builder, s: _State) -> _State | None:
    n, c = s.dims
    i = b.index
    v = b.rng.randrange(3)
    if v == 0:
        b.step(
            "arange",
            [f"pos{i} = torch.arange(x.size(1))", f"x = x + self.emb{i}(pos{i})"],
            [f"self.emb{i} = nn.Embedding({n}, {c})"],
        )
    elif v == 1:
        b.step(
            "arange",
            [
                f"pos{i} = torch.arange(x.size(1), device=x.device).unsqueeze(0).expand(x.size(0), -1)",
                f"x = x + self.emb{i}(pos{i})",
            ],
            [f"self.emb{i} = nn.Embedding({n}, {c})"],
        )
    else:
        b.step("arange", ["x = x + torch.arange(x.shape[1], dtype=x.dtype)[None, :, None] / x.shape[1]"])
    return s


def _batch_arith_tokens(b: _Builder, s: _State) -> _State | None:
    n, c = s.dims
    i = b.index
    if b.rng.random() < 0.5:
        b.step(
            "batch_arith",
            [
                f"b{i}, n{i}, c{i} = x.shape",
                f"x = self.fc{i}(x.reshape(b{i} * n{i}, c{i})).reshape(b{i}, n{i}, c{i})",
            ],
            [f"self.fc{i} = nn.Linear({c}, {c})"],
        )
    else:
        b.step(
            "batch_arith",
            [f"x = torch.tanh(self.fc{i}(x.view(-1, {c}))).view(-1, {n}, {c})"],
            [f"self.fc{i} = nn.Linear({c}, {c})"],
        )
    return s


def _squeeze_tokens(b: _Builder, s: _State) -> _State | None:
    n, c = s.dims
    if min(n, c) == 1:  # squeeze() would drop more than the batch and broadcast across samples
        return None
    i = b.index
    b.step(
        "squeeze",
        [f"f{i} = torch.tanh(x.unsqueeze(1) * self.g{i})", f"x = x + f{i}.squeeze()"],
        [f"self.g{i} = nn.Parameter(torch.randn(1, 1, 1, {c}))"],
    )
    return s


# ---- steps that bake the batch on purpose ----------------------------------------------------------


def _bake(b: _Builder, s: _State, kind: str) -> _State | None:
    i = b.index
    image = s.layout == "image"
    dims = ", ".join(map(str, s.dims))
    if kind == "int":
        if image and b.rng.random() < 0.5:
            return _window_image(b, s, baked=True)
        if b.rng.random() < 0.5:
            lines = [f"n{i} = int(x.shape[0])", f"x = x.reshape(n{i}, -1).softmax(-1).reshape(n{i}, {dims})"]
            note = "n = int(x.shape[0]) in a reshape"
        else:
            lines = [
                f"shape{i} = [int(v) for v in x.shape]",
                f"x = x.view(shape{i}[0], shape{i}[1], -1).softmax(-1).view(shape{i})",
            ]
            note = "shape = [int(v) for v in x.shape] in a view"
    elif kind == "full_int":
        if image:
            c, h, w = s.dims
            if b.rng.random() < 0.5 or c + 1 > MAX_CHANNELS:
                lines = [f"b{i} = x.shape[0]", f"x = x + torch.full((int(b{i}), {c}, 1, 1), 0.5)"]
                note = "x + torch.full((int(b), c, 1, 1), 0.5)"
            else:
                lines = [
                    f"b{i} = x.shape[0]",
                    f"x = torch.cat([x, torch.full((int(b{i}), 1, {h}, {w}), 1.0)], 1)",
                ]
                note = "torch.cat([x, torch.full((int(b), 1, h, w), 1.0)], 1)"
                s = _State("image", (c + 1, h, w))
        else:
            n, c = s.dims
            if n + 1 > MAX_TOKENS:
                return None
            lines = [f"b{i} = x.shape[0]", f"x = torch.cat([torch.zeros(int(b{i}), 1, {c}), x], 1)"]
            note = "torch.cat([torch.zeros(int(b), 1, c), x], 1)"
            s = _State("tokens", (n + 1, c))
    elif kind == "unbind_loop":
        if image and b.rng.random() < 0.5:
            c = s.dims[0]
            b.init.append(f"self.conv{i} = nn.Conv2d({c}, {c}, 3, padding=1)")
            lines = [
                f"x = torch.stack([torch.tanh(self.conv{i}(s.unsqueeze(0))).squeeze(0) for s in x.unbind(0)], 0)"
            ]
            note = "torch.stack([f(s) for s in x.unbind(0)])"
        else:
            lines = ["x = torch.cat([s[None] * s.mean() for s in x], 0)"]
            note = "torch.cat([s[None] * s.mean() for s in x])"
    elif kind == "data_size":
        lines = [f"x = x.view(x.data.size(0), -1).softmax(-1).view(x.data.size(0), {dims})"]
        note = "x.view(x.data.size(0), -1)"
    else:  # batch1_buffer
        c = s.dims[0] if image else s.dims[1]
        k = b.choice((8, 16))
        b.init.append(f'self.register_buffer("emb{i}", torch.randn(1, {k}, {c}))')
        tail = f"g{i}.mean(1).view(b{i}, {c}, 1, 1)" if image else f"g{i}.mean(1, keepdim=True)"
        lines = [f"b{i} = x.shape[0]", f"g{i} = self.emb{i}.view(b{i}, -1, {c})", f"x = x + {tail}"]
        note = "a [1, K, C] buffer viewed with the image batch: emb.view(b, -1, c)"
        b.per_sample = True
    b.bake, b.bake_note = kind, note
    b.step(None, lines, label=f"baked batch: {kind}")
    return s


IMAGE_STEPS: dict[str, Step] = {
    "view": _view_image,
    "permute_view": _permute_view_image,
    "interpolate": _interpolate_image,
    "expand_param": _expand_image,
    "pad_multiple": _pad_image,
    "split": _split_image,
    "window": _window_image,
    "arange": _arange_image,
    "batch_arith": _batch_arith_image,
    "squeeze": _squeeze_image,
}
TOKEN_STEPS: dict[str, Step] = {
    "view": _view_tokens,
    "permute_view": _permute_view_tokens,
    "interpolate": _interpolate_tokens,
    "expand_param": _expand_tokens,
    "pad_multiple": _pad_tokens,
    "split": _split_tokens,
    "arange": _arange_tokens,
    "batch_arith": _batch_arith_tokens,
    "squeeze": _squeeze_tokens,
}


def generate(seed: int, *, bake: str | None | bool = None, steps: int | None = None) -> ShapeProgram:
    """The program for ``seed`` (deterministic).

    ``bake``: None picks at random (about one program in three bakes the batch), False never bakes, a
    kind from ``BAKE_KINDS`` forces it. ``steps``: number of pattern steps (default 2 to 4).
    """
    b = _Builder(seed)
    rng = b.rng
    if rng.random() < 0.75:
        state = _State(
            "image", (rng.choice((3, 4, 6, 8)), rng.choice((4, 6, 8, 12)), rng.choice((4, 6, 8, 12)))
        )
    else:
        n, c = rng.choice((5, 7, 8, 12, 15, 16)), rng.choice((4, 6, 8))
        state = _State("tokens", (n, c))
    input_shape = state.dims
    if bake is None:
        bake_kind = rng.choice(BAKE_KINDS[:4] * 2 + BAKE_KINDS[4:]) if rng.random() < 0.35 else None
    else:
        bake_kind = bake or None
    count = steps if steps is not None else rng.randint(2, 4)
    bake_at = rng.randrange(count + 1) if bake_kind else -1
    position = 0

    def flush(state: _State) -> None:  # every step may .view() its input
        if not state.contiguous:
            b.body.append("x = x.contiguous()")
            state.contiguous = True

    while position <= count:
        flush(state)
        if position == bake_at and bake_kind:
            new = _bake(b, state, bake_kind)
            if new is None:  # not applicable to this layout: bake the next way that is
                bake_kind = "int" if bake_kind != "int" else "unbind_loop"
                continue
            state = new
            flush(state)
        if position == count:
            break
        if rng.random() < 0.3:
            state = (_mix_image if state.layout == "image" else _mix_tokens)(b, state)
            flush(state)
        table = IMAGE_STEPS if state.layout == "image" else TOKEN_STEPS
        for _ in range(20):
            new = table[rng.choice(list(table))](b, state)
            if new is not None:
                state = new
                break
        position += 1
    if b.per_sample:
        export_batch = 1
    else:
        export_batch = rng.choices((2, 1, 3), weights=(0.7, 0.15, 0.15))[0]
    kinds = tuple(dict.fromkeys(b.kinds))
    return ShapeProgram(
        seed, b.source(), tuple(input_shape), export_batch, kinds, b.bake, b.bake_note, b.per_sample
    )


def check_program(program: ShapeProgram, batches: tuple[int, ...] = (1, 2, 3, 4)) -> None:
    """Assert the generator's promises: few weights, and samples treated independently in eager torch."""
    module = program.module()
    weights = sum(p.numel() for p in module.parameters()) + sum(b.numel() for b in module.buffers())
    assert weights <= MAX_WEIGHTS, f"{program.name}: {weights} weights"
    for batch in batches:
        x = program.inputs(batch)
        whole = program.eager(x, module)
        import torch

        with torch.no_grad():
            rows = [_as_list(module(torch.from_numpy(x[i : i + 1]))) for i in range(batch)]
        alone = [np.concatenate(parts) for parts in zip(*rows)]
        for a, c in zip(whole, alone, strict=True):
            assert a.shape == c.shape and np.allclose(a, c, atol=1e-5, rtol=1e-4), (
                f"{program.name}: sample-dependent at batch {batch}\n{program.describe()}"
            )


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["0"]:
        print(generate(int(arg)).describe())
