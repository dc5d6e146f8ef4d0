"""A bank of K modules with the removed units physically gone, all K run in one batched pass.

A dead unit contributes nothing (see :mod:`.compact`), so module k needs only its kept units:
its rows of every gate block, its columns of the recurrent matrix, of the next layer's input
matrix and of the head. Modules keep different numbers of units, so each layer is padded to the
widest module's kept count ``W_l``; a padding unit has zero weights and zero biases, and under
every cell's update it stays exactly 0 (LSTM: i = f = o = ½, g = 0, so c and h stay 0; GRU:
n = 0 and h = ½·h; RNN: act(0) = 0). The K modules then run as batched matrix products:

* the first layer's input product for every module at once — one ``[in, K·G·W₀]`` product;
* per step, one ``baddbmm`` of ``[K, B, W]`` states with ``[K, W, G·W]`` recurrent weights;
* deeper layers' input products and the head as ``bmm`` over the K modules.

So a bank whose modules keep ~20 % of the units costs about K · 0.2² of the monolithic model's
recurrent products instead of K times it. Where the fused kernel is built (:mod:`.fused`) and
the bank is small enough (:data:`FUSED_MAX_ROW`), every call runs on it instead
(:meth:`CompactBank._fused`: the same products, each step's non-linearities in vectorised loops
— the depth-1 Clinc sets at 0.77–0.91 of their arithmetic ratio at batch 256); what follows is
the torch path, which serves the rest. The batched products suit small batches; from
:data:`PER_MODULE_ROWS` examples on, the gate non-linearities over K × the padded width dominate
and the bank runs instead as K small torch-native layers (each module at its own width, no
padding; torch's fused LSTM/GRU/RNN kernels; narrow modules two to a layer, block-diagonal —
:data:`GROUP_WIDTH`), one after another over a shared embedding:
measured on Clinc LSTM-1 learned modules (30 % kept), batch 1: padded 2.95×, per module 7.5× the
monolithic model; batch 32: 6.96× vs 3.94×; batch 256: 7.7× vs 2.7× (docs/budget.md).
Users' unidirectional shapes — skipped padding (packed sequences), pooled readouts, an MLP head
(its first layer sliced to the kept units) — always run module by module. Covered: dead-unit
semantics or a linear fill (folded into the weights, :mod:`.fill`), unit masks that are the
same at every step (rolled, or unrolled with equal steps), torch-native gates, unidirectional
layers; the rest stays with the native bank or the engine (:meth:`ModuleBank.scores` chooses).
Tests check the scores against the engine to 1e-5 for every cell kind, depth 1–3, one- and
many-output models and users' unidirectional shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..nn.cells import N_GATES
from ..nn.packing import SkippedPadding
from ..nn.zoo import SeqClassifier, make_rnn
from . import fused
from .fill import Fill, ModuleWeights, module_weights

# from this many examples per call the bank runs module by module on native kernels (see above)
PER_MODULE_ROWS = 16

#: modules run side by side in one native layer (block-diagonal recurrent weights) while their
#: widths add up to at most this many units in every layer: torch's kernels cost about the same
#: per call up to ~48 units, so two narrow modules in one call take less time than two calls
#: (batch 256, one thread, over one 100-unit layer, interleaved rounds: ten 22-unit LSTMs 1.90×,
#: five pairs 1.53×; ten 20-unit GRUs 2.02×, pairs 1.53×; ten 24-unit GRUs 2.31×, pairs 1.91×;
#: ten 28-unit RNNs 2.71×, pairs 2.39× — but 32-unit GRU pairs lose: 2.19× → 2.45×;
#: `benchmarks/group_width.py`, docs/budget.md)
GROUP_WIDTH = {"lstm": 48, "rnn": 64, "rnn-relu": 64, "gru": 48}

#: the fused kernel serves banks whose K modules' gates of a layer, side by side (K · G · W,
#: padded), take at most this many values per example and step: it pays for small modules —
#: ten Clinc modules of 18-31 units (up to 1,240 values) at batch 256 in 0.75-1.18x the
#: monolithic model's time, against 1.72-2.73x on the torch path —, while for 150 modules of up
#: to 87 units (52,200 values) `rnnmod evaluate` took 42.0 s on the kernel against 11.5 s module
#: by module on torch's layers (the padding to the widest module and an input product of 1.6 GB
#: per 512 texts; docs/budget.md)
FUSED_MAX_ROW = 8192

#: a deeper layer whose input (the padded layer below) is at most this wide gets its input
#: products in the kernel's row loop; a wider one as one batched product over every step.
#: Batch 256, one thread (benchmarks/compact_bank.py --in-row-width 0 | 64): GRU-2 (19-unit layer
#: below) 1.10x the monolithic model's time in the rows against 1.39x batched; LSTM-2 (43 units)
#: 2.04x in the rows against 1.72x batched
FUSED_IN_ROW_WIDTH = 32

#: the fused kernel runs modules of different widths in two buckets (a call per layer each,
#: each padded to its own widest module) when that saves at least this share of the padded
#: recurrent work (:func:`_width_buckets`)
FUSED_BUCKET_SAVING = 0.1

#: the fused kernel reads the first layer's input products from a per-token table up to this
#: size (vocabulary × K × G·W₀ floats); a larger one is multiplied per call instead
FUSED_TABLE_BYTES = 256 * 2**20


def compact_unsupported(bank, model: SeqClassifier) -> str:
    """Why ``bank`` cannot run compact ('' when it can)."""
    return masks_unsupported(model, bank.unit_masks, bank.gate_masks, bank.engine_semantics(model))


def masks_unsupported(
    model: SeqClassifier,
    unit_masks: list[Tensor] | None,
    gate_masks: list[Tensor] | None,
    semantics: str,
) -> str:
    """:func:`compact_unsupported` from what it reads: the masks and the engine semantics of
    the removed units."""
    if not model.native:
        return "the source model's gates are not torch's (Keras semantics)"
    if model.cfg.bidirectional:
        return "bidirectional layers"
    if gate_masks is not None:
        return "per-gate masks (a masked gate column still outputs σ(0))"
    if unit_masks is None:
        return "no unit is removed"
    if semantics != "dead":
        return "removed units keep a state (legacy-edits)"
    for m in unit_masks:
        if not bool((m == m[:, :1]).all()):
            return "unrolled masks that differ between steps"
        if not bool(m[:, 0].any(1).all()):
            return "a module with every unit of a layer removed"
    return ""


def _gather_units(kept: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """[K, H] bool → indices [K, width] of each module's kept units (padded with 0) and the
    padding mask [K, width] (True = a real unit)."""
    counts = kept.sum(1)
    order = torch.argsort((~kept).to(torch.int8), dim=1, stable=True)[:, :width]  # kept first
    valid = torch.arange(width).unsqueeze(0) < counts.unsqueeze(1)
    return torch.where(valid, order, torch.zeros_like(order)), valid


def _rows(idx: Tensor, hidden: int, gates: int) -> Tensor:
    """Row indices [K, G·W] of the kept units in every gate block of a [G·H, ·] matrix."""
    return torch.cat([g * hidden + idx for g in range(gates)], dim=1)


@dataclass
class CompactBank:
    """Per layer: input weights (first layer [K·G·W₀, in] flat, deeper [K, W_{l−1}, G·W_l]),
    recurrent weights [K, W_l, G·W_l], biases [K, 1, G·W_l]; the head [K, W_L, R] and its bias
    [K, 1, R]. ``widths`` are the padded widths W_l; ``kept`` the real units per module."""

    cell: str
    one_output: bool
    widths: list[int]
    kept: list[Tensor]  # [K] kept units per layer
    w_ih: list[Tensor]
    b_ih: list[Tensor]
    w_hh: list[Tensor]
    b_hh: list[Tensor]
    head_w: Tensor
    head_b: Tensor
    # native layers, one entry per group of modules run side by side: (the group's module
    # indices, its layers, each member's width in the last layer)
    native: list[tuple[list[int], nn.ModuleList, list[int]]] | None = None
    # an MLP head's first layer per module, reading the kept units only: [K, F, W_L], [K, F];
    # ``head_w`` then reads the MLP's output ([K, F, R], not sliced)
    body_w: Tensor | None = None
    body_b: Tensor | None = None
    # the fused kernel's copies of the weights (:meth:`_fused_weights`), made at its first call
    _fused_parts: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    @torch.no_grad()
    def build(
        cls,
        model: SeqClassifier,
        unit_masks: list[Tensor],
        head_weight: Tensor,
        head_bias: Tensor,
        unit_fills: list[Fill | None] | None = None,
    ) -> CompactBank:
        """The compact bank of masks ``unit_masks`` ([K, S, H] bool, equal steps) and channelled
        heads ``head_weight`` [K, R, H], ``head_bias`` [K, R] over ``model``'s weights (with
        ``unit_fills`` folded in: :func:`.fill.module_weights`)."""
        cell, hidden = model.cfg.cell, model.cfg.hidden
        gates = N_GATES[cell]
        k = head_weight.shape[0]
        mw = module_weights(model, unit_fills, head_weight, head_bias)
        own = torch.arange(k)[:, None]  # module k reads its own weights
        widths, kept, w_ih, b_ih, w_hh, b_hh = [], [], [], [], [], []
        prev_idx = prev_valid = None
        for layer in range(len(model.rnns)):
            keep = unit_masks[layer][:, 0]
            width = int(keep.sum(1).max())
            idx, valid = _gather_units(keep, width)
            rows = _rows(idx, hidden, gates)  # [K, G·W]
            row_ok = valid.repeat(1, gates).float()  # [K, G·W]
            wi = mw.w_ih[layer][own, rows] * row_ok[..., None]  # [K, G·W, in]
            if prev_idx is None:
                w_ih.append(wi.reshape(k * gates * width, -1).contiguous())
            else:
                cols = torch.gather(wi, 2, prev_idx[:, None, :].expand(-1, wi.shape[1], -1))
                cols = cols * prev_valid[:, None, :].float()
                w_ih.append(cols.transpose(1, 2).contiguous())  # [K, W_prev, G·W]
            wh = mw.w_hh[layer][own, rows]  # [K, G·W, H]
            wh = torch.gather(wh, 2, idx[:, None, :].expand(-1, wh.shape[1], -1))
            wh = wh * row_ok[..., None] * valid[:, None, :].float()
            w_hh.append(wh.transpose(1, 2).contiguous())  # [K, W, G·W]
            b_ih.append((mw.b_ih[layer][own, rows] * row_ok).unsqueeze(1))
            b_hh.append((mw.b_hh[layer][own, rows] * row_ok).unsqueeze(1))
            widths.append(width)
            kept.append(keep.sum(1))
            prev_idx, prev_valid = idx, valid
        body_w = body_b = None
        if mw.body_w is not None:  # an MLP head: its first layer reads the kept units
            rows_f = mw.body_w.shape[1]
            body_w = torch.gather(mw.body_w, 2, prev_idx[:, None, :].expand(-1, rows_f, -1))
            body_w = (body_w * prev_valid[:, None, :].float()).contiguous()
            body_b = mw.body_b.contiguous()
            hw = mw.head_w  # reads the MLP's output
        else:
            hw = torch.gather(
                mw.head_w, 2, prev_idx[:, None, :].expand(-1, head_weight.shape[1], -1)
            )
            hw = hw * prev_valid[:, None, :].float()
        native = _native_groups(model, unit_masks, mw) if model.native else None
        return cls(
            cell=cell,
            one_output=model.one_output,
            widths=widths,
            kept=kept,
            w_ih=w_ih,
            b_ih=b_ih,
            w_hh=w_hh,
            b_hh=b_hh,
            head_w=hw.transpose(1, 2).contiguous(),
            head_b=mw.head_b.unsqueeze(1),
            native=native,
            body_w=body_w,
            body_b=body_b,
        )

    def __len__(self) -> int:
        return self.head_w.shape[0]

    def _layer(self, xp: Tensor, layer: int) -> Tensor:
        """Run layer ``layer`` over its input products xp [K, B, T, G·W] → states [K, B, T, W]."""
        k, b, steps, _ = xp.shape
        width = self.widths[layer]
        w_hh, b_hh = self.w_hh[layer], self.b_hh[layer]
        h = xp.new_zeros(k, b, width)
        c = xp.new_zeros(k, b, width) if self.cell == "lstm" else None
        if self.cell != "gru":
            xp = xp + b_hh.unsqueeze(2)
        outs = []
        for t in range(steps):
            xt = xp[:, :, t]
            if self.cell == "gru":
                hp = torch.baddbmm(b_hh, h, w_hh)
                xr, xz, xn = xt.chunk(3, dim=2)
                hr, hz, hn = hp.chunk(3, dim=2)
                r = torch.sigmoid(xr + hr)
                z = torch.sigmoid(xz + hz)
                n = torch.tanh(xn + r * hn)
                h = torch.lerp(n, h, z)  # (1 − z)·n + z·h
            else:
                s = torch.baddbmm(xt, h, w_hh)
                if self.cell == "lstm":  # fewest elementwise calls: they dominate here
                    sg = torch.sigmoid(s)
                    i, f, _, o = sg.chunk(4, dim=2)
                    g = torch.tanh(s[:, :, 2 * width : 3 * width])
                    c = torch.addcmul(f * c, i, g)
                    h = o * torch.tanh(c)
                else:
                    h = torch.tanh(s) if self.cell == "rnn" else torch.relu(s)
            outs.append(h)
        return torch.stack(outs, dim=2)

    @torch.no_grad()
    def logits(self, model: SeqClassifier, ids: Tensor) -> Tensor:
        """Channelled head logits of every module: [K, B, R] (or [K, B, T, R])."""
        if self.runs_fused(model):
            return self._fused(model, ids, fused.kernel())
        # users' shapes (skipped padding, pooled readouts, an MLP head): module by module only
        shaped = bool(model.cfg.extensions())
        x = model.recurrent_input(ids)  # [B, T, in]
        if self.native is not None and (shaped or len(ids) >= PER_MODULE_ROWS):
            return self._per_module(model, x, ids)
        return self._batched(x)

    def _per_module(self, model: SeqClassifier, x: Tensor, ids: Tensor) -> Tensor:
        """Group by group on native kernels, each module at its own width (a group's modules
        side by side in one layer, block-diagonal); skipped padding runs packed and the readout
        and an MLP head are the model's, as in :meth:`SeqClassifier.recurrent_states`."""
        valid = model.step_valid(ids)
        rows = None if valid is None else SkippedPadding(valid)
        outs: list[Tensor | None] = [None] * len(self)
        for members, layers, widths in self.native:
            h = x if rows is None else rows.compress(x)
            for rnn in layers:
                h = rnn(h)[0] if rows is None else rows.run(rnn, h)
            states = h if rows is None else rows.to_positions(h)
            feats = model.readout(states, ids)  # one output: [B, W]; many: the states
            for k, part in zip(members, feats.split(widths, dim=-1), strict=True):
                if self.body_w is not None:  # the MLP's first layer, then the model's others
                    z = part @ self.body_w[k, :, : part.shape[-1]].T + self.body_b[k]
                    outs[k] = model.body[1:](z) @ self.head_w[k] + self.head_b[k]
                else:
                    w = self.head_w[k, : part.shape[-1]]  # the real units come first
                    outs[k] = part @ w + self.head_b[k]
        return torch.stack(outs)

    def _batched(self, x: Tensor) -> Tensor:
        """All modules at once, padded to the widest (batched products per step)."""
        k = len(self)
        b, steps, _ = x.shape
        xp = torch.nn.functional.linear(x, self.w_ih[0])  # [B, T, K·G·W₀]
        xp = xp.view(b, steps, k, -1).permute(2, 0, 1, 3) + self.b_ih[0].unsqueeze(2)
        h = self._layer(xp, 0)
        for layer in range(1, len(self.widths)):
            inp = h.reshape(k, b * steps, -1)
            xp = torch.baddbmm(self.b_ih[layer], inp, self.w_ih[layer])
            h = self._layer(xp.view(k, b, steps, -1), layer)
        if self.one_output:
            return torch.baddbmm(self.head_b, h[:, :, -1], self.head_w)
        z = torch.baddbmm(self.head_b, h.reshape(k, b * steps, -1), self.head_w)
        return z.view(k, b, steps, -1)

    def runs_fused(self, model: SeqClassifier) -> bool:
        """Whether :meth:`logits` runs on the fused kernel: it is built here (:mod:`.fused`), the
        weights are float32 on the CPU, the model has none of the users' shapes (those run module by
        module), and every module's gates of a layer side by side take at most
        :data:`FUSED_MAX_ROW` values."""
        first = self.w_hh[0]
        if model.cfg.extensions() or first.dtype != torch.float32 or first.device.type != "cpu":
            return False
        if len(self) * max(w.shape[-1] for w in self.w_hh) > FUSED_MAX_ROW:
            return False
        return fused.kernel() is not None

    def _fused_weights(self, model: SeqClassifier, bucketed: bool = True) -> list[dict]:
        """The fused kernel's weights, per bucket of modules of similar widths
        (:func:`_width_buckets`: each bucket padded to its own widest module, sliced from the
        bank's padded weights — kept units come first): an LSTM's cell-gate block scaled by 2
        (the kernel takes tanh(g) as 2·σ(2g) − 1, one sigmoid loop over every gate), and — when
        the stack reads one token per step and the vocabulary is small enough — the first
        layer's input product of every token for every module, [V, n, G·W₀]: each step then
        reads a row instead of multiplying one. ``bucketed=False``: every module in one bucket
        (few rows per call, where a second call costs more than the padding it saves)."""
        key = "buckets" if bucketed else "one"
        if key in self._fused_parts:
            return self._fused_parts[key]
        k, gates = len(self), N_GATES[self.cell]
        buckets = []
        for members in _width_buckets(self.kept) if bucketed else [list(range(k))]:
            idx = torch.tensor(members)
            n = len(members)
            widths = [int(kept[idx].max()) for kept in self.kept]
            w_ih, b_ih, w_hh, b_hh = [], [], [], []
            for layer, (full, width) in enumerate(zip(self.widths, widths, strict=True)):
                # the bucket's units of every gate block, and the LSTM's scaled cell gate
                cols = torch.cat([g * full + torch.arange(width) for g in range(gates)])
                scale = torch.ones(gates * width)
                if self.cell == "lstm":
                    scale[2 * width : 3 * width] = 2.0
                if layer == 0:
                    w = self.w_ih[0].view(k, gates * full, -1)[idx][:, cols] * scale[:, None]
                    w_ih.append(w.reshape(n * gates * width, -1))
                else:
                    w = self.w_ih[layer][idx][:, : widths[layer - 1]][:, :, cols] * scale
                    w_ih.append(w.contiguous())  # [n, W_{l−1}, G·W]
                b_ih.append((self.b_ih[layer][idx][..., cols] * scale).contiguous())
                w_hh.append((self.w_hh[layer][idx][:, :width][:, :, cols] * scale).contiguous())
                b_hh.append((self.b_hh[layer][idx][:, 0][:, cols] * scale).contiguous())
            table = None
            vocab = model.embedding.num_embeddings
            if not model.flattens and vocab * w_ih[0].shape[0] * 4 <= FUSED_TABLE_BYTES:
                with torch.no_grad():
                    table = torch.nn.functional.linear(model.embedding.weight, w_ih[0])
                    table = (table + b_ih[0].reshape(1, -1)).view(vocab, n, -1)
            buckets.append(
                dict(idx=idx, widths=widths, w_ih=w_ih, b_ih=b_ih, w_hh=w_hh, b_hh=b_hh,
                     table=table, head_w=self.head_w[idx][:, : widths[-1]].contiguous(),
                     head_b=self.head_b[idx])
            )  # fmt: skip
        self._fused_parts[key] = buckets
        return buckets

    def _fused(self, model: SeqClassifier, ids: Tensor, kern) -> Tensor:
        """All modules on the fused kernel (:mod:`.fused`), a call per layer and — from
        :data:`PER_MODULE_ROWS` examples on — bucket of modules of similar widths (below that a
        second call costs more than the padding it saves): what :meth:`_batched` computes, each
        step one batched product and a few vectorised loops."""
        buckets = self._fused_weights(model, bucketed=len(ids) >= PER_MODULE_ROWS)
        if len(buckets) == 1:  # every module in order
            return self._fused_bucket(model, ids, kern, buckets[0])
        out = None
        for bucket in buckets:
            z = self._fused_bucket(model, ids, kern, bucket)
            if out is None:
                out = z.new_empty((len(self), *z.shape[1:]))
            out[bucket["idx"]] = z
        return out

    def _fused_bucket(self, model: SeqClassifier, ids: Tensor, kern, parts: dict) -> Tensor:
        """One bucket's modules (``parts`` from :meth:`_fused_weights`): [k, B, (T,) R]."""
        k, b, cell = len(parts["idx"]), len(ids), fused.CELLS[self.cell]
        widths = parts["widths"]
        table = parts["table"]
        if table is not None:  # one token per step: its row of the per-token table
            if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= len(table)):
                raise IndexError(f"token ids must be in [0, {len(table)})")
            xp, rows = table, ids.t().contiguous()
        else:
            x = model.recurrent_input(ids)  # [B, T, in]
            bias = parts["b_ih"][0].reshape(-1)
            xp = torch.nn.functional.linear(x, parts["w_ih"][0], bias).view(b * x.shape[1], k, -1)
            rows = _by_step(b, x.shape[1])
        steps = rows.shape[0]
        last = len(widths) - 1
        every = last > 0 or not self.one_output
        h = kern.fused_layer(xp, rows, parts["w_hh"][0], parts["b_hh"][0], cell, every)
        for layer in range(1, last + 1):  # from the states below, [k, B, T, W]
            every = layer < last or not self.one_output
            w_ih, b_ih = parts["w_ih"][layer], parts["b_ih"][layer]
            w_hh, b_hh = parts["w_hh"][layer], parts["b_hh"][layer]
            if widths[layer - 1] <= FUSED_IN_ROW_WIDTH:  # the input product in the rows
                h = kern.fused_layer_above(
                    h, w_ih, b_ih.reshape(k, -1).contiguous(), w_hh, b_hh, cell, every
                )
            else:  # one batched product over every step, its rows read in place
                xp = torch.baddbmm(b_ih, h.reshape(k, b * steps, -1), w_ih).transpose(0, 1)
                h = kern.fused_layer(xp, _by_step(b, steps), w_hh, b_hh, cell, every)
        if self.one_output:
            return torch.baddbmm(parts["head_b"], h, parts["head_w"])
        z = torch.baddbmm(parts["head_b"], h.reshape(k, b * steps, -1), parts["head_w"])
        return z.view(k, b, steps, -1)

    def macs_per_example(self, steps: int, first_in: int) -> float:
        """Multiply–accumulates one example costs the padded bank (what it really computes)."""
        gates = N_GATES[self.cell]
        total, inp = 0.0, first_in
        for w in self.widths:
            total += gates * w * (inp + w) * steps
            inp = w
        head_steps = 1 if self.one_output else steps
        return len(self) * (total + self.head_w.shape[2] * inp * head_steps)


