"""Our own batched step loop for SimpleRNN (tanh/ReLU), LSTM and GRU.

Native ``torch.nn`` layers train the models; this engine runs the *same parameters* when we need
to see every hidden state and gate, or to run a decomposed module: it accepts per-unit masks
(a removed unit is dead: its state and output are exactly zero) and per-gate-column masks,
either one per layer or one per time step (unrolled modules, paper-method §6.6-6.7).

``unit_semantics="legacy-edits"`` applies unit masks as the weights the original tool's
decomposers leave in their working copy of a layer's weights, one per step when unrolled
(docs/method.md, "What a removed unit is"): at step t a unit removed at t loses the input and bias parts of its pre-activations
and the recurrent terms from other units removed at t, keeps those from the kept units, and its
state is not masked — it goes on carrying a value into the next step and the next layer. What
the output layer drops is the caller's (:func:`legacy_head_features`); which model kinds the
original ran this way is :func:`rnnmod.modules.module.engine_semantics`'s.

Masks use one canonical shape ``[groups, steps, width]`` where ``steps`` is 1 (rolled) or T
(unrolled) and ``groups`` is 1 or divides the batch: a batch laid out as ``groups`` blocks of
equal size runs one mask per block, which is how a fused module bank evaluates many modules
in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..choices import CELL_KINDS, UNIT_SEMANTICS  # noqa: E402

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
        """Read a single-layer, unidirectional ``nn.RNN/LSTM/GRU`` (shares storage, no copy)."""
        if layer.num_layers != 1 or layer.bidirectional:
            raise ValueError("LayerWeights.from_module expects a single-layer, unidirectional RNN")
        return cls.direction_of(layer, "")

    @classmethod
    def direction_of(cls, layer: nn.RNNBase, suffix: str) -> LayerWeights:
        """One direction of a single-layer torch module (``suffix`` "" or "_reverse"); a
        module without bias reads zero biases."""
        w_ih = getattr(layer, f"weight_ih_l0{suffix}")
        zeros = torch.zeros(w_ih.shape[0], dtype=w_ih.dtype, device=w_ih.device)
        b_ih = getattr(layer, f"bias_ih_l0{suffix}") if layer.bias else zeros
        b_hh = getattr(layer, f"bias_hh_l0{suffix}") if layer.bias else zeros
        return cls(w_ih, getattr(layer, f"weight_hh_l0{suffix}"), b_ih, b_hh)


@dataclass
class BiLayerWeights:
    """A bidirectional layer: its forward and backward directions. Its units are the two
    directions' units side by side (forward first, as torch concatenates their outputs), so a
    unit mask over it is [.., 2H] and a gate mask [.., 2·G·H] (forward's columns first)."""

    forward: LayerWeights
    backward: LayerWeights

    @property
    def hidden_size(self) -> int:
        return self.forward.hidden_size

    @property
    def weight_ih(self) -> Tensor:
        """Both directions' input kernels, forward's rows first: [2·G·H, in]."""
        return torch.cat([self.forward.weight_ih, self.backward.weight_ih])

    @classmethod
    def from_module(cls, layer: nn.RNNBase) -> BiLayerWeights:
        """Read a single-layer bidirectional ``nn.RNN/LSTM/GRU`` (shares storage)."""
        if layer.num_layers != 1 or not layer.bidirectional:
            raise ValueError("BiLayerWeights.from_module expects a single bidirectional layer")
        return cls(
            LayerWeights.direction_of(layer, ""), LayerWeights.direction_of(layer, "_reverse")
        )


def layer_weights_of(layer: nn.RNNBase) -> LayerWeights | BiLayerWeights:
    """A single-layer torch module's weights, one direction or two."""
    return (BiLayerWeights if layer.bidirectional else LayerWeights).from_module(layer)


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


def _legacy_recurrent(h: Tensor, keep: Tensor, rows: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """The recurrent product under the original tool's per-step edits: kept rows (gate columns of
    kept units) see every unit and their bias; rows of removed units see only the kept units
    (the removed→removed weights are zero) and no bias. keep [B, H] float, rows [B, G·H] bool."""
    full = torch.nn.functional.linear(h, w, b)
    cut = torch.nn.functional.linear(h * keep, w)
    return torch.where(rows, full, cut)


def _filled(h: Tensor, fill: tuple[Tensor, Tensor]) -> Tensor:
    """Dead-unit states ``h`` [B, H] with every removed unit set to ``h @ M + c`` of its batch
    group (``fill`` = (M [G, H, H], c [G, H]), G dividing B; M and c are zero where the kept
    units are, and a removed unit's own state is 0, so adding is setting)."""
    m, c = fill
    groups = m.shape[0]
    hk = h.reshape(groups, -1, h.shape[-1])
    return h + torch.baddbmm(c[:, None, :], hk, m).reshape_as(h)


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
    unit_semantics: str = "dead",
    unit_fill: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor | None, Tensor, Tensor | None]:
    """Run one layer over ``x`` [B,T,in]; returns (hidden [B,T,H], gates or None, h_T, c_T).

    ``unit_mask``/``gate_mask`` are canonical masks (see :func:`canonical_mask`) of width H and
    G*H. ``step_valid`` [B,T] marks real steps; on a padded step the state is carried forward.
    ``input_groups`` = K runs the layer on K copies of ``x`` (a module bank's first layer): the
    input product is computed once and repeated, not K times. ``unit_semantics``: ``dead`` (a
    removed unit's state and cell state are 0) or ``legacy-edits`` (see the module doc).
    ``unit_fill`` = (M [groups, H, H], c [groups, H]): with dead units, a removed unit's state
    is instead a linear function of its group's kept units, ``h @ M + c`` (M is zero outside
    kept rows × removed columns, c outside removed units), from the initial state on (then
    ``c``): :mod:`rnnmod.modules.fill`.
    """
    if cell not in N_GATES:
        raise ValueError(f"unknown cell kind {cell!r}; expected one of {CELL_KINDS}")
    if unit_semantics not in UNIT_SEMANTICS:
        raise ValueError(
            f"unknown unit semantics {unit_semantics!r}; expected one of {UNIT_SEMANTICS}"
        )
    legacy = unit_semantics == "legacy-edits" and unit_mask is not None
    if unit_fill is not None and (legacy or unit_mask is None or h0 is not None):
        raise ValueError("a unit fill needs dead unit masks and the zero initial state")
    if legacy and gate_mask is not None:
        raise ValueError("legacy-edits unit semantics apply to unit masks, not gate masks")
    n_gates = N_GATES[cell]
    batch, steps, _ = x.shape
    batch *= input_groups
    hidden = w.hidden_size
    sig = torch.sigmoid if gate_activation == "sigmoid" else hard_sigmoid_keras
    h = x.new_zeros(batch, hidden) if h0 is None else h0
    if unit_fill is not None:
        h = _filled(h, unit_fill)
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
        keep = rows = None
        if legacy:  # a removed unit's input and bias parts are dropped (all gate blocks)
            keep = um.to(xt.dtype)
            rows = keep.bool().repeat(1, n_gates)
            xt = xt.masked_fill(~rows, 0.0)
        if cell == "gru":
            if gru_reset_after:
                if legacy:
                    hp = _legacy_recurrent(h, keep, rows, w.weight_hh, w.bias_hh)
                else:
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
                if legacy:
                    unit_rows = keep.bool()
                    g_r = _legacy_recurrent(h, keep, unit_rows, w_r, b_r)
                    g_z = _legacy_recurrent(h, keep, unit_rows, w_z, b_z)
                else:
                    g_r = torch.nn.functional.linear(h, w_r, b_r)
                    g_z = torch.nn.functional.linear(h, w_z, b_z)
                if gm is not None:
                    gr_m, gz_m, gn_m = gm.chunk(3, dim=1)
                    g_r, g_z = g_r * gr_m, g_z * gz_m
                r = sig(xr + g_r)
                z = sig(xz + g_z)
                if legacy:
                    g_n = _legacy_recurrent(r * h, keep, unit_rows, w_n, b_n)
                else:
                    g_n = torch.nn.functional.linear(r * h, w_n, b_n)
                if gm is not None:
                    g_n = g_n * gn_m
                n = torch.tanh(xn + g_n)
            h_new = (1.0 - z) * n + z * h
            c_new = None
            if record_gates:
                gate_rec.append(torch.cat([r, z, n], dim=1))
        else:
            if legacy:  # the biases are in xt, already dropped for removed units
                hp = _legacy_recurrent(h, keep, rows, w.weight_hh, None)
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
        if um is not None and not legacy:
            h_new = h_new * um
            if c_new is not None:
                c_new = c_new * um
            if unit_fill is not None:
                h_new = _filled(h_new, unit_fill)
        if step_valid is not None:
            v = step_valid[:, t].unsqueeze(1)
            h_new = torch.where(v, h_new, h)
            if c_new is not None:
                c_new = torch.where(v, c_new, c)
        h, c = h_new, c_new
        outs.append(h)
    gates = torch.stack(gate_rec, dim=1) if record_gates else None
    return torch.stack(outs, dim=1), gates, h, c


def _halves(mask: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
    """A bidirectional layer's canonical mask [G, S, 2·W] (forward's columns first) → the
    forward mask and the backward one, its steps reversed (per-step masks are indexed by
    position; the backward direction runs over the reversed sequence)."""
    if mask is None:
        return None, None
    fwd, bwd = mask.chunk(2, dim=-1)
    return fwd, bwd.flip(1)


def run_bidirectional_layer(
    x: Tensor,
    w: BiLayerWeights,
    cell: str,
    *,
    unit_mask: Tensor | None = None,
    gate_mask: Tensor | None = None,
    step_valid: Tensor | None = None,
    **kw,
) -> tuple[Tensor, Tensor | None, Tensor, Tensor | None]:
    """Run both directions of a bidirectional layer: the backward one over the reversed
    sequence (with ``step_valid``, a padded step holds its state, so the backward direction
    starts at the last real token, as in a packed sequence). Masks are indexed by position:
    the backward direction's step-t mask applies where it reads position t. Outputs are the
    two directions side by side at each position, the final states side by side."""
    if kw.get("unit_semantics", "dead") != "dead" and unit_mask is not None:
        raise ValueError("legacy-edits unit semantics are for unidirectional layers")
    um_f, um_b = _halves(unit_mask)
    gm_f, gm_b = _halves(gate_mask)
    out_f, g_f, h_f, c_f = run_layer(
        x, w.forward, cell, unit_mask=um_f, gate_mask=gm_f, step_valid=step_valid, **kw
    )
    rev_valid = None if step_valid is None else step_valid.flip(1)
    out_b, g_b, h_b, c_b = run_layer(
        x.flip(1), w.backward, cell, unit_mask=um_b, gate_mask=gm_b, step_valid=rev_valid, **kw
    )
    out = torch.cat([out_f, out_b.flip(1)], dim=-1)
    gates = None if g_f is None else torch.cat([g_f, g_b.flip(1)], dim=-1)
    c = None if c_f is None else torch.cat([c_f, c_b], dim=-1)
    return out, gates, torch.cat([h_f, h_b], dim=-1), c


def run_stack(
    x: Tensor,
    layers: list[LayerWeights | BiLayerWeights],
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
    unit_semantics: str = "dead",
    unit_fills: list[tuple[Tensor, Tensor] | None] | None = None,
) -> StackOutput:
    """Run stacked layers; masks are lists (one canonical mask or None per layer).
    ``input_groups`` = K: ``x`` stands for K stacked copies of itself (see :func:`run_layer`).
    ``unit_semantics``: what a masked unit is (see the module doc); under ``legacy-edits`` the
    next layer reads the removed units' states unchanged, and what the head drops is the
    caller's (:func:`legacy_head_features`). ``unit_fills``: per layer, a removed unit's linear
    reconstruction from the kept ones or None (:func:`run_layer`'s ``unit_fill``)."""
    n = len(layers)
    unit_fills = unit_fills or [None] * n
    unit_masks = unit_masks or [None] * n
    gate_masks = gate_masks or [None] * n
    h0 = h0 or [None] * n
    c0 = c0 or [None] * n
    hidden, gates, fh, fc = [], [], [], []
    inp = x
    for li, w in enumerate(layers):
        bi = isinstance(w, BiLayerWeights)
        if bi and (h0[li] is not None or c0[li] is not None):
            raise ValueError("initial states are for unidirectional layers")
        run = run_bidirectional_layer if bi else run_layer
        states = {} if bi else {"h0": h0[li], "c0": c0[li]}
        if unit_fills[li] is not None:
            if bi:
                raise ValueError("unit fills are for unidirectional layers")
            states["unit_fill"] = unit_fills[li]
        out, g, h, c = run(
            inp,
            w,
            cell,
            **states,
            unit_mask=unit_masks[li],
            gate_mask=gate_masks[li],
            step_valid=step_valid,
            record_gates=record_gates,
            gate_activation=gate_activation,
            gru_reset_after=gru_reset_after,
            input_groups=input_groups if li == 0 else 1,
            unit_semantics=unit_semantics,
        )
        hidden.append(out)
        gates.append(g)
        fh.append(h)
        fc.append(c)
        inp = out
    return StackOutput(inp, hidden, gates if record_gates else None, fh, fc)


def legacy_head_features(feats: Tensor, last_mask: Tensor | None, step: int = -1) -> Tensor:
    """Head input under ``legacy-edits``: the original tool zeroes the output layer's weights
    from the last layer's units removed at one mask step (``step``: the last for one-output
    models, 0 for many-output ones, see docs/method.md), i.e. drops those units' features at
    every output step. ``feats`` [N, H] or [N, T, H]; ``last_mask`` the last layer's canonical
    unit mask [G, S, H] with G dividing N (row block g uses mask g)."""
    if last_mask is None:
        return feats
    m = last_mask[:, step].to(feats.dtype)  # [G, H]
    if feats.shape[0] % m.shape[0]:
        raise ValueError(f"{feats.shape[0]} rows are not a multiple of {m.shape[0]} mask groups")
    m = m.repeat_interleave(feats.shape[0] // m.shape[0], dim=0)
    return feats * (m if feats.dim() == 2 else m[:, None])
