"""Removed units reconstructed from kept ones: a module's linear fill.

A dead unit contributes nothing; a *filled* one emits a linear function of its module's kept
units at the same step, ``h_r = h_kept @ M + c``, fitted by least squares to the monolithic
model's states. Every reader of a layer's states — its own recurrent product, the next layer's
input product, the head — is linear in them, so the fill folds exactly into those readers'
weights and biases (:func:`module_weights`): the module keeps only its kept units, as small and
as fast as a dead-unit module, but its weights are no longer the source model's. The engine runs
the fill as it is (``unit_fill`` in :func:`rnnmod.nn.cells.run_layer`); the compact bank and the
exported modules run the folded weights, and tests check that they agree.

Where the kept units carry most of what the removed ones did — measured on GRU models and
stacked LSTMs — a module can drop far more units for the same accuracy, or lose less at the
same size (docs/budget.md, "What a removed unit becomes"). Covered: unidirectional layers on
torch's gates (padding read or skipped, the last step's readout or the mean over every step, a
linear or MLP head), rolled unit masks, classifiers and taggers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import RnnmodError
from ..nn.zoo import SeqClassifier

#: what a removed unit becomes: ``dead`` (0), ``linear`` (a least-squares fill of the kept units)
#: or ``learned`` (the same kind of fill, learned with the masks on the composed objective)
REMOVED_UNITS = ("dead", "linear", "learned")
#: what ``--removed-units auto`` picks, per cell and for stacked models (depth ≥ 2), as measured
#: on Clinc under ``--budget 1pp`` (docs/budget.md, "A learned fill"): a learned fill keeps 16-20 %
#: of the units of LSTM-1/2, GRU-1/2 and the tanh RNN-1/2 within the budget where dead units keep
#: 22-33 % and the least-squares fill 18-41 %; ReLU RNNs unmeasured, so dead
REMOVED_UNITS_DEFAULT = {
    ("gru", False): "learned",
    ("gru", True): "learned",
    ("lstm", False): "learned",
    ("lstm", True): "learned",
    ("rnn", False): "learned",
    ("rnn", True): "learned",
    ("rnn-relu", False): "dead",
    ("rnn-relu", True): "dead",
}
#: ``auto`` where a learned fill does not serve: a fixed target (``--target-retained``), which a
#: learned fill overshoots (Clinc, target 0.18: LSTM-1 22.9 %, RNN-1 36.0 %), and examples learned
#: under candidate modules only (many classes: a fill per example row and step, not per
#: module) — the least-squares fill where it was measured to help (GRU models, stacked LSTMs),
#: else dead units
WITHOUT_LEARNED_FILL = {
    **{key: "dead" for key in REMOVED_UNITS_DEFAULT},
    ("gru", False): "linear",
    ("gru", True): "linear",
    ("lstm", True): "linear",
}

Fill = tuple[Tensor, Tensor]  # (M [K, H, H], c [K, H])


def fill_unsupported(model: SeqClassifier, unit_masks: list[Tensor] | None) -> str:
    """Why removed units of ``model`` cannot be filled ('' when they can)."""
    if not isinstance(model, SeqClassifier):
        return "a translator's modules (their decoders read removed units through attention)"
    if not model.native:
        return "the source model's gates are not torch's (Keras semantics)"
    if model.cfg.bidirectional:
        return "bidirectional layers (a fill is fitted per layer of one direction)"
    if model.cfg.readout == "max":
        return "max pooling (not linear: a fill cannot fold into it)"
    if model.cfg.readout == "mean" and model.cfg.pool_steps == "real":
        return (
            "mean pooling over real steps (a text without one pools to 0, where a folded fill "
            "would read its offset)"
        )
    if unit_masks is None:
        return "per-gate masks (a fill replaces removed units, not gate columns)"
    if any(m.shape[1] > 1 for m in unit_masks):
        return "unrolled modules (a mask per step: the units a fill reads change with the step)"
    return ""


def removed_units_of(bank: object, learned: dict | None) -> str:
    """What a module set's removed units are, as ``--removed-units`` names it: the bank's
    ``dead`` or ``linear``, and ``learned`` for a fill its learned-masks summary (``learned``,
    the manifest's) says was learned; a translator's bank: ``dead``."""
    removed = getattr(bank, "removed_units", "dead")
    if removed == "linear" and (learned or {}).get("removed_units") == "learned":
        return "learned"
    return removed


def resolve_removed_units(
    choice: str, model: object, unit_masks: list[Tensor] | None, learned_fill: bool = True
) -> str:
    """``dead``, ``linear`` or ``learned`` for ``choice`` (``auto``: by the model's cell and depth
    where a fill is possible — :data:`REMOVED_UNITS_DEFAULT`, or :data:`WITHOUT_LEARNED_FILL`
    where ``learned_fill`` is False —, else ``dead``); a fill the model cannot take is
    refused."""
    if choice not in (*REMOVED_UNITS, "auto"):
        raise RnnmodError(f"removed units are {', '.join(REMOVED_UNITS)} or auto, not {choice!r}")
    why = fill_unsupported(model, unit_masks)
    if choice == "auto":
        table = REMOVED_UNITS_DEFAULT if learned_fill else WITHOUT_LEARNED_FILL
        return "dead" if why else table[model.cfg.cell, model.cfg.depth > 1]
    if choice != "dead" and why:
        raise RnnmodError(f"--removed-units {choice} cannot be done for {why}; use dead")
    return choice


@torch.no_grad()
def state_gram(states: Tensor) -> Tensor:
    """The second moments [H+1, H+1] (float64) of states [rows, H] with a constant 1 appended:
    all a linear fill's least squares needs from the data."""
    x = torch.cat([states.to(torch.float64), torch.ones(len(states), 1, dtype=torch.float64)], 1)
    return x.T @ x / len(x)


@torch.no_grad()
def fit_linear_fills(
    grams: list[Tensor],
    unit_masks: list[Tensor],
    ridge: float = 1e-6,
    cross: list[Tensor] | None = None,
) -> list[Fill]:
    """Per layer, every module's least-squares map from its kept units' states to its removed
    units' (with an intercept), from the layer's :func:`state_gram` of the monolithic model's
    states. All modules at once: one batched solve of the normal equations restricted to each
    module's kept units (``ridge``, relative to the Gram's mean diagonal, keeps the solve defined
    when kept units are collinear). ``cross`` (per layer [K, H+1, H]) with per-module ``grams``
    ([K, H+1, H+1]) fits features and targets that differ — e.g. a module's own states against
    the monolithic model's; by default the targets are the features' own units."""
    out = []
    for layer, (gram, m) in enumerate(zip(grams, unit_masks, strict=True)):
        keep = m[:, 0].to(torch.float64)  # [K, H]
        k, h = keep.shape
        d = torch.cat([keep, torch.ones(k, 1, dtype=torch.float64)], 1)  # the intercept is kept
        scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None]
        a = d[:, :, None] * gram * d[:, None, :] + torch.diag_embed(1 - d)
        a = a + ridge * scale * torch.diag_embed(d)
        moments = gram[..., :h] if cross is None else cross[layer]
        rhs = d[:, :, None] * moments  # removed rows 0: their coefficients stay 0
        beta = torch.linalg.solve(a, rhs) * (1 - keep)[:, None, :]  # only removed targets
        out.append((beta[:, :h].float().contiguous(), beta[:, h].float().contiguous()))
    return out