def _by_step(batch: int, steps: int) -> Tensor:
    """[T, B] row indices of (example b, step t) rows laid out example-major (row b·T + t)."""
    return (torch.arange(batch)[None, :] * steps + torch.arange(steps)[:, None]).contiguous()


def _width_buckets(kept: list[Tensor]) -> list[list[int]]:
    """The fused kernel's buckets: the modules in order of their recurrent work (Σ over layers
    of k_l·(k_l + k_{l−1})), cut in two where that most lowers the padded work (each bucket
    padded to its widest module), when it saves at least :data:`FUSED_BUCKET_SAVING` of it."""
    per_layer = torch.stack(kept, dim=1).to(torch.float64)  # [K, layers]
    below = torch.cat([torch.zeros_like(per_layer[:, :1]), per_layer[:, :-1]], dim=1)
    order = torch.argsort((per_layer * (per_layer + below)).sum(1), stable=True).tolist()

    def padded(members: list[int]) -> float:
        w = per_layer[members].max(0).values
        w_below = torch.cat([w.new_zeros(1), w[:-1]])
        return len(members) * float((w * (w + w_below)).sum())

    whole = padded(order)
    best, cut = whole, None
    for i in range(1, len(order)):
        cost = padded(order[:i]) + padded(order[i:])
        if cost < best:
            best, cut = cost, i
    if cut is None or best > (1 - FUSED_BUCKET_SAVING) * whole:
        return [sorted(order)]
    return [sorted(order[:cut]), sorted(order[cut:])]


