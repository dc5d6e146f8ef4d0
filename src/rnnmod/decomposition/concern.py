"""Per-unit statistics and the removal rule (paper-method §6.3-6.4), vectorised over classes,
time steps and units.

Statistics take padded observation tensors ``values [K, N, W]`` with ``valid [K, N]`` (K =
class × step groups, N = observations, W = units or gate columns). A group with no valid
observation yields NaN, which the selection treats as "keep everything" (the authors' fallback).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def _masked_median(a: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """NumPy-style median (mean of the two middle values) over the last axis of ``a`` [K,W,N]
    where ``valid`` [K,N] marks real observations; NaN for a group without any.

    Groups have different counts, yet one vectorised ``np.partition`` (introselect, linear time)
    serves them all: each group's invalid slots are filled with −inf/+inf in numbers chosen so
    that its lower middle value lands at the same position P = (N−1)//2 for every group (and its
    upper middle value at P+1 when its count is even).
    """
    k, _w, n_obs = a.shape
    n = valid.sum(1)  # [K]
    p = (n_obs - 1) // 2
    n_low = p - (np.maximum(n, 1) - 1) // 2  # −inf slots per group
    inv_rank = np.cumsum(~valid, axis=1) - 1  # rank of each invalid slot within its group
    fill = np.where(inv_rank < n_low[:, None], -np.inf, np.inf).astype(a.dtype)
    filled = np.where(valid[:, None, :], a, fill[:, None, :])
    kth = [p, p + 1] if n_obs > 1 else [p]
    part = np.partition(filled, kth, axis=-1)
    lo = part[..., p]
    hi = part[..., p + 1] if n_obs > 1 else lo
    med = np.where((n % 2 == 1)[:, None], lo, (lo + hi) / np.asarray(2, dtype=a.dtype))
    return np.where((n > 0)[:, None], med, np.nan).astype(a.dtype)


def robust_mean_abs(values: Tensor, valid: Tensor, outlier_mads: float = 2.0) -> Tensor:
    """Mean of |v| after dropping observations whose distance from the median is ``outlier_mads``
    MADs or more (the authors' ``get_mean_minus_outliers``: keep dev / mad < 2; everything is kept
    when the MAD is 0). ``values`` [K, N, W], ``valid`` [K, N] → [K, W]"""
    a = np.ascontiguousarray(values.abs().transpose(1, 2).numpy())  # [K, W, N]
    ok = valid.numpy()
    med = _masked_median(a, ok)
    dev = np.abs(a - med[..., None])
    mad = _masked_median(dev, ok)
    with np.errstate(divide="ignore", invalid="ignore"):
        close = dev / mad[..., None] < outlier_mads
    keep = ok[:, None, :] & ((mad == 0)[..., None] | close)
    total = np.where(keep, a, 0).sum(-1, dtype=np.float64)
    count = keep.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return torch.from_numpy(mean.astype(a.dtype))


def active_rate(
    values: Tensor,
    valid: Tensor,
    threshold: float = 0.0,
    absolute: bool = False,
    inclusive: bool = False,
) -> Tensor:
    """Fraction of valid observations above ``threshold`` (ReLU: v > 0; gates: |v| ≥ 0.5), in
    float64 like the authors' Python division — in float32, 12/28 − 26/28 misses −0.5. → [K, W]"""
    v = values.abs() if absolute else values
    hit = (v >= threshold) if inclusive else (v > threshold)
    hit = hit & valid.unsqueeze(-1)
    n = valid.sum(1, keepdim=True)
    rate = hit.sum(1).double() / n.clamp(min=1)
    return torch.where(n > 0, rate, torch.full_like(rate, math.nan))


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
    cap still remove a unit (not the first) with d < 0 and first_d / d < ``ratio`` (the authors'
    code; ``ratio`` 0 stops at the cap, as the paper states). NaN → keep.
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
