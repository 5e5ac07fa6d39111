"""Swin and ConvNeXt written in pure torch as timm / the reference repositories write them.

Swin: ``window_partition`` (``x.view(B, H // ws, ws, W // ws, ws, C).permute(0, 1, 3, 2, 4, 5)
.contiguous().view(-1, ws, ws, C)``), ``window_reverse`` (``B = int(windows.shape[0] / (H * W / ws / ws))``),
relative position bias gathered from a registered index buffer, a shifted block with ``torch.roll`` and
the attention mask added through ``attn.view(B_ // nW, nW, heads, N, N)``, and PatchMerging by strided
slices. ConvNeXt: depthwise 7x7, ``permute(0, 2, 3, 1)`` to channels-last LayerNorm and MLP, layer
scale, ``permute(0, 3, 1, 2)`` back; the channels-first LayerNorm of the downsampling layers written
out (``x.mean(1, keepdim=True)``) and the head on ``x.mean([-2, -1])``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .zoo import EXAMPLE_BATCH, ZooModel

HIERARCHICAL: dict[str, Callable[[], ZooModel]] = {}


def _register(fn: Callable[[], ZooModel]) -> Callable[[], ZooModel]:
    HIERARCHICAL[fn.__name__] = fn
    return fn


# --------------------------------------------------------------------------------------------------
# Swin (the reference implementation, microsoft/Swin-Transformer)


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    B, H, W, C = x.shape
    x = x.view(B, H // window_size, window_size, W // window_size, window_size, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, C)


def window_reverse(windows: torch.Tensor, window_size: int, H: int, W: int) -> torch.Tensor:
    """The reference implementation's: the batch read with ``int()`` (baked into a traced export)."""
    B = int(windows.shape[0] / (H * W / window_size / window_size))
    x = windows.view(B, H // window_size, W // window_size, window_size, window_size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, H, W, -1)


def window_reverse_timm(windows: torch.Tensor, window_size: int, H: int, W: int) -> torch.Tensor:
    """timm's: the batch left to -1."""
    C = windows.shape[-1]
    x = windows.view(-1, H // window_size, W // window_size, window_size, window_size, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, H, W, C)


class _WindowAttention(nn.Module):
    def __init__(self, dim: int, window_size: int, num_heads: int) -> None:
        super().__init__()
        self.window_size, self.num_heads = window_size, num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.randn((2 * window_size - 1) ** 2, num_heads) * 0.02)
        coords = torch.stack(torch.meshgrid([torch.arange(window_size), torch.arange(window_size)], indexing="ij"))
        coords_flatten = torch.flatten(coords, 1)
        relative = (coords_flatten[:, :, None] - coords_flatten[:, None, :]).permute(1, 2, 0).contiguous()
        relative[:, :, 0] += window_size - 1
        relative[:, :, 1] += window_size - 1
        relative[:, :, 0] *= 2 * window_size - 1
        self.register_buffer("relative_position_index", relative.sum(-1))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        B_, N, C = x.shape
        qkv = self.qkv(x).reshape(B_, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        ws2 = self.window_size * self.window_size
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(ws2, ws2, -1)
        attn = attn + bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        if mask is not None:
            nW = mask.shape[0]
            attn = attn.view(B_ // nW, nW, self.num_heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, N, N)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B_, N, C)
        return self.proj(x)


class _SwinBlock(nn.Module):
    def __init__(self, dim: int, resolution: int, heads: int, window_size: int, shift: int, reference: bool) -> None:
        super().__init__()
        self.reverse = window_reverse if reference else window_reverse_timm
        self.H = self.W = resolution
        self.window_size, self.shift_size = window_size, shift
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = _WindowAttention(dim, window_size, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        if shift:
            img_mask = torch.zeros((1, resolution, resolution, 1))
            cnt = 0
            for h in (slice(0, -window_size), slice(-window_size, -shift), slice(-shift, None)):
                for w in (slice(0, -window_size), slice(-window_size, -shift), slice(-shift, None)):
                    img_mask[:, h, w, :] = cnt
                    cnt += 1
            mask_windows = window_partition(img_mask, window_size).view(-1, window_size * window_size)
            attn_mask = mask_windows.unsqueeze(1) - mask_windows.unsqueeze(2)
            attn_mask = attn_mask.masked_fill(attn_mask != 0, -100.0).masked_fill(attn_mask == 0, 0.0)
        else:
            attn_mask = None
        self.register_buffer("attn_mask", attn_mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = self.H, self.W
        B, L, C = x.shape
        shortcut = x
        x = self.norm1(x).view(B, H, W, C)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
        x_windows = window_partition(x, self.window_size).view(-1, self.window_size * self.window_size, C)
        attn_windows = self.attn(x_windows, mask=self.attn_mask)
        attn_windows = attn_windows.view(-1, self.window_size, self.window_size, C)
        x = self.reverse(attn_windows, self.window_size, H, W)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        x = shortcut + x.view(B, H * W, C)
        return x + self.mlp(self.norm2(x))


class _PatchMerging(nn.Module):
    def __init__(self, resolution: int, dim: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H = W = self.resolution
        B, L, C = x.shape
        x = x.view(B, H, W, C)
        x0, x1 = x[:, 0::2, 0::2, :], x[:, 1::2, 0::2, :]
        x2, x3 = x[:, 0::2, 1::2, :], x[:, 1::2, 1::2, :]
        x = torch.cat([x0, x1, x2, x3], -1).view(B, -1, 4 * C)
        return self.reduction(self.norm(x))


class _Swin(nn.Module):
    def __init__(self, reference: bool, img: int = 32, patch: int = 4, dim: int = 16, window: int = 4,
                 classes: int = 10) -> None:
        super().__init__()
        r = img // patch
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.patch_norm = nn.LayerNorm(dim)
        self.stage1 = nn.Sequential(_SwinBlock(dim, r, 2, window, 0, reference),
                                    _SwinBlock(dim, r, 2, window, window // 2, reference))
        self.merge = _PatchMerging(r, dim)
        self.stage2 = nn.Sequential(_SwinBlock(2 * dim, r // 2, 4, window, 0, reference))
        self.norm = nn.LayerNorm(2 * dim)
        self.avgpool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(2 * dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_norm(self.patch_embed(x).flatten(2).transpose(1, 2))
        x = self.stage2(self.merge(self.stage1(x)))
        x = self.norm(x)  # B L C
        x = self.avgpool(x.transpose(1, 2))  # B C 1
        x = torch.flatten(x, 1)
        return self.head(x)


@_register
def swin() -> ZooModel:
    """Swin-T layout (timm's window functions): windows of 4 on an 8x8 token grid, a shifted block
    (``torch.roll`` and the attention mask through ``attn.view(B_ // nW, nW, ...)``), relative position
    bias, PatchMerging, ``AdaptiveAvgPool1d`` on ``x.transpose(1, 2)`` and ``torch.flatten(x, 1)``.
    Input ``[batch, 3, 32, 32]``."""
    torch.manual_seed(0)
    return ZooModel("swin", _Swin(reference=False).eval(), (torch.randn(EXAMPLE_BATCH, 3, 32, 32),), ["x"],
                    ["logits"])


@_register
def swin_reference() -> ZooModel:
    """The same with the reference implementation's ``window_reverse``: ``B = int(windows.shape[0] / (H * W
    / ws / ws))`` bakes the export batch into every window reverse (``[2, 2, 2, 4, 4, -1]`` on windows
    ``[4 * batch, 4, 4, C]``: the batch folds silently into the channels, nothing fails). Exported with a
    dynamic batch it only computes right at batch 2; ``--unsafe-fixes`` repairs it."""
    torch.manual_seed(0)
    return ZooModel("swin_reference", _Swin(reference=True).eval(), (torch.randn(EXAMPLE_BATCH, 3, 32, 32),),
                    ["x"], ["logits"], bakes_batch=True)


# --------------------------------------------------------------------------------------------------
# ConvNeXt (facebookresearch/ConvNeXt)


class _LayerNormChannelsFirst(nn.Module):
    def __init__(self, c: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c)), eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class _ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.rand(dim) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.dwconv(x)
        x = x.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
        x = self.pwconv2(self.act(self.pwconv1(self.norm(x))))
        x = self.gamma * x
        x = x.permute(0, 3, 1, 2)
        return shortcut + x


class _ConvNeXt(nn.Module):
    def __init__(self, dims: tuple[int, ...] = (8, 16), classes: int = 10) -> None:
        super().__init__()
        self.downsample_layers = nn.ModuleList([nn.Sequential(nn.Conv2d(3, dims[0], 4, 4),
                                                              _LayerNormChannelsFirst(dims[0]))])
        for i in range(len(dims) - 1):
            self.downsample_layers.append(nn.Sequential(_LayerNormChannelsFirst(dims[i]),
                                                        nn.Conv2d(dims[i], dims[i + 1], 2, 2)))
        self.stages = nn.ModuleList(nn.Sequential(_ConvNeXtBlock(d), _ConvNeXtBlock(d)) for d in dims)
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return self.head(self.norm(x.mean([-2, -1])))


@_register
def convnext() -> ZooModel:
    """ConvNeXt: stem conv 4/4 + channels-first LayerNorm (written out), blocks with a 7x7 depthwise conv,
    ``permute(0, 2, 3, 1)``, LayerNorm, MLP, layer scale, ``permute(0, 3, 1, 2)``; head on
    ``x.mean([-2, -1])``. Input ``[batch, 3, 32, 32]``."""
    torch.manual_seed(0)
    return ZooModel("convnext", _ConvNeXt().eval(), (torch.randn(EXAMPLE_BATCH, 3, 32, 32),), ["x"], ["logits"])

