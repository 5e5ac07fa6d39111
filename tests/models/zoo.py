"""A zoo of tiny, random-init torch models that export the shape patterns graphfix must handle.

Every entry of ``ZOO`` is a factory ``() -> ZooModel``; call it to get a fresh, seeded model::

    zm = ZOO["yolo_head"]()
    zm.module            # torch.nn.Module in eval mode, weights from torch.manual_seed(zm.seed)
    zm.inputs            # example positional inputs, batch EXAMPLE_BATCH (2, never 1: 1 hides broadcasting)
    zm.input_names       # graph input names, one per positional input
    zm.output_names      # graph output names
    zm.dynamic_dims      # extra dynamic axes besides the batch, {"x": {2: "height", 3: "width"}}, or None
    zm.bakes_batch       # True when the model bakes the example batch in (a Python int): it exports with a
                         # dynamic batch axis but only runs at batch EXAMPLE_BATCH
    zm.int_high          # int64 inputs: exclusive upper bound of valid values (vocab size; 2 for masks)

The models are small (a few thousand weights, a few channels) so that exporting the whole zoo with
both exporters stays fast on two CPU cores. ``tests/models/exports.py`` exports and caches them and
builds valid ONNX Runtime inputs at any batch size.

Entries (see each factory's docstring for the pattern it records):
seed_lesson, seed_twin_view_size0, view_size0_minus1_4, interp_size_nearest, interp_size_bilinear,
interp_scale_nearest, interp_scale_bilinear, yolo_head, dynamic_hw, baked_batch_int, transformer_block,
small_cnn, bert_tiny, gpt2_tiny, vit_tiny.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

EXAMPLE_BATCH = 2
VOCAB = 100
SEQ = 16


@dataclasses.dataclass
class ZooModel:
    """One zoo entry, ready to export: ``export(zm.module, zm.inputs, path, input_names=zm.input_names, ...)``."""

    name: str
    module: nn.Module
    inputs: tuple[torch.Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic_dims: dict[str, dict[int, str]] | None = None
    bakes_batch: bool = False
    int_high: dict[str, int] = dataclasses.field(default_factory=dict)
    seed: int = 0

    def export_kwargs(self) -> dict:
        """Keyword arguments for ``graphfix.export.export`` (dynamic batch plus ``dynamic_dims``)."""
        return {"input_names": self.input_names, "output_names": self.output_names,
                "dynamic_batch": True, "dynamic_dims": self.dynamic_dims}


ZOO: dict[str, Callable[[], ZooModel]] = {}


def _register(fn: Callable[[], ZooModel]) -> Callable[[], ZooModel]:
    ZOO[fn.__name__] = fn
    return fn


def _image(c: int, h: int, w: int) -> torch.Tensor:
    return torch.randn(EXAMPLE_BATCH, c, h, w)


# --------------------------------------------------------------------------------------------------
# the seed's lesson and its flatten variants


class _SeedLesson(nn.Module):
    def __init__(self, twin: bool) -> None:
        super().__init__()
        self.twin = twin
        self.conv = nn.Conv2d(1, 4, 3, stride=1, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(x))
        if self.twin:
            x = x.view(x.size(0), -1)  # what the seed says not to write
        else:
            x = x.view(-1, int(x.numel() // x.size(0)))  # the seed's own compliant form
        return self.fc(x)


@_register
def seed_lesson() -> ZooModel:
    """The seed's compliant model: conv+relu, ``x.view(-1, int(x.numel() // x.size(0)))``, Linear."""
    torch.manual_seed(0)
    return ZooModel("seed_lesson", _SeedLesson(twin=False).eval(), (_image(1, 8, 8),), ["x"], ["y"])


@_register
def seed_twin_view_size0() -> ZooModel:
    """The same model flattened with ``x.view(x.size(0), -1)`` (a Shape chain in the legacy exporter)."""
    torch.manual_seed(0)
    return ZooModel("seed_twin_view_size0", _SeedLesson(twin=True).eval(), (_image(1, 8, 8),), ["x"], ["y"])


