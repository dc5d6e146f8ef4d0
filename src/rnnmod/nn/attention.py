"""Global attention over the encoder's outputs, one class per score function.

Both read the last decoder layer's state h_t [B, T, H] (no input feeding: the context does not
enter the recurrent layers, so they stay torch's native packed layers in training and module
masks act on the same units), weight the encoder's last-layer outputs h̄_s [B, S, H] by the
softmax of a score over the real source steps (padding scored −∞) into a context c_t, and
return h̃_t = tanh(W_c [c_t; h_t]), which the output layer reads:

* ``luong``: the "general" score h_tᵀ W_a h̄_s (Luong et al., 2015);
* ``bahdanau``: the additive score vᵀ tanh(W_q h_t + W_k h̄_s) (Bahdanau et al., 2015), here with
  the current state as the query, as in Luong's comparison of the two scores.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: the encoder's last-layer outputs [B, S, H] and which source steps are real [B, S]
Memory = tuple[Tensor, Tensor]


class _GlobalAttention(nn.Module):
    """What every score shares: the masked softmax, the context and the combination."""

    def __init__(self, hidden: int):
        super().__init__()
        self.combine = nn.Linear(2 * hidden, hidden)

    def scores(self, h: Tensor, outs: Tensor) -> Tensor:  # [B, T, H], [B, S, H] → [B, T, S]
        raise NotImplementedError

    def weights(self, h: Tensor, memory: Memory) -> Tensor:
        """Attention weights [B, T, S] of decoder states h over the source steps (rows sum to 1,
        padding 0)."""
        outs, valid = memory
        scores = self.scores(h, outs).masked_fill(~valid.unsqueeze(1), float("-inf"))
        return torch.softmax(scores, dim=-1)

    def forward(self, h: Tensor, memory: Memory) -> Tensor:
        context = torch.bmm(self.weights(h, memory), memory[0])
        return torch.tanh(self.combine(torch.cat([context, h], dim=-1)))


class LuongAttention(_GlobalAttention):
    """The "general" score h_tᵀ W_a h̄_s."""

    def __init__(self, hidden: int):
        super().__init__(hidden)
        self.score = nn.Linear(hidden, hidden, bias=False)

    def scores(self, h: Tensor, outs: Tensor) -> Tensor:
        return torch.bmm(self.score(h), outs.transpose(1, 2))


class BahdanauAttention(_GlobalAttention):
    """The additive score vᵀ tanh(W_q h_t + W_k h̄_s)."""

    def __init__(self, hidden: int):
        super().__init__(hidden)
        self.query = nn.Linear(hidden, hidden, bias=False)
        self.key = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, 1, bias=False)

    def scores(self, h: Tensor, outs: Tensor) -> Tensor:
        # [B, T, 1, H] + [B, 1, S, H] → [B, T, S, H] → [B, T, S]
        mixed = torch.tanh(self.query(h).unsqueeze(2) + self.key(outs).unsqueeze(1))
        return self.v(mixed).squeeze(-1)


ATTENTION: dict[str, type[_GlobalAttention]] = {
    "luong": LuongAttention,
    "bahdanau": BahdanauAttention,
}
#: the Luong layers' state-dict names in runs that stored them as two top-level layers (still read)
LEGACY_NAMES = {"attn_score.": "attention.score.", "attn_combine.": "attention.combine."}
