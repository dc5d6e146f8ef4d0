"""Accuracy over examples or sequence positions."""

from __future__ import annotations

from torch import Tensor


def accuracy(pred: Tensor, target: Tensor, pad_label: int | None = None) -> float:
    """Fraction of correct predictions; positions whose *label* is ``pad_label`` are skipped.

    ``pad_label=None`` counts every position (the paper's legacy tagging accuracy, §7).
    """
    if pad_label is not None:
        keep = target != pad_label
        pred, target = pred[keep], target[keep]
    if target.numel() == 0:
        return float("nan")
    return (pred == target).float().mean().item()
