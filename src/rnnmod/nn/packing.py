"""torch's native recurrent layers on rows whose padding is skipped, wherever it lies.

A model that skips padding (``padding="skipped"``) holds each direction's state over a padded
step; the cell engine does that step by step. Native layers do it over a *packed* sequence,
which needs each row's real steps first. :class:`SkippedPadding` moves each row's real steps to
the front (stable, so their order is kept), packs, and maps the layers' outputs back to the
positions as the engine's held states have them: at position t the forward direction holds its
state after the last real step ≤ t (0 before the first), the backward direction its state after
the first real step ≥ t (0 after the last).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SkippedPadding:
    """The index maps of one batch of rows: ``valid`` [B, T] marks real steps (at least one
    per row)."""

    def __init__(self, valid: Tensor):
        steps = valid.shape[1]
        self.lengths = valid.sum(1)
        self.order = torch.argsort((~valid).to(torch.int8), dim=1, stable=True)  # real first
        seen = valid.long().cumsum(1)  # real steps at or before t
        self.fwd_idx = seen - 1  # -1: no real step yet
        self.bwd_idx = seen - valid.long()  # the first real step at or after t, compressed
        self.bwd_none = self.bwd_idx >= self.lengths[:, None]
        t = torch.arange(steps)
        self.rev = torch.where(t < self.lengths[:, None], self.lengths[:, None] - 1 - t, t)

    @staticmethod
    def _take(x: Tensor, idx: Tensor) -> Tensor:
        return x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))

    def compress(self, x: Tensor) -> Tensor:
        """[B, T, F] at positions → real steps first (the rest follows, ignored when packed)."""
        return self._take(x, self.order)

    def reverse(self, x: Tensor) -> Tensor:
        """Each row's real steps in reverse order (compressed layout; its own inverse)."""
        return self._take(x, self.rev)

    def run(self, layer: nn.RNNBase, x: Tensor) -> Tensor:
        """One native layer (uni- or bidirectional, batch-first) over compressed rows → its
        outputs [B, T, W], compressed, zero past each row's length."""
        packed = nn.utils.rnn.pack_padded_sequence(
            x, self.lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = layer(packed)
        return nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]

    def to_positions(self, fwd: Tensor, bwd: Tensor | None = None) -> Tensor:
        """Compressed outputs of the forward (and backward) direction → [B, T, W] at positions,
        held over padding."""
        steps = fwd.shape[1]
        f = self._take(fwd, self.fwd_idx.clamp(min=0)) * (self.fwd_idx >= 0).unsqueeze(-1)
        if bwd is None:
            return f
        b = self._take(bwd, self.bwd_idx.clamp(max=steps - 1)) * (~self.bwd_none).unsqueeze(-1)
        return torch.cat([f, b], dim=-1)