class _ViewSize0Minus1By4(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        x = x.view(x.size(0), -1, 4)  # -1 in a non-batch position (GF102)
        return self.fc(x)


@_register
def view_size0_minus1_4() -> ZooModel:
    """``x.view(x.size(0), -1, 4)`` after a conv: the -1 sits in a non-batch dimension."""
    torch.manual_seed(0)
    return ZooModel("view_size0_minus1_4", _ViewSize0Minus1By4().eval(), (_image(3, 4, 4),), ["x"], ["y"])


# --------------------------------------------------------------------------------------------------
# interpolate by size / by scale


class _Interp(nn.Module):
    def __init__(self, mode: str, by_size: bool) -> None:
        super().__init__()
        self.mode, self.by_size = mode, by_size
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv1(x))
        extra = {"align_corners": False} if self.mode == "bilinear" else {}
        if self.by_size:
            y = F.interpolate(y, size=(y.shape[2] * 2, y.shape[3] * 2), mode=self.mode, **extra)
        else:
            y = F.interpolate(y, scale_factor=2, mode=self.mode, **extra)
        return self.conv2(y)


def _interp(name: str, mode: str, by_size: bool) -> ZooModel:
    torch.manual_seed(0)
    return ZooModel(name, _Interp(mode, by_size).eval(), (_image(3, 8, 8),), ["x"], ["y"])


@_register
def interp_size_nearest() -> ZooModel:
    """``F.interpolate(size=(H*2, W*2), mode="nearest")``: Resize driven by computed ``sizes`` (GF201)."""
    return _interp("interp_size_nearest", "nearest", by_size=True)


@_register
def interp_size_bilinear() -> ZooModel:
    """``F.interpolate(size=(H*2, W*2), mode="bilinear", align_corners=False)``."""
    return _interp("interp_size_bilinear", "bilinear", by_size=True)


@_register
def interp_scale_nearest() -> ZooModel:
    """``F.interpolate(scale_factor=2, mode="nearest")``: the seed's recommended form."""
    return _interp("interp_scale_nearest", "nearest", by_size=False)


@_register
def interp_scale_bilinear() -> ZooModel:
    """``F.interpolate(scale_factor=2, mode="bilinear", align_corners=False)``."""
    return _interp("interp_scale_bilinear", "bilinear", by_size=False)


# --------------------------------------------------------------------------------------------------
# detection head


class _YoloHead(nn.Module):
    na, nc = 3, 2
    no = nc + 5

    def __init__(self) -> None:
        super().__init__()

        def down(cin: int, cout: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.SiLU())

        self.stem = nn.Sequential(down(3, 8), down(8, 8), down(8, 8))  # stride 8
        self.p4 = down(8, 8)  # stride 16
        self.m = nn.ModuleList(nn.Conv2d(8, self.na * self.no, 1) for _ in range(2))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        p3 = self.stem(img)
        p4 = self.p4(p3)
        z = []
        for conv, x in zip(self.m, (p3, p4)):
            x = conv(x)
            bs, _, ny, nx = x.shape
            x = x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
            z.append(x.view(bs, -1, self.no))
        return torch.cat(z, 1)


@_register
def yolo_head() -> ZooModel:
    """YOLOv5-style Detect: ``view(bs, na, no, ny, nx).permute(...).contiguous().view(bs, -1, no)`` at strides
    8 and 16, concatenated. Output ``[batch, 3 * (4*4 + 2*2), 7]`` for a 32x32 image."""
    torch.manual_seed(0)
    return ZooModel("yolo_head", _YoloHead().eval(), (_image(3, 32, 32),), ["images"], ["detections"])


# --------------------------------------------------------------------------------------------------
# dynamic height/width, baked batch


class _DynamicHW(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.ReLU())
        self.dec = nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.enc(x)
        y = F.interpolate(y, scale_factor=2, mode="nearest")
        return self.dec(y)


