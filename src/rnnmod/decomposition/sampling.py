"""Positive/negative example selection per class (paper-method §6.1), all classes at once.

Returns one union of example indices — observed in a single batched pass — and, per class, the
positions of its positives and negatives inside that union.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class ClassSamples:
    """``union`` [U] training indices; ``pos``/``neg`` positions into ``union`` (-1 = none):
    [C, N] for one-output models, [C, T, N] (per output step) for many-output models."""

    union: Tensor
    pos: Tensor
    neg: Tensor
    n_pos: list[int]
    n_neg: list[int]
    wanted_pos: int
    wanted_neg: int


def n_negative_default(n_positive: int, n_classes: int) -> int:
    return math.ceil(n_positive / max(1, n_classes - 1))


def _first_k_where(mask: Tensor, k: int) -> Tensor:
    """Indices of the first ``k`` True entries of each row of ``mask`` [C, N] → [C, k] (-1 padded)."""
    rank = mask.long().cumsum(1) - 1
    take = mask & (rank < k)
    out = torch.full((mask.shape[0], k), -1, dtype=torch.long)
    rows, cols = torch.nonzero(take, as_tuple=True)
    out[rows, rank[rows, cols]] = cols
    return out


def largest_remainder(total: int, weights: Tensor) -> Tensor:
    """Split ``total`` into integer parts proportional to each row of ``weights`` [R, K]."""
    w = weights.double()
    sums = w.sum(1, keepdim=True)
    exact = torch.where(sums > 0, total * w / sums.clamp(min=1e-30), torch.zeros_like(w))
    base = exact.floor().long()
    short = (total - base.sum(1, keepdim=True)).where(
        sums > 0, torch.zeros_like(sums, dtype=torch.long)
    )
    order = torch.argsort(exact - base, dim=1, descending=True, stable=True)
    bonus = (torch.arange(w.shape[1]).unsqueeze(0) < short).long()
    return base.scatter_add(1, order, bonus)


def _sample_indices(
    labels: Tensor,
    n_classes: int,
    n_positive: int,
    n_neg: int,
    method: str,
    seed: int,
    exclude_negative: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Dataset indices of each class's positives [C, n_positive] and negatives [C, n_neg] (-1 =
    none) for one label vector. ``exclude_negative`` keeps that label (padding) out of negatives."""
    classes = torch.arange(n_classes).unsqueeze(1)
    usable = (
        torch.ones_like(labels, dtype=torch.bool)
        if exclude_negative is None
        else labels != exclude_negative
    )
    if method == "first-n":
        is_pos = labels.unsqueeze(0) == classes  # [C, N]
        return _first_k_where(is_pos, n_positive), _first_k_where(~is_pos & usable, n_neg)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    shuffled = labels[order]
    is_pos = shuffled.unsqueeze(0) == classes
    pos_idx = order_map(order, _first_k_where(is_pos, n_positive))
    counts = torch.bincount(labels, minlength=n_classes)
    if exclude_negative is not None:
        counts[exclude_negative] = 0
    others = counts.unsqueeze(0).expand(n_classes, -1) * (
        1 - torch.eye(n_classes, dtype=torch.long)
    )
    quotas = largest_remainder(n_neg, others)  # [C, C]: negatives of class m drawn from class k
    # negatives of class m: the first quota[m, k] shuffled examples of each class k != m
    rank = (is_pos.long().cumsum(1) - 1).gather(0, shuffled.unsqueeze(0)).squeeze(0)
    take = rank.unsqueeze(0) < quotas[:, shuffled]  # [C, N]
    take &= shuffled.unsqueeze(0) != classes
    return pos_idx, order_map(order, _first_k_where(take, n_neg))


def sample_one_output(
    labels: Tensor, n_classes: int, n_positive: int, n_negative: int | None, method: str, seed: int
) -> ClassSamples:
    """Sample for 1:1 / M:1 models. ``first-n`` follows dataset order (the authors' code);
    ``stratified`` shuffles each class with ``seed`` and draws negatives from every other class
    in proportion to its size (the paper's description)."""
    n_neg = n_negative if n_negative is not None else n_negative_default(n_positive, n_classes)
    pos_idx, neg_idx = _sample_indices(labels, n_classes, n_positive, n_neg, method, seed)
    return _to_union(pos_idx, neg_idx, n_positive, n_neg)


def sample_per_step(
    labels: Tensor,
    n_classes: int,
    n_positive: int,
    n_negative: int | None,
    method: str,
    seed: int,
    exclude_negative: int | None = None,
) -> ClassSamples:
    """Per-output-step sampling for 1:N / M:N models (§6.1): at every step t, positives are
    examples whose label at t is the class, negatives those whose label at t is not.
    ``pos``/``neg`` come back as [C, T, N] positions into the union."""
    n_neg = n_negative if n_negative is not None else n_negative_default(n_positive, n_classes)
    per_step = [
        _sample_indices(
            labels[:, t], n_classes, n_positive, n_neg, method, seed + t, exclude_negative
        )
        for t in range(labels.shape[1])  # a loop over time steps
    ]
    pos_idx = torch.stack([p for p, _ in per_step], dim=1)
    neg_idx = torch.stack([n for _, n in per_step], dim=1)
    return _to_union(pos_idx, neg_idx, n_positive, n_neg)


def order_map(order: Tensor, idx: Tensor) -> Tensor:
    return torch.where(idx >= 0, order[idx.clamp(min=0)], idx)


def _to_union(pos_idx: Tensor, neg_idx: Tensor, wanted_pos: int, wanted_neg: int) -> ClassSamples:
    both = torch.cat([pos_idx.flatten(), neg_idx.flatten()])
    union = torch.unique(both[both >= 0])  # sorted

    def to_pos(idx: Tensor) -> Tensor:
        p = torch.searchsorted(union, idx.clamp(min=0))
        return torch.where(idx >= 0, p, idx)

    return ClassSamples(
        union=union,
        pos=to_pos(pos_idx),
        neg=to_pos(neg_idx),
        n_pos=(pos_idx >= 0).flatten(1).sum(1).tolist(),
        n_neg=(neg_idx >= 0).flatten(1).sum(1).tolist(),
        wanted_pos=wanted_pos,
        wanted_neg=wanted_neg,
    )
