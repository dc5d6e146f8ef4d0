"""Our own batched step loop for SimpleRNN (tanh/ReLU), LSTM and GRU.

Native ``torch.nn`` layers train the models; this engine runs the *same parameters* when we need
to see every hidden state and gate, or to run a decomposed module: it accepts per-unit masks
(a removed unit is dead: its state and output are exactly zero) and per-gate-column masks,
either one per layer or one per time step (unrolled modules, paper-method §6.6-6.7).

Masks use one canonical shape ``[groups, steps, width]`` where ``steps`` is 1 (rolled) or T
(unrolled) and ``groups`` is 1 or divides the batch: a batch laid out as ``groups`` blocks of
equal size runs one mask per block, which is how a fused module bank evaluates many modules
in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..choices import CELL_KINDS  # noqa: E402

N_GATES = {"rnn": 1, "rnn-relu": 1, "lstm": 4, "gru": 3}
# Gate blocks holding logistic (sigmoid) activations, in PyTorch order (LSTM i,f,g,o; GRU r,z,n).
SIGMOID_BLOCKS = {"rnn": (), "rnn-relu": (), "lstm": (0, 1, 3), "gru": (0, 1)}


@dataclass
class LayerWeights:
    """One recurrent layer's parameters in PyTorch layout (gate blocks stacked along rows)."""

    weight_ih: Tensor  # [G*H, in]
    weight_hh: Tensor  # [G*H, H]
    bias_ih: Tensor  # [G*H]
    bias_hh: Tensor  # [G*H]

    @property
    def hidden_size(self) -> int:
        return self.weight_hh.shape[1]

    @classmethod
    def from_module(cls, layer: nn.RNNBase) -> LayerWeights:
        """Read a single-layer ``nn.RNN/LSTM/GRU`` (shares storage, no copy)."""
        if layer.num_layers != 1 or layer.bidirectional:
            raise ValueError("LayerWeights.from_module expects a single-layer, unidirectional RNN")
        h = layer.hidden_size
        g = layer.weight_ih_l0.shape[0] // h
        zeros = torch.zeros(g * h, dtype=layer.weight_ih_l0.dtype, device=layer.weight_ih_l0.device)
        b_ih = layer.bias_ih_l0 if layer.bias else zeros
        b_hh = layer.bias_hh_l0 if layer.bias else zeros
        return cls(layer.weight_ih_l0, layer.weight_hh_l0, b_ih, b_hh)


@dataclass
class StackOutput:
    """Everything the engine saw: per layer hidden states [B,T,H], gates [B,T,G*H], final state."""

    output: Tensor
    hidden: list[Tensor]
    gates: list[Tensor] | None
    final_h: list[Tensor]
    final_c: list[Tensor | None]


def canonical_mask(mask: Tensor | None, per_step: bool = False) -> Tensor | None:
    """Bring a mask to ``[groups, steps, width]``.

    ``[W]`` → one mask for everything; ``[T, W]`` with ``per_step`` → one per step;
    ``[M, W]`` → one per batch group; ``[M, T, W]`` → per group and step.
    """
    if mask is None:
        return None
    if mask.dim() == 1:
        return mask.view(1, 1, -1)
    if mask.dim() == 2:
        return mask.unsqueeze(0) if per_step else mask.unsqueeze(1)
    if mask.dim() == 3:
        return mask
    raise ValueError(f"mask must have 1-3 dims, got shape {tuple(mask.shape)}")


