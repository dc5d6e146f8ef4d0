"""Channelling the output layer into one (negative, positive) head per module (§6.8)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..modules.module import positive_probability

__all__ = ["channel_heads", "positive_probability"]


def channel_heads(weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """Output layer weight [C, H], bias [C] → per-module heads [C, 2, H], [C, 2].

    Row 0 is the negative slot (the mean of the other C−1 classes' rows), row 1 the positive
    class's own row — the authors' ``channel`` for every module at once.
    """
    c = weight.shape[0]
    neg_w = (weight.sum(0, keepdim=True) - weight) / (c - 1)
    neg_b = (bias.sum() - bias) / (c - 1)
    return torch.stack([neg_w, weight], dim=1), torch.stack([neg_b, bias], dim=1)