@_register
def dynamic_hw() -> ZooModel:
    """Fully convolutional, exported with dynamic H and W besides the batch (GF301 territory); contains an
    ``interpolate(scale_factor=2)``. Runs at any even H, W."""
    torch.manual_seed(0)
    return ZooModel("dynamic_hw", _DynamicHW().eval(), (_image(3, 16, 16),), ["x"], ["y"],
                    dynamic_dims={"x": {2: "height", 3: "width"}})


class _BakedBatchInt(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y = y.view(2, 16, -1).softmax(-1)  # the example batch, written as a Python int
        y = y.reshape(2, -1)
        return self.fc(y)


@_register
def baked_batch_int() -> ZooModel:
    """``x.view(2, 16, -1)`` and ``x.reshape(2, -1)`` with example batch 2, exported with a dynamic batch
    anyway: the graph declares the batch dynamic but only runs at batch 2 (GF103)."""
    torch.manual_seed(0)
    return ZooModel("baked_batch_int", _BakedBatchInt().eval(), (_image(3, 4, 4),), ["x"], ["y"],
                    bakes_batch=True)


# --------------------------------------------------------------------------------------------------
# transformer family


class _Attention(nn.Module):
    """Hand-written multi-head self-attention: ``view(b, t, h, d).transpose(1, 2)`` style."""

    def __init__(self, c: int, h: int, causal_len: int = 0) -> None:
        super().__init__()
        self.h, self.d = h, c // h
        self.q, self.k, self.v = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.proj = nn.Linear(c, c)
        if causal_len:
            # GPT-2 style: a registered lower-triangular buffer, sliced [:t, :t] at run time
            self.register_buffer("bias", torch.tril(torch.ones(causal_len, causal_len))
                                 .view(1, 1, causal_len, causal_len))
        else:
            self.bias = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.size()
        q = self.q(x).view(b, t, self.h, self.d).transpose(1, 2)
        k = self.k(x).view(b, t, self.h, self.d).transpose(1, 2)
        v = self.v(x).view(b, t, self.h, self.d).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.d)
        if self.bias is not None:
            att = att.masked_fill(self.bias[:, :, :t, :t] == 0, float("-inf"))
        att = att.softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.proj(y)


