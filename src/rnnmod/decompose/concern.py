"""Per-unit statistics and the removal rule (paper-method §6.3-6.4), vectorised over classes,
time steps and units.

Statistics take padded observation tensors ``values [K, N, W]`` with ``valid [K, N]`` (K =
class × step groups, N = observations, W = units or gate columns). A group with no valid
observation yields NaN, which the selection treats as "keep everything" (the authors' fallback).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _masked_median(a: Tensor, valid: Tensor) -> Tensor:
    """NumPy-style median (mean of the two middle values) over dim 1 of ``a`` [K,N,W]."""
    big = torch.where(valid.unsqueeze(-1), a, torch.full_like(a, math.inf))
    s, _ = big.sort(dim=1)
    n = valid.sum(1)  # [K]
    lo = ((n - 1).clamp(min=0) // 2).view(-1, 1, 1).expand(-1, 1, a.shape[2])
    hi = (n // 2).clamp(max=a.shape[1] - 1).view(-1, 1, 1).expand(-1, 1, a.shape[2])
    med = (s.gather(1, lo) + s.gather(1, hi)).squeeze(1) / 2
    return torch.where((n > 0).unsqueeze(1), med, torch.full_like(med, math.nan))


def robust_mean_abs(values: Tensor, valid: Tensor, outlier_mads: float = 2.0) -> Tensor:
    """Mean of |v| after dropping observations farther than ``outlier_mads`` MADs from the median
    (the authors' ``get_mean_minus_outliers``; everything is kept when the MAD is 0). → [K, W]"""
    a = values.abs()
    med = _masked_median(a, valid)
    dev = (a - med.unsqueeze(1)).abs()
    mad = _masked_median(dev, valid)
    keep = valid.unsqueeze(-1) & ((mad.unsqueeze(1) == 0) | (dev < outlier_mads * mad.unsqueeze(1)))
    total = torch.where(keep, a, torch.zeros_like(a)).sum(1)
    count = keep.sum(1)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, math.nan))


def active_rate(
    values: Tensor,
    valid: Tensor,
    threshold: float = 0.0,
    absolute: bool = False,
    inclusive: bool = False,
) -> Tensor:
    """Fraction of valid observations above ``threshold`` (ReLU: v > 0; gates: |v| ≥ 0.5). → [K, W]"""
    v = values.abs() if absolute else values
    hit = (v >= threshold) if inclusive else (v > threshold)
    hit = hit & valid.unsqueeze(-1)
    n = valid.sum(1, keepdim=True)
    rate = hit.sum(1).double() / n.clamp(min=1)
    return torch.where(n > 0, rate, torch.full_like(rate, math.nan)).to(values.dtype)


def _cap_count(n_units: int, max_remove: float) -> int:
    """Smallest r with r / n_units >= max_remove, computed the way the authors' loop checks it."""
    for r in range(n_units + 1):
        if r / n_units >= max_remove:
            return r
    return n_units + 1


def select_comparison(
    d: Tensor, max_remove: float, ratio: float = 1.1, tangle_threshold: float = 0.0
) -> Tensor:
    """Removal rule for logistic activations (hidden-state strategy), over the last dim of ``d``.

    Units sorted by d ascending (stable); remove while d + threshold < 0 until the cap; past the
    cap still remove a unit (not the first) with d < 0 and first_d / d < ``ratio``. NaN → keep.
    Returns a bool tensor, True = removed.
    """
    n = d.shape[-1]
    k_cap = _cap_count(n, max_remove)
    dd = torch.nan_to_num(d, nan=math.inf)
    sorted_d, order = dd.sort(dim=-1, stable=True)
    k = torch.arange(n)
    first = sorted_d[..., :1]
    with torch.no_grad():
        ratio_ok = (first / sorted_d) < ratio
    before_cap = (k < k_cap) & (sorted_d + tangle_threshold < 0)
    after_cap = (k >= k_cap) & (k > 0) & (sorted_d < 0) & ratio_ok
    removed_sorted = before_cap | after_cap
    return torch.zeros_like(removed_sorted).scatter(-1, order, removed_sorted)


def select_active_rate(d: Tensor, max_remove: float, tangle_threshold: float = -0.5) -> Tensor:
    """ReLU rule: remove units whose active-rate difference d ≤ threshold, at most the cap."""
    n = d.shape[-1]
    k_cap = _cap_count(n, max_remove)
    dd = torch.nan_to_num(d, nan=math.inf)
    sorted_d, order = dd.sort(dim=-1, stable=True)
    removed_sorted = (torch.arange(n) < k_cap) & (sorted_d <= tangle_threshold)
    return torch.zeros_like(removed_sorted).scatter(-1, order, removed_sorted)


def select_per_gate(d: Tensor, n_blocks: int, max_remove: float) -> Tensor:
    """Per-gate strategy: each gate column on its own; within each gate block remove the most
    negative columns (d < 0) while the block's count / H < cap. No ratio rule."""
    shape = d.shape
    blocks = d.reshape(*shape[:-1], n_blocks, shape[-1] // n_blocks)
    h = blocks.shape[-1]
    k_cap = _cap_count(h, max_remove)
    dd = torch.nan_to_num(blocks, nan=math.inf)
    sorted_d, order = dd.sort(dim=-1, stable=True)
    removed_sorted = (torch.arange(h) < k_cap) & (sorted_d < 0)
    return torch.zeros_like(removed_sorted).scatter(-1, order, removed_sorted).reshape(shape)