def _mask_at(mask: Tensor | None, t: int, batch: int) -> Tensor | None:
    if mask is None:
        return None
    m = mask[:, t if mask.shape[1] > 1 else 0]  # [groups, W]
    groups = m.shape[0]
    if groups == 1 or groups == batch:
        return m
    if batch % groups:
        raise ValueError(f"batch {batch} is not a multiple of {groups} mask groups")
    return m.repeat_interleave(batch // groups, dim=0)


def hard_sigmoid_keras(x: Tensor) -> Tensor:
    """Keras 2.x hard_sigmoid: clip(0.2 x + 0.5, 0, 1) (not torch's x/6 + 0.5)."""
    return (0.2 * x + 0.5).clamp_(0.0, 1.0)


def run_layer(
    x: Tensor,
    w: LayerWeights,
    cell: str,
    *,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
    unit_mask: Tensor | None = None,
    gate_mask: Tensor | None = None,
    step_valid: Tensor | None = None,
    record_gates: bool = False,
    gate_activation: str = "sigmoid",
    gru_reset_after: bool = True,
    input_groups: int = 1,
) -> tuple[Tensor, Tensor | None, Tensor, Tensor | None]:
    """Run one layer over ``x`` [B,T,in]; returns (hidden [B,T,H], gates or None, h_T, c_T).

    ``unit_mask``/``gate_mask`` are canonical masks (see :func:`canonical_mask`) of width H and
    G*H. ``step_valid`` [B,T] marks real steps; on a padded step the state is carried forward.
    ``input_groups`` = K runs the layer on K copies of ``x`` (a module bank's first layer): the
    input product is computed once and repeated, not K times.
    """
    if cell not in N_GATES:
        raise ValueError(f"unknown cell kind {cell!r}; expected one of {CELL_KINDS}")
    batch, steps, _ = x.shape
    batch *= input_groups
    hidden = w.hidden_size
    sig = torch.sigmoid if gate_activation == "sigmoid" else hard_sigmoid_keras
    h = x.new_zeros(batch, hidden) if h0 is None else h0
    c = (x.new_zeros(batch, hidden) if c0 is None else c0) if cell == "lstm" else None
    xp = torch.nn.functional.linear(x, w.weight_ih, w.bias_ih)  # all steps in one product
    if input_groups > 1:
        xp = xp.repeat(input_groups, 1, 1)
    if cell != "gru":
        xp = xp + w.bias_hh
    outs, gate_rec = [], []
    for t in range(steps):
        gm = _mask_at(gate_mask, t, batch)
        um = _mask_at(unit_mask, t, batch)
        xt = xp[:, t] if gm is None else xp[:, t] * gm
        if cell == "gru":
            if gru_reset_after:
                hp = torch.nn.functional.linear(h, w.weight_hh, w.bias_hh)
                if gm is not None:
                    hp = hp * gm
                xr, xz, xn = xt.chunk(3, dim=1)
                hr, hz, hn = hp.chunk(3, dim=1)
                r = sig(xr + hr)
                z = sig(xz + hz)
                n = torch.tanh(xn + r * hn)
            else:  # Keras reset_after=False: reset applied before the recurrent product
                w_r, w_z, w_n = w.weight_hh.chunk(3, dim=0)
                b_r, b_z, b_n = w.bias_hh.chunk(3)
                xr, xz, xn = xt.chunk(3, dim=1)
                g_r = torch.nn.functional.linear(h, w_r, b_r)
                g_z = torch.nn.functional.linear(h, w_z, b_z)
                if gm is not None:
                    gr_m, gz_m, gn_m = gm.chunk(3, dim=1)
                    g_r, g_z = g_r * gr_m, g_z * gz_m
                r = sig(xr + g_r)
                z = sig(xz + g_z)
                g_n = torch.nn.functional.linear(r * h, w_n, b_n)
                if gm is not None:
                    g_n = g_n * gn_m
                n = torch.tanh(xn + g_n)
            h_new = (1.0 - z) * n + z * h
            c_new = None
            if record_gates:
                gate_rec.append(torch.cat([r, z, n], dim=1))
        else:
            hp = torch.nn.functional.linear(h, w.weight_hh)
            if gm is not None:
                hp = hp * gm
            s = xt + hp
            if cell == "lstm":
                i, f, g, o = s.chunk(4, dim=1)
                i, f, g, o = sig(i), sig(f), torch.tanh(g), sig(o)
                c_new = f * c + i * g
                h_new = o * torch.tanh(c_new)
                if record_gates:
                    gate_rec.append(torch.cat([i, f, g, o], dim=1))
            else:
                h_new = torch.tanh(s) if cell == "rnn" else torch.relu(s)
                c_new = None
                if record_gates:
                    gate_rec.append(h_new)
        if um is not None:
            h_new = h_new * um
            if c_new is not None:
                c_new = c_new * um
        if step_valid is not None:
            v = step_valid[:, t].unsqueeze(1)
            h_new = torch.where(v, h_new, h)
            if c_new is not None:
                c_new = torch.where(v, c_new, c)
        h, c = h_new, c_new
        outs.append(h)
    gates = torch.stack(gate_rec, dim=1) if record_gates else None
    return torch.stack(outs, dim=1), gates, h, c


def run_stack(
    x: Tensor,
    layers: list[LayerWeights],
    cell: str,
    *,
    unit_masks: list[Tensor | None] | None = None,
    gate_masks: list[Tensor | None] | None = None,
    h0: list[Tensor | None] | None = None,
    c0: list[Tensor | None] | None = None,
    step_valid: Tensor | None = None,
    record_gates: bool = False,
    gate_activation: str = "sigmoid",
    gru_reset_after: bool = True,
    input_groups: int = 1,
) -> StackOutput:
    """Run stacked layers; masks are lists (one canonical mask or None per layer).
    ``input_groups`` = K: ``x`` stands for K stacked copies of itself (see :func:`run_layer`)."""
    n = len(layers)
    unit_masks = unit_masks or [None] * n
    gate_masks = gate_masks or [None] * n
    h0 = h0 or [None] * n
    c0 = c0 or [None] * n
    hidden, gates, fh, fc = [], [], [], []
    inp = x
    for li, w in enumerate(layers):
        out, g, h, c = run_layer(
            inp,
            w,
            cell,
            h0=h0[li],
            c0=c0[li],
            unit_mask=unit_masks[li],
            gate_mask=gate_masks[li],
            step_valid=step_valid,
            record_gates=record_gates,
            gate_activation=gate_activation,
            gru_reset_after=gru_reset_after,
            input_groups=input_groups if li == 0 else 1,
        )
        hidden.append(out)
        gates.append(g)
        fh.append(h)
        fc.append(c)
        inp = out
    return StackOutput(inp, hidden, gates if record_gates else None, fh, fc)
