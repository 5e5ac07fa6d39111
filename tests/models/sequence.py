"""DETR and recurrent text models in pure torch, written with their reference repositories' idioms.

- DETR (facebookresearch/detr): a conv backbone, ``mask = torch.zeros((b, h, w), dtype=torch.bool)``,
  the sine position embedding (``not_mask.cumsum(1)``, ``dim_t = temperature ** (2 * (dim_t // 2) / n)``,
  ``torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)``), the sequence-first
  transformer (``src.flatten(2).permute(2, 0, 1)``, ``query_embed.unsqueeze(1).repeat(1, bs, 1)``,
  ``tgt = torch.zeros_like(query_embed)``, ``nn.MultiheadAttention`` without ``batch_first``), class and
  box heads.
- LSTM text classifier: ``nn.Embedding``, bidirectional ``nn.LSTM(batch_first=True)``,
  ``torch.cat((h_n[-2], h_n[-1]), dim=1)``.
- GRU text model: sequence-first ``nn.GRU`` with ``h0 = torch.zeros(layers, x.size(0), hidden)`` (the
  batch read at run time), per-token outputs ``out.view(-1, hidden)`` through a Linear and back with
  ``view(seq, batch, -1)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .zoo import EXAMPLE_BATCH, ZooModel

SEQUENCE: dict[str, Callable[[], ZooModel]] = {}
VOCAB = 50
SEQ = 12


def _register(fn: Callable[[], ZooModel]) -> Callable[[], ZooModel]:
    SEQUENCE[fn.__name__] = fn
    return fn


# --------------------------------------------------------------------------------------------------
# DETR


class _PositionEmbeddingSine(nn.Module):
    def __init__(self, num_pos_feats: int, temperature: int = 10000) -> None:
        super().__init__()
        self.num_pos_feats, self.temperature, self.scale = num_pos_feats, temperature, 2 * math.pi

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        not_mask = ~mask
        y_embed = not_mask.cumsum(1, dtype=torch.float32)
        x_embed = not_mask.cumsum(2, dtype=torch.float32)
        eps = 1e-6
        y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
        x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=x.device)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)
        pos_x = x_embed[:, :, :, None] / dim_t
        pos_y = y_embed[:, :, :, None] / dim_t
        pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


class _EncoderLayer(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads)
        self.linear1, self.linear2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, src: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        q = k = src + pos
        src = self.norm1(src + self.self_attn(q, k, value=src, key_padding_mask=mask)[0])
        return self.norm2(src + self.linear2(torch.relu(self.linear1(src))))


class _DecoderLayer(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads)
        self.multihead_attn = nn.MultiheadAttention(d, heads)
        self.linear1, self.linear2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor,
                query_pos: torch.Tensor) -> torch.Tensor:
        q = k = tgt + query_pos
        tgt = self.norm1(tgt + self.self_attn(q, k, value=tgt)[0])
        tgt2 = self.multihead_attn(query=tgt + query_pos, key=memory + pos, value=memory, key_padding_mask=mask)[0]
        tgt = self.norm2(tgt + tgt2)
        return self.norm3(tgt + self.linear2(torch.relu(self.linear1(tgt))))


class _DETR(nn.Module):
    def __init__(self, d: int = 16, queries: int = 5, classes: int = 4) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.input_proj = nn.Conv2d(16, d, 1)
        self.position = _PositionEmbeddingSine(d // 2)
        self.query_embed = nn.Embedding(queries, d)
        self.encoder = _EncoderLayer(d, 2)
        self.decoder = _DecoderLayer(d, 2)
        self.class_embed = nn.Linear(d, classes + 1)
        self.bbox_embed = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 4))

    def forward(self, samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(samples)
        b, _, h, w = features.shape
        mask = torch.zeros((b, h, w), dtype=torch.bool, device=samples.device)
        pos = self.position(features, mask)
        src = self.input_proj(features)
        bs, c, h, w = src.shape
        src = src.flatten(2).permute(2, 0, 1)
        pos_embed = pos.flatten(2).permute(2, 0, 1)
        query_embed = self.query_embed.weight.unsqueeze(1).repeat(1, bs, 1)
        mask = mask.flatten(1)
        tgt = torch.zeros_like(query_embed)
        memory = self.encoder(src, mask, pos_embed)
        hs = self.decoder(tgt, memory, mask, pos_embed, query_embed).transpose(0, 1)  # [bs, queries, d]
        return self.class_embed(hs), self.bbox_embed(hs).sigmoid()


@_register
def detr() -> ZooModel:
    """DETR: sine position embedding from an all-False mask, sequence-first encoder/decoder layers on
    ``nn.MultiheadAttention``, ``query_embed.unsqueeze(1).repeat(1, bs, 1)``. Input ``[batch, 3, 32, 32]``;
    outputs ``pred_logits [batch, 5, 5]`` and ``pred_boxes [batch, 5, 4]``."""
    torch.manual_seed(0)
    return ZooModel("detr", _DETR().eval(), (torch.randn(EXAMPLE_BATCH, 3, 32, 32),), ["samples"],
                    ["pred_logits", "pred_boxes"])


# --------------------------------------------------------------------------------------------------
# recurrent text models


class _LSTMClassifier(nn.Module):
    def __init__(self, hidden: int = 16, classes: int = 3) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 16)
        self.lstm = nn.LSTM(16, hidden, num_layers=1, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(text)
        _, (hidden, _) = self.lstm(embedded)
        hidden = torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1)
        return self.fc(hidden)


@_register
def lstm_text() -> ZooModel:
    """Text classifier: Embedding, bidirectional ``nn.LSTM(batch_first=True)``,
    ``torch.cat((hidden[-2], hidden[-1]), dim=1)``, Linear. Input ``text`` int64 ``[batch, 12]``."""
    torch.manual_seed(0)
    return ZooModel("lstm_text", _LSTMClassifier().eval(), (torch.randint(0, VOCAB, (EXAMPLE_BATCH, SEQ)),),
                    ["text"], ["logits"], int_high={"text": VOCAB})


class _GRUTagger(nn.Module):
    def __init__(self, hidden: int = 16, layers: int = 2, tags: int = 5) -> None:
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.embedding = nn.Embedding(VOCAB, 16)
        self.gru = nn.GRU(16, hidden, num_layers=layers)
        self.out = nn.Linear(hidden, tags)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens).transpose(0, 1)  # [seq, batch, emb]
        h0 = torch.zeros(self.layers, x.size(1), self.hidden)
        out, _ = self.gru(x, h0)
        seq, batch = out.size(0), out.size(1)
        logits = self.out(out.view(-1, self.hidden)).view(seq, batch, -1)
        return logits.transpose(0, 1)


@_register
def gru_tagger() -> ZooModel:
    """Sequence tagger: sequence-first ``nn.GRU`` (2 layers) with ``h0 = torch.zeros(layers, x.size(1),
    hidden)``, ``out.view(-1, hidden)`` through a Linear and ``view(seq, batch, -1)``. Input ``tokens``
    int64 ``[batch, 12]``, output ``[batch, 12, 5]``."""
    torch.manual_seed(0)
    return ZooModel("gru_tagger", _GRUTagger().eval(), (torch.randint(0, VOCAB, (EXAMPLE_BATCH, SEQ)),),
                    ["tokens"], ["tags"], int_high={"tokens": VOCAB})