def check_fill(fill: Fill, keep: Tensor) -> str:
    """What is wrong with one module's fill (M [H, H], c [H]) for its kept units ``keep`` [H]
    ('' when nothing): M may read kept units only and write removed units only, c removed only."""
    m, c = fill
    h = keep.shape[-1]
    if tuple(m.shape) != (h, h) or tuple(c.shape) != (h,):
        return f"expected a [{h}, {h}] map and a [{h}] offset"
    if m.dtype != torch.float32 or c.dtype != torch.float32:
        return "a fill must be float32"
    if not bool(torch.isfinite(m).all() and torch.isfinite(c).all()):
        return "a fill holds non-finite values"
    if bool(m[~keep].any()) or bool(m[:, keep].any()) or bool(c[keep].any()):
        return "a fill may read kept units only and set removed units only"
    return ""


@dataclass
class ModuleWeights:
    """Every module's own recurrent weights (PyTorch layout, a leading module axis) and head:
    the source model's where nothing is filled (expanded views, no copy), with each layer's fill
    folded into its readers where something is."""

    w_ih: list[Tensor]  # [K, G·H, in]
    w_hh: list[Tensor]  # [K, G·H, H]
    b_ih: list[Tensor]  # [K, G·H]
    b_hh: list[Tensor]  # [K, G·H]
    head_w: Tensor  # [K, R, H] (the channelled head; it reads the MLP's output when there is one)
    head_b: Tensor  # [K, R]
    # an MLP head's first layer, the last recurrent layer's reader then: [K, F, H], [K, F]
    body_w: Tensor | None = None
    body_b: Tensor | None = None


@torch.no_grad()
def module_weights(
    model: SeqClassifier,
    fills: list[Fill | None] | None,
    head_weight: Tensor,
    head_bias: Tensor,
) -> ModuleWeights:
    """The weights module k runs with: a layer's fill ``h ↦ h + h @ M + c`` folds into every
    linear reader W of that layer's states as ``W + W Mᵀ`` and its bias as ``b + W c`` — the
    layer's recurrent product (a GRU's ``b_hn`` sits inside the reset gate's product with it, so
    the fold is exact there too), the next layer's input product, the head — or an MLP head's
    first layer. A mean over steps (pooled readouts) is linear too, so the last layer's fold
    holds through it; max pooling is not (:func:`fill_unsupported`)."""
    k = head_weight.shape[0]

    def per_module(t: Tensor) -> Tensor:
        return t.detach().unsqueeze(0).expand(k, *t.shape)

    out = ModuleWeights(
        w_ih=[per_module(r.weight_ih_l0) for r in model.rnns],
        w_hh=[per_module(r.weight_hh_l0) for r in model.rnns],
        b_ih=[per_module(r.bias_ih_l0) for r in model.rnns],
        b_hh=[per_module(r.bias_hh_l0) for r in model.rnns],
        head_w=head_weight.detach(),
        head_b=head_bias.detach(),
    )
    first = model.body[0] if model.cfg.head_hidden else None
    if first is not None:
        out.body_w, out.body_b = per_module(first.weight), per_module(first.bias)
    depth = len(model.rnns)
    for layer, fill in enumerate(fills or []):
        if fill is None:
            continue
        m, c = fill
        out.w_hh[layer], out.b_hh[layer] = _fold(out.w_hh[layer], out.b_hh[layer], m, c)
        if layer + 1 < depth:
            nxt = layer + 1
            out.w_ih[nxt], out.b_ih[nxt] = _fold(out.w_ih[nxt], out.b_ih[nxt], m, c)
        elif first is not None:
            out.body_w, out.body_b = _fold(out.body_w, out.body_b, m, c)
        else:
            out.head_w, out.head_b = _fold(out.head_w, out.head_b, m, c)
    return out


def _fold(w: Tensor, b: Tensor, m: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """A reader ``x ↦ W x + b`` of filled states (W [K, O, H], b [K, O]) as a reader of the
    dead-unit states."""
    return w + w @ m.transpose(1, 2), b + torch.einsum("koh,kh->ko", w, c)
