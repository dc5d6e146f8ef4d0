"""Channelling the output layer into one (negative, positive) head per module (§6.8)."""

from __future__ import annotations

import torch
from torch import Tensor


def channel_heads(weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """Output layer weight [C, H], bias [C] → per-module heads [C, 2, H], [C, 2].

    Row 0 is the negative slot (the mean of the other C−1 classes' rows), row 1 the positive
    class's own row — the authors' ``channel`` for every module at once.
    """
    c = weight.shape[0]
    neg_w = (weight.sum(0, keepdim=True) - weight) / (c - 1)
    neg_b = (bias.sum() - bias) / (c - 1)
    return torch.stack([neg_w, weight], dim=1), torch.stack([neg_b, bias], dim=1)


def positive_probability(z_neg: Tensor, z_pos: Tensor, output: str, n_classes: int) -> Tensor:
    """Module confidence in its class: ``binary`` = softmax over (neg, pos) = σ(z_pos − z_neg);
    ``softmax`` = the full C-way softmax where the C−2 zeroed columns have logit 0."""
    if output == "binary" or n_classes <= 2:
        return torch.sigmoid(z_pos - z_neg)
    zeros = torch.full_like(z_pos, float(torch.log(torch.tensor(float(n_classes - 2)))))
    return torch.exp(z_pos - torch.logsumexp(torch.stack([z_pos, z_neg, zeros]), dim=0))
