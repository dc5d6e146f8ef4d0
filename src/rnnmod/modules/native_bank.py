"""A bank of K modules of one source run as ONE native ``nn.LSTM/GRU/RNN`` call per layer.

The cell engine steps through time in Python; for small batches that overhead dominates, and for
large ones the engine's extra elementwise work does. Modules of one source share every weight and
differ only in which units are dead, so a bank can run on torch's native kernels over a batch of
K·B rows if each row can tell its layer which units to kill. We append a one-hot *module code* to
every layer's input (K columns, or K·T for per-step masks) whose weights put ±10³⁰ on the gate
pre-activations of the module's removed units:

* LSTM: input and forget gates → σ(−10³⁰) = 0, so c = 0·c + 0·g = 0 and h = o·tanh(0) = 0;
* GRU: update gate → σ(+10³⁰) = 1, so h = 0·n + 1·h₋₁ = h₋₁, which stays at h₀ = 0 (rolled only);
* ReLU RNN: relu(−10³⁰) = 0;
* tanh RNN: tanh(−10³⁰) = −1, a constant; its effect on the same layer (recurrent weights), the
  next layer (input weights) and the head is subtracted through the same module code / the head
  bias, and h₀ = −1 for the removed units so step 0 sees the same constant (rolled only).

Every kept unit then computes exactly what the masked engine computes; tests check the scores
against the engine to 1e-5. Not covered (the engine runs them): gate masks (per-gate strategy),
per-step masks for GRU and tanh RNN (a unit alive at t−1 and dead at t holds a data-dependent
value), models whose gates native torch cannot compute (Keras hard_sigmoid, reset_after=False),
and the original tool's edits (``legacy-edits``: a removed unit keeps a data-dependent state,
which no constant forcing reproduces; where the original's edits amount to dead units —
rolled one-output models — the bank passes ``dead`` and runs here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..nn.cells import N_GATES
from ..nn.zoo import SeqClassifier, make_rnn

BIG = 1e30
# the value a removed unit holds under the forcing, and the gate blocks forced (PyTorch order)
DEAD_VALUE = {"lstm": 0.0, "gru": 0.0, "rnn-relu": 0.0, "rnn": -1.0}
FORCED_BLOCKS = {"lstm": ((0, -1.0), (1, -1.0)), "gru": ((1, 1.0),), "rnn": ((0, -1.0),)}
FORCED_BLOCKS["rnn-relu"] = FORCED_BLOCKS["rnn"]


def native_unsupported(
    unit_masks: list[Tensor] | None,
    gate_masks,
    model: SeqClassifier,
    unit_semantics: str = "dead",
) -> str:
    """Why this bank cannot run natively ('' when it can)."""
    if unit_semantics != "dead" and unit_masks is not None:
        return f"{unit_semantics} unit semantics (removed units keep a state)"
    if not model.native:
        return "the source model's gates are not torch's (Keras semantics)"
    if gate_masks is not None:
        return "per-gate masks"
    if model.cfg.bidirectional or model.cfg.padding != "tokens":
        return "bidirectional layers or skipped padding (the module code is one direction's)"
    if model.cfg.head_hidden and DEAD_VALUE[model.cfg.cell]:
        return "a tanh RNN's forced units read −1, which no bias can take out of an MLP head"
    steps = unit_masks[0].shape[1] if unit_masks else 1
    if steps > 1 and model.cfg.cell in ("gru", "rnn"):
        return f"per-step masks on a {model.cfg.cell} model"
    return ""


@dataclass
class NativeBank:
    """Augmented native layers for K modules, the module code width and the head correction."""

    layers: list[nn.RNNBase]
    k: int
    steps: int  # mask steps S: 1 (rolled) or T
    h0: list[Tensor | None]  # [K, H] initial state per module (tanh: −1 on removed units)
    head_bias_shift: Tensor  # [K, R]
    _codes: dict = field(default_factory=dict, repr=False)

    def code(self, batch: int, time: int, dtype: torch.dtype) -> Tensor:
        """One-hot module code [T, K·B, K·S]: step t, row block k → column k·S + (t if S > 1)."""
        key = (batch, time, dtype)
        if key not in self._codes:
            self._codes.clear()  # keep one: batches of one size repeat, others are rare
            self._codes[key] = self._make_code(batch, time, dtype)
        return self._codes[key]

    def _make_code(self, batch: int, time: int, dtype: torch.dtype) -> Tensor:
        idx = torch.arange(self.k).repeat_interleave(batch)[None] * self.steps  # [1, K·B]
        idx = idx + torch.arange(time)[:, None] if self.steps > 1 else idx.expand(time, -1)
        return nn.functional.one_hot(idx, self.k * self.steps).to(dtype)  # time-major

    @torch.no_grad()
    def features(self, model: SeqClassifier, ids: Tensor) -> Tensor:
        """Head features of every module on every example: [K·B, H] or [K·B, T, H]. Layers run
        time-major ([T, K·B, ·]), which saves the native kernel a transpose per layer."""
        x = model.recurrent_input(ids)
        b, t = x.shape[:2]
        code = self.code(b, t, x.dtype)
        h = x.transpose(0, 1).repeat(1, self.k, 1)
        for layer, h0 in zip(self.layers, self.h0):
            init = None if h0 is None else h0.repeat_interleave(b, 0)[None].contiguous()
            h, _ = layer(torch.cat([h, code], -1), init)
        return model.head_features(h.transpose(0, 1), ids)


@torch.no_grad()
def build_native_bank(
    model: SeqClassifier, unit_masks: list[Tensor] | None, head_weight: Tensor
) -> NativeBank:
    """Copy the source's layers with the module-code columns appended (see the module doc)."""
    cfg = model.cfg
    k, hidden, gates = head_weight.shape[0], cfg.hidden, N_GATES[cfg.cell]
    if unit_masks is None:
        unit_masks = [torch.ones(k, 1, hidden, dtype=torch.bool)] * cfg.depth
    steps = unit_masks[0].shape[1]
    delta = DEAD_VALUE[cfg.cell]
    layers, h0 = [], []
    below = None  # removed units of the layer below, [K·S, H] float
    for src, mask in zip(model.rnns, unit_masks):
        dead = (~mask).reshape(k * steps, hidden).to(src.weight_ih_l0.dtype)
        extra = torch.zeros(gates * hidden, k * steps, dtype=dead.dtype)
        for block, sign in FORCED_BLOCKS[cfg.cell]:
            extra[block * hidden : (block + 1) * hidden] = sign * BIG * dead.T
        if delta:
            extra -= delta * (src.weight_hh_l0 @ dead.T)  # removed units seen by this layer
            if below is not None:
                extra -= delta * (src.weight_ih_l0 @ below.T)  # ... and by the next one
        layer = make_rnn(cfg.cell, src.input_size + k * steps, hidden)
        layer.batch_first = False
        layer.weight_ih_l0.copy_(torch.cat([src.weight_ih_l0, extra], 1))
        layer.weight_hh_l0.copy_(src.weight_hh_l0)
        layer.bias_ih_l0.copy_(src.bias_ih_l0)
        layer.bias_hh_l0.copy_(src.bias_hh_l0)
        layers.append(layer.eval())
        h0.append(delta * dead.reshape(k, steps, hidden)[:, 0] if delta else None)
        below = dead
    shift = torch.zeros(head_weight.shape[:2], dtype=head_weight.dtype)
    if delta:  # the head reads the removed units' constant (no MLP then: native_unsupported)
        dead_last = below.reshape(k, steps, hidden)[:, 0]
        shift = -delta * torch.einsum("krh,kh->kr", head_weight, dead_last)
    return NativeBank(layers, k, steps, h0, shift)