class _Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), x + mlp(ln(x))."""

    def __init__(self, c: int, h: int, causal_len: int = 0) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.attn = _Attention(c, h, causal_len)
        self.mlp = nn.Sequential(nn.Linear(c, 2 * c), nn.GELU(), nn.Linear(2 * c, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


@_register
def transformer_block() -> ZooModel:
    """One pre-norm block with hand-written attention (``b, t, c = x.size()``, ``view(b, t, h, d)``,
    ``softmax(q @ k^T / sqrt(d)) @ v``, ``transpose(1, 2).contiguous().view(b, t, c)``), MLP.
    Input ``x: [batch, 16, 32]``."""
    torch.manual_seed(0)
    return ZooModel("transformer_block", _Block(32, 2).eval(), (torch.randn(EXAMPLE_BATCH, SEQ, 32),),
                    ["x"], ["y"])


# --------------------------------------------------------------------------------------------------
# classifier


def _conv_bn_relu(cin: int, cout: int, stride: int) -> list[nn.Module]:
    bn = nn.BatchNorm2d(cout)
    bn.running_mean.uniform_(-0.5, 0.5)  # random running stats, so folding them is visible
    bn.running_var.uniform_(0.5, 1.5)
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), bn, nn.ReLU()]


class _SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(*_conv_bn_relu(3, 8, 1), *_conv_bn_relu(8, 16, 2),
                                      *_conv_bn_relu(16, 16, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


@_register
def small_cnn() -> ZooModel:
    """conv-bn-relu x3 (random BatchNorm running stats), AdaptiveAvgPool2d(1), ``x.flatten(1)``, Linear."""
    torch.manual_seed(0)
    return ZooModel("small_cnn", _SmallCNN().eval(), (_image(3, 16, 16),), ["x"], ["logits"])


class _BertTiny(nn.Module):
    def __init__(self, vocab: int = VOCAB, c: int = 32, max_len: int = 64) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, c)
        self.pos = nn.Embedding(max_len, c)
        self.ln = nn.LayerNorm(c)
        # torch's own encoder layers (MultiheadAttention inside), not nn.TransformerEncoder, whose
        # nested-tensor fast path is irrelevant here.
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(c, 2, dim_feedforward=64, dropout=0.0, batch_first=True)
            for _ in range(2))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.size(1), device=input_ids.device)
        x = self.ln(self.tok(input_ids) + self.pos(positions))
        pad = attention_mask == 0  # True where padded, as src_key_padding_mask wants
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=pad)
        return x


@_register
def bert_tiny() -> ZooModel:
    """BERT-like encoder: token + position embedding (``torch.arange(input_ids.size(1))``), two
    ``nn.TransformerEncoderLayer(batch_first=True)`` with a key padding mask from ``attention_mask``.
    Inputs ``input_ids`` int64 ``[batch, 16]`` (vocab 100), ``attention_mask`` int64 ``[batch, 16]``."""
    torch.manual_seed(0)
    ids = torch.randint(0, VOCAB, (EXAMPLE_BATCH, SEQ))
    mask = torch.ones(EXAMPLE_BATCH, SEQ, dtype=torch.int64)
    mask[1, -4:] = 0  # some padding, never a fully padded row
    return ZooModel("bert_tiny", _BertTiny().eval(), (ids, mask), ["input_ids", "attention_mask"],
                    ["last_hidden_state"], int_high={"input_ids": VOCAB, "attention_mask": 2})


class _GPT2Tiny(nn.Module):
    def __init__(self, vocab: int = VOCAB, c: int = 32, block_size: int = 32) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, c)
        self.wpe = nn.Embedding(block_size, c)
        self.h = nn.ModuleList(_Block(c, 2, causal_len=block_size) for _ in range(2))
        self.ln_f = nn.LayerNorm(c)
        self.lm_head = nn.Linear(c, vocab, bias=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        t = input_ids.size(1)
        pos = torch.arange(0, t, dtype=torch.long, device=input_ids.device)
        x = self.wte(input_ids) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


@_register
def gpt2_tiny() -> ZooModel:
    """GPT-2-like decoder: ``t = idx.size(1)``, a registered causal buffer sliced ``[:, :, :t, :t]``,
    two hand-written blocks, vocab 100, sequence 16. Input ``input_ids`` int64 ``[batch, 16]``."""
    torch.manual_seed(0)
    ids = torch.randint(0, VOCAB, (EXAMPLE_BATCH, SEQ))
    return ZooModel("gpt2_tiny", _GPT2Tiny().eval(), (ids,), ["input_ids"], ["logits"],
                    int_high={"input_ids": VOCAB})


class _ViTTiny(nn.Module):
    def __init__(self, img: int = 32, patch: int = 8, c: int = 32, classes: int = 10) -> None:
        super().__init__()
        n = (img // patch) ** 2
        self.patch = nn.Conv2d(3, c, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, c) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, n + 1, c) * 0.02)
        self.blocks = nn.ModuleList(_Block(c, 2) for _ in range(2))
        self.norm = nn.LayerNorm(c)
        self.head = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)  # [b, n, c]
        cls = self.cls.expand(x.shape[0], -1, -1)  # Expand by the batch
        x = torch.cat((cls, x), dim=1) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


@_register
def vit_tiny() -> ZooModel:
    """ViT-like: conv patch embedding (patch 8 on 32x32), ``flatten(2).transpose(1, 2)``, cls token
    ``self.cls.expand(x.shape[0], -1, -1)``, position embedding, two blocks, head on the cls token."""
    torch.manual_seed(0)
    return ZooModel("vit_tiny", _ViTTiny().eval(), (_image(3, 32, 32),), ["x"], ["logits"])
