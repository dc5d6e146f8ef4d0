"""One comparable score per module and text, for composing modules of different models.

A module's score is its log-odds z_pos − z_neg from the channelled head (the paper's odds
P_pos/P_neg of §10.2, on a log scale). A many-output module (1:N, M:N) scores a text by its
largest log-odds over the text's real positions — "the text holds this label somewhere", the
paper's max_t rule — so a tagger's module and a classifier's module answer the same question
about a whole text. Each module reads the text through its own source's vocabulary.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..runs import Run
from .module import ModuleBank


def log_odds(z: Tensor) -> Tensor:
    """z [..., R] channelled head logits (negative, positive[, padding]) → z_pos − z_neg. The
    padding slot of a many-output head is left out, as the paper's two-slot heads had none."""
    return z[..., 1] - z[..., 0]


def max_over_positions(scores: Tensor, real: Tensor | None) -> Tensor:
    """scores [K, B, T] → [K, B]: the max over real positions (``real`` [B, T] bool; None:
    every step); a row without a real position scores −inf."""
    if real is not None:
        scores = scores.masked_fill(~real[None], float("-inf"))
    return scores.amax(-1)


def real_positions(io_type: str, ids: Tensor) -> Tensor | None:
    """Which output steps of a many-output model are real for these inputs: an M:N tagger has one
    output per input token, so its non-padding tokens; a 1:N model's every step (None)."""
    return (ids != 0) if io_type == "M:N" else None


@torch.no_grad()
def position_log_odds(run: Run, bank: ModuleBank, texts: list[str]) -> Tensor:
    """Every module of a many-output ``bank`` on raw texts → log-odds per output step [K, B, T]
    (for a tagger's modules compared token by token)."""
    return log_odds(bank.scores(run.model, run.vocab.encode_texts(texts), output="logits"))


@torch.no_grad()
def text_log_odds(run: Run, bank: ModuleBank, texts: list[str]) -> Tensor:
    """Every module of ``bank`` (modules of ``run``) on raw texts → log-odds [K, B]."""
    ids = run.vocab.encode_texts(texts)
    lo = log_odds(bank.scores(run.model, ids, output="logits"))
    if run.model.one_output:
        return lo
    return max_over_positions(lo, real_positions(run.io_type, ids))
