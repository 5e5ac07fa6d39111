"""Hugging Face transformers vision models (small random configurations) as zoo entries.

``HF_VISION[name]() -> ZooModel``; empty when transformers is not installed (the test extra pins it).
ViT (``ViTEmbeddings`` with its interpolation guard), Swin (``window_partition`` with ``maybe_pad``),
SegFormer (overlapping patch embeddings, efficient attention with a spatial reduction, the all-MLP decoder
upsampling every level to the first with ``nn.functional.interpolate(size=...)``) and MobileViT
(``unfolding``/``folding`` of patches with reshapes in series).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import torch
from torch import nn

from .zoo import EXAMPLE_BATCH, ZooModel

HF_VISION: dict[str, Callable[[], ZooModel]] = {}


class _Output(nn.Module):
    """``model(pixel_values).<key>`` as a plain tensor output."""

    def __init__(self, model: nn.Module, key: str) -> None:
        super().__init__()
        self.model, self.key = model, key

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values, return_dict=True)[self.key]


def _entry(name: str, build: Callable[[], nn.Module], key: str, size: int) -> Callable[[], ZooModel]:
    def factory() -> ZooModel:
        torch.manual_seed(0)
        return ZooModel(name, _Output(build(), key).eval(), (torch.randn(EXAMPLE_BATCH, 3, size, size),),
                        ["pixel_values"], [key])

    return factory


if importlib.util.find_spec("transformers") is not None:
    import transformers as T

    HF_VISION["hf_vit"] = _entry("hf_vit", lambda: T.ViTModel(T.ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64)), "last_hidden_state", 32)
    HF_VISION["hf_swin"] = _entry("hf_swin", lambda: T.SwinModel(T.SwinConfig(
        image_size=32, patch_size=4, embed_dim=16, depths=[2, 1], num_heads=[2, 4], window_size=4)),
        "last_hidden_state", 32)
    HF_VISION["hf_segformer"] = _entry("hf_segformer", lambda: T.SegformerForSemanticSegmentation(T.SegformerConfig(
        num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16], num_attention_heads=[1, 2],
        decoder_hidden_size=16, num_labels=3, strides=[4, 2], patch_sizes=[7, 3])), "logits", 32)
    HF_VISION["hf_mobilevit"] = _entry("hf_mobilevit", lambda: T.MobileViTModel(T.MobileViTConfig(
        image_size=32, hidden_sizes=[16, 24, 32], neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 48])),
        "pooler_output", 64)