def _groups(cell: str, unit_masks: list[Tensor]) -> list[list[int]]:
    """Modules packed in index order into groups whose widths add up to at most
    :data:`GROUP_WIDTH` units in every layer (a module wider than that runs alone)."""
    limit = GROUP_WIDTH.get(cell, 0)
    widths = torch.stack([m[:, 0].sum(1) for m in unit_masks], dim=1)  # [K, layers]
    groups: list[list[int]] = []
    total = torch.zeros(widths.shape[1], dtype=widths.dtype)
    for k in range(len(widths)):
        if groups and bool(((total + widths[k]) <= limit).all()):
            groups[-1].append(k)
            total = total + widths[k]
        else:
            groups.append([k])
            total = widths[k].clone()
    return groups


@torch.no_grad()
def _native_groups(
    model: SeqClassifier, unit_masks: list[Tensor], mw: ModuleWeights
) -> list[tuple[list[int], nn.ModuleList, list[int]]]:
    """Every group's layers as torch-native layers as wide as its members' kept units together:
    per gate block, each member's kept rows one after another; its recurrent matrix (and a deeper
    layer's input matrix) block-diagonal, each member reading only its own units — so a member's
    states are exactly its own module's. Units in the order of :func:`_gather_units`."""
    cell, hidden = model.cfg.cell, model.cfg.hidden
    gates = N_GATES[cell]
    out = []
    for members in _groups(cell, unit_masks):
        layers, prev = nn.ModuleList(), None  # prev: per member, its kept units one layer down
        for layer, src in enumerate(model.rnns):
            kept = [unit_masks[layer][i, 0].nonzero().flatten() for i in members]
            w_ih, w_hh, b_ih, b_hh = mw.w_ih[layer], mw.w_hh[layer], mw.b_ih[layer], mw.b_hh[layer]
            sizes = [len(u) for u in kept]
            total, offs = sum(sizes), [sum(sizes[:j]) for j in range(len(sizes))]
            in_sizes = None if prev is None else [len(u) for u in prev]
            in_offs = None if prev is None else [sum(in_sizes[:j]) for j in range(len(in_sizes))]
            dst = make_rnn(
                cell, src.weight_ih_l0.shape[1] if prev is None else sum(in_sizes), total
            ).to(w_hh.dtype)  # a double-precision model's layers stay double
            for t in (dst.weight_ih_l0, dst.weight_hh_l0, dst.bias_ih_l0, dst.bias_hh_l0):
                t.zero_()
            for j, (i, units) in enumerate(zip(members, kept, strict=True)):
                for g in range(gates):
                    rows = g * hidden + units
                    to = slice(g * total + offs[j], g * total + offs[j] + sizes[j])
                    if prev is None:
                        dst.weight_ih_l0[to] = w_ih[i][rows]
                    else:
                        cols = slice(in_offs[j], in_offs[j] + in_sizes[j])
                        dst.weight_ih_l0[to, cols] = w_ih[i][rows][:, prev[j]]
                    own = slice(offs[j], offs[j] + sizes[j])
                    dst.weight_hh_l0[to, own] = w_hh[i][rows][:, units]
                    dst.bias_ih_l0[to] = b_ih[i][rows]
                    dst.bias_hh_l0[to] = b_hh[i][rows]
            layers.append(dst.eval())
            prev = kept
        out.append((members, layers, [len(u) for u in prev]))
    return out
