"""Score calibration for modules that come from different models.

A module's score (its log-odds z_pos − z_neg) is on its own model's scale: a Brown tagger module
is sure of itself on every sentence that holds its tag, a Clinc domain module is sure of itself
on its own utterances, and neither has seen the other's text. Comparing the raw scores (the
paper's odds rule, paper-method §10.2) lets whichever model is more confident win. Calibration
puts them on one scale: each module k gets an affine map w_k · s_k + c_k, the maps are fitted
jointly by multinomial logistic regression on labelled examples of the new problem, and the
composed model predicts the module whose calibrated score is highest. That is 2 numbers per
module — the modules' weights are not touched — and with two modules it is a logistic
regression on the two scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

CLAMP = 50.0  # log-odds beyond ±50 carry no more information (and −inf marks "no position")


@dataclass(frozen=True)
class Calibration:
    """Per-module affine maps of scores [K, N] (module k's raw score of example n)."""

    weight: Tensor  # [K]
    bias: Tensor  # [K]

    def apply(self, scores: Tensor) -> Tensor:
        """Scores [K, ...] (per example, or per example and position) → calibrated, same shape."""
        shape = (-1,) + (1,) * (scores.dim() - 1)
        return self.weight.view(shape) * _clean(scores) + self.bias.view(shape)

    def predict(self, scores: Tensor) -> Tensor:
        """The position (0..K−1) of the winning module per example (and position)."""
        return self.apply(scores).argmax(0)


def _clean(scores: Tensor) -> Tensor:
    return torch.nan_to_num(scores.float(), nan=0.0).clamp(-CLAMP, CLAMP)


def fit_calibration(
    scores: Tensor, target: Tensor, *, l2: float = 1e-3, max_iter: int = 100
) -> Calibration:
    """Fit w, c so that softmax_k(w_k s_k + c_k) predicts ``target`` (module positions, [N]).

    Scores are standardised per module before the fit (LBFGS is then well conditioned) and the
    maps converted back; a small L2 penalty keeps the fit finite when the classes separate."""
    if scores.dim() != 2 or target.shape != scores.shape[1:]:
        raise ValueError(f"scores [K, N] and target [N] expected, got {tuple(scores.shape)}")
    if scores.shape[1] == 0:
        raise ValueError("no examples to fit a calibration on")
    s = _clean(scores)
    mu, sd = s.mean(1, keepdim=True), s.std(1, keepdim=True).clamp_min(1e-6)
    x = (s - mu) / sd
    k = s.shape[0]
    params = torch.zeros(2, k, dtype=torch.float64, requires_grad=True)
    x64, y = x.double(), target.long()
    opt = torch.optim.LBFGS([params], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        logits = params[0][:, None] * x64 + params[1][:, None]  # [K, N]
        loss = torch.nn.functional.cross_entropy(logits.T, y) + l2 * (params**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w_std, c_std = params.detach().float()
    weight = w_std / sd[:, 0]
    bias = c_std - weight * mu[:, 0]
    return Calibration(weight, bias)
