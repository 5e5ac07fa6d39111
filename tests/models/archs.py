"""Every real-architecture zoo entry by name: ``ARCHS[name]() -> ZooModel`` (see the modules for the idioms).

vision (torchvision / timm): resnet, mobilenet_v3, vit, deit; hierarchical: swin, swin_reference, convnext;
dense: unet, fpn,
yolov5, yolov8; sequence: detr, lstm_text, gru_tagger; torchvision_style: deeplabv3, vit_torchvision,
retinanet_head, crnn, efficientnet, swin_torchvision.
"""

from __future__ import annotations

from collections.abc import Callable

from .dense import DENSE
from .hierarchical import HIERARCHICAL
from .sequence import SEQUENCE
from .torchvision_style import TORCHVISION_STYLE
from .vision import VISION
from .zoo import ZooModel

ARCHS: dict[str, Callable[[], ZooModel]] = {**VISION, **HIERARCHICAL, **DENSE, **SEQUENCE, **TORCHVISION_STYLE}
