"""Real vision architectures written in pure torch the way torchvision, timm and ultralytics write them.

torchvision, timm and ultralytics are not installed for the tests, so their architectures are written
out here, small (a few channels, random weights) but with the library's own Python idioms, because the
exports record those idioms: ``torch.flatten(x, 1)`` after ``AdaptiveAvgPool2d``, SE blocks with
``F.adaptive_avg_pool2d(x, 1)``, ``cls_token.expand(x.shape[0], -1, -1)``, ``qkv.reshape(B, N, 3, heads,
-1).permute(2, 0, 3, 1, 4)``, Swin's ``view(B, H // ws, ws, W // ws, ws, C)``, ConvNeXt's channels-last
permutes, UNet's ``F.pad`` by the size difference, FPN's ``F.interpolate(size=feature.shape[-2:])``,
YOLOv5's grid from ``torch.meshgrid(torch.arange(ny), torch.arange(nx))`` and YOLOv8's DFL head.

Every factory returns a :class:`models.zoo.ZooModel` (batch ``EXAMPLE_BATCH`` = 2). ``VISION`` maps the
names to the factories. Sequence models (DETR, LSTM/GRU) are in ``models.sequence``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .zoo import EXAMPLE_BATCH, ZooModel

VISION: dict[str, Callable[[], ZooModel]] = {}


def _register(fn: Callable[[], ZooModel]) -> Callable[[], ZooModel]:
    VISION[fn.__name__] = fn
    return fn


def _image(c: int, h: int, w: int) -> torch.Tensor:
    return torch.randn(EXAMPLE_BATCH, c, h, w)


def _randomise_bn(module: nn.Module) -> nn.Module:
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return module


# --------------------------------------------------------------------------------------------------
# torchvision ResNet


class _BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class _ResNet(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (8, 16, 32), classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        layers, inplanes = [], widths[0]
        for i, w in enumerate(widths):
            layers.append(nn.Sequential(_BasicBlock(inplanes, w, 1 if i == 0 else 2), _BasicBlock(w, w)))
            inplanes = w
        self.layers = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layers(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


@_register
def resnet() -> ZooModel:
    """torchvision ResNet-18 layout (BasicBlocks with 1x1 downsample, maxpool stem), widths 8/16/32,
    ``AdaptiveAvgPool2d((1, 1))`` then ``torch.flatten(x, 1)``. Input ``[batch, 3, 64, 64]``."""
    torch.manual_seed(0)
    return ZooModel("resnet", _randomise_bn(_ResNet()).eval(), (_image(3, 64, 64),), ["x"], ["logits"])


# --------------------------------------------------------------------------------------------------
# torchvision MobileNetV3


class _SqueezeExcitation(nn.Module):
    def __init__(self, c: int, squeeze: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = F.adaptive_avg_pool2d(x, 1)
        scale = F.hardsigmoid(self.fc2(F.relu(self.fc1(scale))))
        return scale * x


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, expand: int, cout: int, k: int, stride: int, se: bool, hs: bool) -> None:
        super().__init__()
        act = nn.Hardswish if hs else nn.ReLU
        layers: list[nn.Module] = []
        if expand != cin:
            layers += [nn.Conv2d(cin, expand, 1, bias=False), nn.BatchNorm2d(expand), act()]
        layers += [nn.Conv2d(expand, expand, k, stride, k // 2, groups=expand, bias=False),
                   nn.BatchNorm2d(expand), act()]
        if se:
            layers.append(_SqueezeExcitation(expand, max(8, expand // 4)))
        layers += [nn.Conv2d(expand, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        if self.use_res_connect:
            result += x
        return result


class _MobileNetV3(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish(),
            _InvertedResidual(8, 8, 8, 3, 2, se=True, hs=False),
            _InvertedResidual(8, 24, 12, 3, 2, se=False, hs=False),
            _InvertedResidual(12, 32, 12, 5, 1, se=True, hs=True),
            _InvertedResidual(12, 48, 16, 5, 2, se=True, hs=True),
            nn.Conv2d(16, 48, 1, bias=False), nn.BatchNorm2d(48), nn.Hardswish())
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(48, 64), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(64, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


@_register
def mobilenet_v3() -> ZooModel:
    """torchvision MobileNetV3 layout: inverted residuals with depthwise convs, SE blocks
    (``F.adaptive_avg_pool2d(x, 1)``, hardsigmoid, ``scale * x``), Hardswish, ``torch.flatten(x, 1)``.
    Input ``[batch, 3, 64, 64]``."""
    torch.manual_seed(0)
    return ZooModel("mobilenet_v3", _randomise_bn(_MobileNetV3()).eval(), (_image(3, 64, 64),), ["x"],
                    ["logits"])


# --------------------------------------------------------------------------------------------------
# timm ViT / DeiT


class _TimmAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, fused: bool) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.fused = num_heads, dim // num_heads, fused
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if self.fused:
            x = F.scaled_dot_product_attention(q, k, v)
        else:
            q = q * self.scale
            attn = q @ k.transpose(-2, -1)
            attn = attn.softmax(dim=-1)
            x = attn @ v
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class _TimmBlock(nn.Module):
    def __init__(self, dim: int, heads: int, fused: bool) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = _TimmAttention(dim, heads, fused)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # NCHW -> NLC


class _VisionTransformer(nn.Module):
    def __init__(self, img: int = 32, patch: int = 8, dim: int = 32, depth: int = 2, distilled: bool = False,
                 fused: bool = False, classes: int = 10) -> None:
        super().__init__()
        self.patch_embed = _PatchEmbed(patch, dim)
        self.num_prefix = 2 if distilled else 1
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.dist_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02) if distilled else None
        self.pos_embed = nn.Parameter(torch.randn(1, (img // patch) ** 2 + self.num_prefix, dim) * 0.02)
        self.blocks = nn.Sequential(*[_TimmBlock(dim, 2, fused) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)
        self.head_dist = nn.Linear(dim, classes) if distilled else None

    def _pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        tokens = [self.cls_token.expand(x.shape[0], -1, -1)]
        if self.dist_token is not None:
            tokens.append(self.dist_token.expand(x.shape[0], -1, -1))
        x = torch.cat(tokens + [x], dim=1)
        return x + self.pos_embed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._pos_embed(self.patch_embed(x))
        x = self.norm(self.blocks(x))
        if self.head_dist is not None:  # DeiT: mean of the class and distillation heads at inference
            return (self.head(x[:, 0]) + self.head_dist(x[:, 1])) / 2
        return self.head(x[:, 0])


@_register
def vit() -> ZooModel:
    """timm ViT: PatchEmbed (``flatten(2).transpose(1, 2)``), ``cls_token.expand(x.shape[0], -1, -1)``,
    ``qkv.reshape(B, N, 3, heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)``, manual softmax attention,
    ``transpose(1, 2).reshape(B, N, C)``. Input ``[batch, 3, 32, 32]``."""
    torch.manual_seed(0)
    return ZooModel("vit", _VisionTransformer().eval(), (_image(3, 32, 32),), ["x"], ["logits"])


@_register
def deit() -> ZooModel:
    """timm DeiT (distilled): class and distillation tokens, fused ``F.scaled_dot_product_attention``,
    the mean of the two heads. Input ``[batch, 3, 32, 32]``."""
    torch.manual_seed(0)
    return ZooModel("deit", _VisionTransformer(distilled=True, fused=True).eval(), (_image(3, 32, 32),), ["x"],
                    ["logits"])
