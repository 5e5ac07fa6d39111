"""Re-create the bundled samples (needs torch): a tiny detector written the way the export rules forbid.

    python samples/make_samples.py

- ``detector_legacy.onnx``: the legacy (TorchScript) exporter, batch dynamic;
- ``detector_dynamo.onnx``: the same module through the dynamo exporter.

The module uses ``interpolate(size=...)`` from the input's shape, a YOLO-style head that views by sizes
read from ``x.shape``, and ``x.view(x.size(0), -1)``: the patterns graphfix lints and fixes.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from graphfix.export import export


class TinyDetector(nn.Module):
    def __init__(self, anchors: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.anchors, self.outputs = anchors, classes + 5
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(16, 16, 3, 2, 1), nn.ReLU())
        self.head = nn.Conv2d(32, anchors * self.outputs, 1)
        self.cls = nn.Linear(16 * 4 * 4, classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p3 = self.stem(x)
        p4 = self.down(p3)
        up = F.interpolate(p4, size=(p3.shape[2], p3.shape[3]), mode="nearest")  # rule 2: use scale_factor
        y = self.head(torch.cat([p3, up], 1))
        bs, _, ny, nx = y.shape  # rule 1: sizes from x.shape become Shape/Gather chains
        boxes = y.view(bs, self.anchors, self.outputs, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
        boxes = boxes.view(bs, -1, self.outputs)
        pooled = F.adaptive_avg_pool2d(p4, 4)
        logits = self.cls(pooled.view(pooled.size(0), -1))
        return boxes, logits


def main() -> None:
    torch.manual_seed(0)
    model = TinyDetector().eval()
    image = torch.randn(2, 3, 64, 64)
    here = Path(__file__).parent
    for exporter in ("legacy", "dynamo"):
        path = export(model, (image,), here / f"detector_{exporter}.onnx", exporter=exporter,
                      input_names=["images"], output_names=["boxes", "logits"], opset=17)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
