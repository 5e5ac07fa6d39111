"""More torchvision-style architectures in pure torch, with torchvision's own idioms.

- DeepLabV3: ASPP with its pooling branch (``AdaptiveAvgPool2d(1)`` then ``F.interpolate(x, size=size,
  mode="bilinear", align_corners=False)`` with ``size = x.shape[-2:]``), the head upsampled to
  ``input_shape = x.shape[-2:]`` of the image.
- torchvision ViT: ``_process_input`` (``n, c, h, w = x.shape``, ``n_h = h // p``, ``x.reshape(n,
  hidden_dim, n_h * n_w).permute(0, 2, 1)``), ``class_token.expand(n, -1, -1)``, ``nn.MultiheadAttention
  (batch_first=True)`` encoder blocks, ``x[:, 0]``.
- RetinaNet-style head: ``permute_to_N_HWA_K`` (``x.view(N, -1, K, H, W).permute(0, 3, 4, 1, 2)
  .reshape(N, -1, K)``) per level, ``torch.cat(..., dim=1)``.
- CRNN (text recognition): conv features, ``b, c, h, w = conv.size()``, ``squeeze(2).permute(2, 0, 1)``,
  a sequence-first bidirectional LSTM, ``T, b, h = recurrent.size()``, ``view(T * b, h)``, Linear,
  ``view(T, b, -1)``.
- EfficientNet-style: MBConv with SE by ``x.mean((2, 3), keepdim=True)`` (timm), stochastic depth off
  in eval, ``torch.flatten(x, 1)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .zoo import EXAMPLE_BATCH, ZooModel

TORCHVISION_STYLE: dict[str, Callable[[], ZooModel]] = {}


def _register(fn: Callable[[], ZooModel]) -> Callable[[], ZooModel]:
    TORCHVISION_STYLE[fn.__name__] = fn
    return fn


def _image(c: int, h: int, w: int) -> torch.Tensor:
    return torch.randn(EXAMPLE_BATCH, c, h, w)


class _ASPPPooling(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        for mod in self:
            x = mod(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class _DeepLabV3(nn.Module):
    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(),
                                      nn.Conv2d(16, 16, 3, 1, 2, dilation=2), nn.ReLU())
        self.convs = nn.ModuleList([nn.Sequential(nn.Conv2d(16, 8, 1), nn.ReLU()),
                                    nn.Sequential(nn.Conv2d(16, 8, 3, padding=2, dilation=2), nn.ReLU()),
                                    _ASPPPooling(16, 8)])
        self.project = nn.Sequential(nn.Conv2d(24, 8, 1), nn.ReLU())
        self.classifier = nn.Conv2d(8, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        input_shape = x.shape[-2:]
        features = self.backbone(x)
        res = torch.cat([conv(features) for conv in self.convs], dim=1)
        x = self.classifier(self.project(res))
        return F.interpolate(x, size=input_shape, mode="bilinear", align_corners=False)


@_register
def deeplabv3() -> ZooModel:
    """DeepLabV3: ASPP (1x1, dilated 3x3, pooling branch resized back by ``size=x.shape[-2:]``), the logits
    resized to ``input_shape = x.shape[-2:]``. Input ``[batch, 3, 32, 32]``, output ``[batch, 3, 32, 32]``."""
    torch.manual_seed(0)
    return ZooModel("deeplabv3", _DeepLabV3().eval(), (_image(3, 32, 32),), ["x"], ["out"])


class _EncoderBlock(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class _TorchvisionViT(nn.Module):
    def __init__(self, image_size: int = 32, patch_size: int = 8, hidden_dim: int = 32, classes: int = 10) -> None:
        super().__init__()
        self.image_size, self.patch_size, self.hidden_dim = image_size, patch_size, hidden_dim
        self.conv_proj = nn.Conv2d(3, hidden_dim, patch_size, patch_size)
        self.class_token = nn.Parameter(torch.randn(1, 1, hidden_dim) * 0.02)
        seq = (image_size // patch_size) ** 2 + 1
        self.pos_embedding = nn.Parameter(torch.randn(1, seq, hidden_dim) * 0.02)
        self.layers = nn.Sequential(_EncoderBlock(hidden_dim, 2), _EncoderBlock(hidden_dim, 2))
        self.ln = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.heads = nn.Linear(hidden_dim, classes)

    def _process_input(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        p = self.patch_size
        torch._assert(h == self.image_size, f"Wrong image height! Expected {self.image_size} but got {h}!")
        n_h, n_w = h // p, w // p
        x = self.conv_proj(x)
        x = x.reshape(n, self.hidden_dim, n_h * n_w)
        return x.permute(0, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._process_input(x)
        n = x.shape[0]
        batch_class_token = self.class_token.expand(n, -1, -1)
        x = torch.cat([batch_class_token, x], dim=1)
        x = self.ln(self.layers(x + self.pos_embedding))
        return self.heads(x[:, 0])


@_register
def vit_torchvision() -> ZooModel:
    """torchvision VisionTransformer: ``_process_input`` with ``torch._assert`` and ``x.reshape(n,
    hidden_dim, n_h * n_w)``, ``class_token.expand(n, -1, -1)``, ``nn.MultiheadAttention(batch_first=True)``.
    Input ``[batch, 3, 32, 32]``."""
    torch.manual_seed(0)
    return ZooModel("vit_torchvision", _TorchvisionViT().eval(), (_image(3, 32, 32),), ["x"], ["logits"])


def _permute_to_n_hwa_k(x: torch.Tensor, k: int) -> torch.Tensor:
    n, _, h, w = x.shape
    x = x.view(n, -1, k, h, w)
    x = x.permute(0, 3, 4, 1, 2)
    return x.reshape(n, -1, k)


class _RetinaNetHead(nn.Module):
    def __init__(self, classes: int = 3, anchors: int = 2) -> None:
        super().__init__()
        self.classes = classes
        self.backbone = nn.ModuleList([nn.Sequential(nn.Conv2d(3, 8, 3, 4, 1), nn.ReLU()),
                                       nn.Sequential(nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU())])
        self.cls_logits = nn.Conv2d(8, anchors * classes, 3, padding=1)
        self.bbox_reg = nn.Conv2d(8, anchors * 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cls, box = [], []
        for stage in self.backbone:
            x = stage(x)
            cls.append(_permute_to_n_hwa_k(self.cls_logits(x), self.classes))
            box.append(_permute_to_n_hwa_k(self.bbox_reg(x), 4))
        return torch.cat(cls, dim=1), torch.cat(box, dim=1)


@_register
def retinanet_head() -> ZooModel:
    """torchvision RetinaNet head: per level ``x.view(N, -1, K, H, W).permute(0, 3, 4, 1, 2).reshape(N, -1,
    K)`` for the class logits and the boxes, concatenated over two levels. Input ``[batch, 3, 32, 32]``."""
    torch.manual_seed(0)
    return ZooModel("retinanet_head", _RetinaNetHead().eval(), (_image(3, 32, 32),), ["x"],
                    ["cls_logits", "bbox_regression"])


class _BidirectionalLSTM(nn.Module):
    def __init__(self, nin: int, hidden: int, nout: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(nin, hidden, bidirectional=True)
        self.embedding = nn.Linear(hidden * 2, nout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        recurrent, _ = self.rnn(x)
        T, b, h = recurrent.size()
        t_rec = recurrent.view(T * b, h)
        output = self.embedding(t_rec)
        return output.view(T, b, -1)


class _CRNN(nn.Module):
    def __init__(self, classes: int = 11) -> None:
        super().__init__()
        self.cnn = nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, 2),
                                 nn.Conv2d(8, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d((2, 1), (2, 1)),
                                 nn.Conv2d(16, 16, (4, 1)), nn.ReLU())
        self.rnn = _BidirectionalLSTM(16, 16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.cnn(x)
        b, c, h, w = conv.size()
        assert h == 1, "the height of conv must be 1"
        conv = conv.squeeze(2).permute(2, 0, 1)  # [w, b, c]
        return self.rnn(conv)


@_register
def crnn() -> ZooModel:
    """CRNN text recogniser: conv to height 1, ``squeeze(2).permute(2, 0, 1)``, a sequence-first
    bidirectional LSTM, ``recurrent.view(T * b, h)`` (the batch the inner factor), Linear, ``view(T, b, -1)``.
    Input ``[batch, 1, 16, 32]``, output ``[16, batch, 11]`` (sequence-first: the batch in dim 1)."""
    torch.manual_seed(0)
    return ZooModel("crnn", _CRNN().eval(), (_image(1, 16, 32),), ["x"], ["logits"])


class _MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, expand: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.conv_pw = nn.Sequential(nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.SiLU())
        self.conv_dw = nn.Sequential(nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid),
                                     nn.SiLU())
        self.se_reduce, self.se_expand = nn.Conv2d(mid, max(1, cin // 4), 1), nn.Conv2d(max(1, cin // 4), mid, 1)
        self.conv_pwl = nn.Sequential(nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.has_skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.conv_dw(self.conv_pw(x))
        x_se = x.mean((2, 3), keepdim=True)
        x_se = self.se_expand(F.silu(self.se_reduce(x_se)))
        x = x * x_se.sigmoid()
        x = self.conv_pwl(x)
        return x + shortcut if self.has_skip else x


class _EfficientNet(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv_stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.SiLU())
        self.blocks = nn.Sequential(_MBConv(8, 8, 1, 1), _MBConv(8, 16, 4, 2), _MBConv(16, 16, 4, 1))
        self.conv_head = nn.Sequential(nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32), nn.SiLU())
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_head(self.blocks(self.conv_stem(x)))
        return self.classifier(torch.flatten(self.global_pool(x), 1))


@_register
def efficientnet() -> ZooModel:
    """timm EfficientNet layout: MBConv blocks with SE by ``x.mean((2, 3), keepdim=True)`` and
    ``x * x_se.sigmoid()``, SiLU, ``AdaptiveAvgPool2d(1)`` and ``torch.flatten(x, 1)``. Input
    ``[batch, 3, 32, 32]``."""
    torch.manual_seed(0)
    from .vision import _randomise_bn

    return ZooModel("efficientnet", _randomise_bn(_EfficientNet()).eval(), (_image(3, 32, 32),), ["x"], ["logits"])


def _shifted_window_attention(x: torch.Tensor, qkv_weight: torch.Tensor, proj_weight: torch.Tensor,
                              relative_position_bias: torch.Tensor, window_size: list[int], num_heads: int,
                              shift_size: list[int], qkv_bias: torch.Tensor, proj_bias: torch.Tensor) -> torch.Tensor:
    """torchvision.models.swin_transformer.shifted_window_attention (dropout and logit scale left out)."""
    B, H, W, C = x.shape
    pad_r = (window_size[1] - W % window_size[1]) % window_size[1]
    pad_b = (window_size[0] - H % window_size[0]) % window_size[0]
    x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
    _, pad_H, pad_W, _ = x.shape
    shift_size = shift_size.copy()
    if window_size[0] >= pad_H:
        shift_size[0] = 0
    if window_size[1] >= pad_W:
        shift_size[1] = 0
    if sum(shift_size) > 0:
        x = torch.roll(x, shifts=(-shift_size[0], -shift_size[1]), dims=(1, 2))
    num_windows = (pad_H // window_size[0]) * (pad_W // window_size[1])
    x = x.view(B, pad_H // window_size[0], window_size[0], pad_W // window_size[1], window_size[1], C)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B * num_windows, window_size[0] * window_size[1], C)
    qkv = F.linear(x, qkv_weight, qkv_bias)
    qkv = qkv.reshape(x.size(0), x.size(1), 3, num_heads, C // num_heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    q = q * (C // num_heads) ** -0.5
    attn = q.matmul(k.transpose(-2, -1))
    attn = attn + relative_position_bias
    if sum(shift_size) > 0:
        attn_mask = x.new_zeros((pad_H, pad_W))
        h_slices = ((0, -window_size[0]), (-window_size[0], -shift_size[0]), (-shift_size[0], None))
        w_slices = ((0, -window_size[1]), (-window_size[1], -shift_size[1]), (-shift_size[1], None))
        count = 0
        for h in h_slices:
            for w in w_slices:
                attn_mask[h[0]: h[1], w[0]: w[1]] = count
                count += 1
        attn_mask = attn_mask.view(pad_H // window_size[0], window_size[0], pad_W // window_size[1], window_size[1])
        attn_mask = attn_mask.permute(0, 2, 1, 3).reshape(num_windows, window_size[0] * window_size[1])
        attn_mask = attn_mask.unsqueeze(1) - attn_mask.unsqueeze(2)
        attn_mask = attn_mask.masked_fill(attn_mask != 0, (-100.0)).masked_fill(attn_mask == 0, 0.0)
        attn = attn.view(x.size(0) // num_windows, num_windows, num_heads, x.size(1), x.size(1))
        attn = attn + attn_mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, num_heads, x.size(1), x.size(1))
    attn = F.softmax(attn, dim=-1)
    x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), C)
    x = F.linear(x, proj_weight, proj_bias)
    x = x.view(B, pad_H // window_size[0], pad_W // window_size[1], window_size[0], window_size[1], C)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B, pad_H, pad_W, C)
    if sum(shift_size) > 0:
        x = torch.roll(x, shifts=(shift_size[0], shift_size[1]), dims=(1, 2))
    return x[:, :H, :W, :].contiguous()


class _ShiftedWindowAttention(nn.Module):
    def __init__(self, dim: int, window_size: list[int], shift_size: list[int], num_heads: int) -> None:
        super().__init__()
        self.window_size, self.shift_size, self.num_heads = window_size, shift_size, num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        n = window_size[0] * window_size[1]
        self.relative_position_bias_table = nn.Parameter(torch.randn((2 * window_size[0] - 1) ** 2, num_heads) * .02)
        coords = torch.stack(torch.meshgrid(torch.arange(window_size[0]), torch.arange(window_size[1]),
                                            indexing="ij"))
        flat = torch.flatten(coords, 1)
        rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += window_size[0] - 1
        rel[:, :, 1] += window_size[1] - 1
        rel[:, :, 0] *= 2 * window_size[1] - 1
        self.register_buffer("relative_position_index", rel.sum(-1).flatten())
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.relative_position_bias_table[self.relative_position_index].view(self.n, self.n, -1)
        bias = bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        return _shifted_window_attention(x, self.qkv.weight, self.proj.weight, bias, self.window_size,
                                         self.num_heads, self.shift_size, self.qkv.bias, self.proj.bias)


class _SwinBlockV1(nn.Module):
    def __init__(self, dim: int, heads: int, shift: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = _ShiftedWindowAttention(dim, [4, 4], [shift, shift], heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _TorchvisionSwin(nn.Module):
    def __init__(self, dim: int = 16, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, dim, 4, 4), _Permute([0, 2, 3, 1]), nn.LayerNorm(dim),
                                      _SwinBlockV1(dim, 2, 0), _SwinBlockV1(dim, 2, 2))
        self.norm = nn.LayerNorm(dim)
        self.permute = _Permute([0, 3, 1, 2])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.permute(self.norm(self.features(x)))
        return self.head(torch.flatten(self.avgpool(x), 1))


class _Permute(nn.Module):
    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)


@_register
def swin_torchvision() -> ZooModel:
    """torchvision Swin (V1): ``shifted_window_attention`` pads H, W to the window (``F.pad`` by ``(ws - W %
    ws) % ws``), rolls, partitions with ``view(B, pad_H // ws, ws, pad_W // ws, ws, C)``, builds the shift
    mask at run time (``x.new_zeros((pad_H, pad_W))`` filled by slices), crops ``x[:, :H, :W, :]``.
    Input ``[batch, 3, 40, 40]`` (10x10 tokens, padded to 12x12 windows of 4)."""
    torch.manual_seed(0)
    return ZooModel("swin_torchvision", _TorchvisionSwin().eval(), (_image(3, 40, 40),), ["x"], ["logits"])
