"""Channelling the output layer into one (negative, positive) head per module (§6.8)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..modules.module import positive_probability

__all__ = ["channel_heads", "channel_heads_protect_padding", "positive_probability"]


def channel_heads_protect_padding(
    weight: Tensor, bias: Tensor, pad: int = 0
) -> tuple[Tensor, Tensor]:
    """Many-output heads with the padding class protected (the authors' intended
    ``channel_multi_output``): rows (negative, positive, padding) where negative is the mean
    of the rows other than the class and padding (a true mean over C−2 rows; theirs divided by
    C−1). Module order = class order; the padding class's own row is unused. → [C, 3, H], [C, 3]"""
    c = weight.shape[0]
    keep = torch.ones(c, dtype=torch.bool)
    keep[pad] = False
    tot_w = weight[keep].sum(0, keepdim=True)
    tot_b = bias[keep].sum()
    neg_w = (tot_w - weight) / (c - 2)
    neg_b = (tot_b - bias) / (c - 2)
    pad_w = weight[pad].expand_as(weight)
    pad_b = bias[pad].expand_as(bias)
    return torch.stack([neg_w, weight, pad_w], dim=1), torch.stack([neg_b, bias, pad_b], dim=1)


def channel_heads(weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """Output layer weight [C, H], bias [C] → per-module heads [C, 2, H], [C, 2].

    Row 0 is the negative slot (the mean of the other C−1 classes' rows), row 1 the positive
    class's own row — the authors' ``channel`` for every module at once.
    """
    c = weight.shape[0]
    neg_w = (weight.sum(0, keepdim=True) - weight) / (c - 1)
    neg_b = (bias.sum() - bias) / (c - 1)
    return torch.stack([neg_w, weight], dim=1), torch.stack([neg_b, bias], dim=1)
