"""Dense-prediction architectures in pure torch, written with their libraries' idioms.

- UNet (milesial/Pytorch-UNet): ``nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)``,
  then ``diffY = x2.size()[2] - x1.size()[2]`` and ``F.pad(x1, [diffX // 2, diffX - diffX // 2, ...])``
  before ``torch.cat([x2, x1], dim=1)``; plus a decoder step by ``F.interpolate(size=skip.shape[-2:])``.
- FPN (torchvision ``FeaturePyramidNetwork``): lateral 1x1 convs, top-down
  ``F.interpolate(last_inner, size=inner_lateral.shape[-2:], mode="nearest")``, 3x3 output convs and
  ``LastLevelMaxPool`` (``F.max_pool2d(x, 1, 2, 0)``); outputs every level.
- YOLOv5 Detect (ultralytics/yolov5): ``bs, _, ny, nx = x[i].shape``, ``view(bs, na, no, ny, nx)
  .permute(0, 1, 3, 4, 2)``, the grid from ``torch.meshgrid(torch.arange(ny), torch.arange(nx))``
  rebuilt at run time, ``sigmoid().split((2, 2, nc + 1), 4)``, ``torch.cat(z, 1)``.
- YOLOv8 Detect (ultralytics): per level ``torch.cat((cv2(x), cv3(x)), 1)``, ``make_anchors`` with
  ``torch.arange(end=w) + 0.5`` and ``torch.full((h * w, 1), stride)``, DFL
  (``x.view(b, 4, c1, a).transpose(2, 1).softmax(1)``), ``dist2bbox`` and ``torch.cat((dbox, cls.sigmoid()), 1)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .zoo import EXAMPLE_BATCH, ZooModel

DENSE: dict[str, Callable[[], ZooModel]] = {}


def _register(fn: Callable[[], ZooModel]) -> Callable[[], ZooModel]:
    DENSE[fn.__name__] = fn
    return fn


def _image(c: int, h: int, w: int) -> torch.Tensor:
    return torch.randn(EXAMPLE_BATCH, c, h, w)


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


# --------------------------------------------------------------------------------------------------
# UNet


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = _double_conv(cin, cout)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        diffY = x2.size()[2] - x1.size()[2]
        diffX = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diffX // 2, diffX - diffX // 2, diffY // 2, diffY - diffY // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class _UNet(nn.Module):
    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        self.inc = _double_conv(3, 8)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), _double_conv(8, 16))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), _double_conv(16, 16))
        self.up1 = _Up(32, 8)
        self.reduce = nn.Conv2d(8, 8, 1)
        self.fuse = _double_conv(16, 8)
        self.outc = nn.Conv2d(8, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x = self.up1(x3, x2)
        # the other decoder idiom: resize to the skip's size
        x = F.interpolate(self.reduce(x), size=x1.shape[-2:], mode="bilinear", align_corners=False)
        x = self.fuse(torch.cat([x1, x], dim=1))
        return self.outc(x)


@_register
def unet() -> ZooModel:
    """UNet: an ``_Up`` block (bilinear ``nn.Upsample(scale_factor=2, align_corners=True)``, ``F.pad`` by
    the size difference, ``torch.cat``) and a step by ``F.interpolate(size=x1.shape[-2:])``. Input
    ``[batch, 3, 32, 32]``, output ``[batch, 2, 32, 32]``."""
    torch.manual_seed(0)
    return ZooModel("unet", _UNet().eval(), (_image(3, 32, 32),), ["x"], ["mask"])


# --------------------------------------------------------------------------------------------------
# torchvision FPN


class _FPN(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (8, 16, 16), out: int = 8) -> None:
        super().__init__()
        self.body = nn.ModuleList()
        cin = 3
        for c in channels:
            self.body.append(nn.Sequential(nn.Conv2d(cin, c, 3, 2, 1), nn.ReLU()))
            cin = c
        self.inner_blocks = nn.ModuleList(nn.Conv2d(c, out, 1) for c in channels)
        self.layer_blocks = nn.ModuleList(nn.Conv2d(out, out, 3, padding=1) for _ in channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = []
        for stage in self.body:
            x = stage(x)
            feats.append(x)
        last_inner = self.inner_blocks[-1](feats[-1])
        results = [self.layer_blocks[-1](last_inner)]
        for idx in range(len(feats) - 2, -1, -1):
            inner_lateral = self.inner_blocks[idx](feats[idx])
            feat_shape = inner_lateral.shape[-2:]
            inner_top_down = F.interpolate(last_inner, size=feat_shape, mode="nearest")
            last_inner = inner_lateral + inner_top_down
            results.insert(0, self.layer_blocks[idx](last_inner))
        results.append(F.max_pool2d(results[-1], 1, 2, 0))  # LastLevelMaxPool
        return tuple(results)


@_register
def fpn() -> ZooModel:
    """torchvision FeaturePyramidNetwork on a 3-stage backbone: ``F.interpolate(size=inner_lateral.shape[-2:],
    mode="nearest")`` top-down, LastLevelMaxPool; four outputs (16, 8, 4, 2 pixels square for a 32x32
    input, 8 channels)."""
    torch.manual_seed(0)
    return ZooModel("fpn", _FPN().eval(), (_image(3, 32, 32),), ["x"], ["p2", "p3", "p4", "pool"])


# --------------------------------------------------------------------------------------------------
# YOLOv5 Detect


class _YoloV5Detect(nn.Module):
    def __init__(self, nc: int = 3, ch: tuple[int, ...] = (8, 16), strides: tuple[int, ...] = (8, 16)) -> None:
        super().__init__()
        self.nc, self.no, self.nl, self.na = nc, nc + 5, len(ch), 3
        anchors = torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119]], dtype=torch.float32)
        self.register_buffer("stride", torch.tensor(strides, dtype=torch.float32))
        self.register_buffer("anchors", anchors.view(self.nl, -1, 2) / self.stride.view(-1, 1, 1))
        self.grid = [torch.empty(0) for _ in range(self.nl)]
        self.anchor_grid = [torch.empty(0) for _ in range(self.nl)]
        self.m = nn.ModuleList(nn.Conv2d(x, self.no * self.na, 1) for x in ch)
        self.dynamic = False

    def _make_grid(self, nx: int, ny: int, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        d, t = self.anchors[i].device, self.anchors[i].dtype
        shape = 1, self.na, ny, nx, 2
        y, x = torch.arange(ny, device=d, dtype=t), torch.arange(nx, device=d, dtype=t)
        yv, xv = torch.meshgrid(y, x, indexing="ij")
        grid = torch.stack((xv, yv), 2).expand(shape) - 0.5
        anchor_grid = (self.anchors[i] * self.stride[i]).view((1, self.na, 1, 1, 2)).expand(shape)
        return grid, anchor_grid

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        z = []
        for i in range(self.nl):
            x = self.m[i](xs[i])
            bs, _, ny, nx = x.shape
            x = x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
            if self.dynamic or self.grid[i].shape[2:4] != x.shape[2:4]:
                self.grid[i], self.anchor_grid[i] = self._make_grid(nx, ny, i)
            xy, wh, conf = x.sigmoid().split((2, 2, self.nc + 1), 4)
            xy = (xy * 2 + self.grid[i]) * self.stride[i]
            wh = (wh * 2) ** 2 * self.anchor_grid[i]
            y = torch.cat((xy, wh, conf), 4)
            z.append(y.view(bs, self.na * nx * ny, self.no))
        return torch.cat(z, 1)


class _YoloV5(nn.Module):
    def __init__(self) -> None:
        super().__init__()

        def conv(cin: int, cout: int, s: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, s, 1, bias=False), nn.BatchNorm2d(cout), nn.SiLU())

        self.p3 = nn.Sequential(conv(3, 8, 2), conv(8, 8, 2), conv(8, 8, 2))
        self.p4 = conv(8, 16, 2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.lat = conv(24, 8, 1)
        self.detect = _YoloV5Detect()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p3 = self.p3(x)
        p4 = self.p4(p3)
        p3 = self.lat(torch.cat([self.up(p4), p3], 1))
        self.detect.dynamic = True  # as an export with dynamic=True sets it: the grid follows the input
        return self.detect([p3, p4])


@_register
def yolov5() -> ZooModel:
    """YOLOv5: Conv-BN-SiLU backbone, ``nn.Upsample(scale_factor=2)`` neck, Detect at strides 8 and 16
    with the grid rebuilt from ``torch.meshgrid(torch.arange(ny), torch.arange(nx))`` in ``_make_grid``.
    Input ``[batch, 3, 64, 64]``, output ``[batch, 3 * (64 + 16), 8]``."""
    torch.manual_seed(0)
    from .vision import _randomise_bn

    return ZooModel("yolov5", _randomise_bn(_YoloV5()).eval(), (_image(3, 64, 64),), ["images"], ["output0"])


# --------------------------------------------------------------------------------------------------
# YOLOv8 Detect (anchor-free, DFL)


def make_anchors(feats: list[torch.Tensor], strides: tuple[int, ...], offset: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    anchor_points, stride_tensor = [], []
    dtype, device = feats[0].dtype, feats[0].device
    for i, stride in enumerate(strides):
        _, _, h, w = feats[i].shape
        sx = torch.arange(end=w, device=device, dtype=dtype) + offset
        sy = torch.arange(end=h, device=device, dtype=dtype) + offset
        sy, sx = torch.meshgrid(sy, sx, indexing="ij")
        anchor_points.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_tensor.append(torch.full((h * w, 1), stride, dtype=dtype, device=device))
    return torch.cat(anchor_points), torch.cat(stride_tensor)


def dist2bbox(distance: torch.Tensor, anchor_points: torch.Tensor, dim: int = -1) -> torch.Tensor:
    lt, rb = distance.chunk(2, dim)
    x1y1, x2y2 = anchor_points - lt, anchor_points + rb
    return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), dim)


class _DFL(nn.Module):
    def __init__(self, c1: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class _YoloV8(nn.Module):
    def __init__(self, nc: int = 4, reg_max: int = 16, strides: tuple[int, ...] = (8, 16)) -> None:
        super().__init__()
        self.nc, self.reg_max, self.strides = nc, reg_max, strides
        self.no = nc + 4 * reg_max
        self.p3 = nn.Sequential(nn.Conv2d(3, 8, 3, 4, 1), nn.SiLU(), nn.Conv2d(8, 8, 3, 2, 1), nn.SiLU())
        self.p4 = nn.Sequential(nn.Conv2d(8, 8, 3, 2, 1), nn.SiLU())
        self.cv2 = nn.ModuleList(nn.Sequential(nn.Conv2d(8, 16, 3, 1, 1), nn.SiLU(), nn.Conv2d(16, 4 * reg_max, 1))
                                 for _ in strides)
        self.cv3 = nn.ModuleList(nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1), nn.SiLU(), nn.Conv2d(8, nc, 1))
                                 for _ in strides)
        self.dfl = _DFL(reg_max)

    def forward(self, im: torch.Tensor) -> torch.Tensor:
        p3 = self.p3(im)
        x = [p3, self.p4(p3)]
        for i in range(len(x)):
            x[i] = torch.cat((self.cv2[i](x[i]), self.cv3[i](x[i])), 1)
        shape = x[0].shape  # BCHW
        x_cat = torch.cat([xi.view(shape[0], self.no, -1) for xi in x], 2)
        anchors, strides = (t.transpose(0, 1) for t in make_anchors(x, self.strides, 0.5))
        box, cls = x_cat.split((self.reg_max * 4, self.nc), 1)
        dbox = dist2bbox(self.dfl(box), anchors.unsqueeze(0), dim=1) * strides
        return torch.cat((dbox, cls.sigmoid()), 1)


@_register
def yolov8() -> ZooModel:
    """YOLOv8 Detect (anchor-free): ``xi.view(shape[0], no, -1)`` per level, ``make_anchors`` from
    ``torch.arange(end=w) + 0.5`` and ``torch.full((h * w, 1), stride)``, the DFL's
    ``view(b, 4, c1, a).transpose(2, 1).softmax(1)``, ``dist2bbox``. Input ``[batch, 3, 64, 64]``,
    output ``[batch, 4 + 4, 64 + 16]``."""
    torch.manual_seed(0)
    return ZooModel("yolov8", _YoloV8().eval(), (_image(3, 64, 64),), ["images"], ["output0"])
