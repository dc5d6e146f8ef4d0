"""Jaccard index between a model and its modules (paper-method §9).

* :func:`jaccard_legacy` — the authors' value-based index over input kernels and the head, kept
  for comparability: |set(A) ∩ set(B)| / (len A + len B − |set(A) ∩ set(B)|). Zeroed weights
  collapse into one value, so it mostly measures the fraction of surviving values.
* :func:`decoder_jaccard` — both indices of a translator's language module, over the decoder
  and the output layer (encoder and embeddings are the model's).
* :func:`jaccard_mask` — positional: parameter positions a module still uses over the model's
  positions (a module's positions are a subset of the model's, so ∩ = kept, ∪ = all).
"""

from __future__ import annotations

import numpy as np
import torch

from ..modules.module import ModuleBank
from ..nn.cells import N_GATES
from ..nn.seq2seq import Seq2Seq
from ..nn.zoo import SeqClassifier


def value_jaccard(a: np.ndarray, b: np.ndarray, a_values: np.ndarray | None = None) -> float:
    """``a_values`` = ``np.unique(a)`` when the caller compares one ``a`` with many ``b``."""
    a_values = np.unique(a) if a_values is None else a_values
    inter = np.intersect1d(a_values, np.unique(b), assume_unique=True).size
    return inter / (a.size + b.size - inter)


def _mask_at(masks: list[torch.Tensor], layer: int, k: int, step: int) -> torch.Tensor:
    """Module k's mask of ``layer`` at ``step`` (rolled masks hold a single step)."""
    m = masks[layer]
    return m[k, min(step, m.shape[1] - 1)]


def _gate_rows(unit_keep: torch.Tensor, g: int, directions: int) -> torch.Tensor:
    """A layer's kept units [D·H] → its kept input-kernel rows [D·G·H] (each direction's gate
    blocks, forward's first, as :attr:`~rnnmod.nn.cells.BiLayerWeights.weight_ih`)."""
    return torch.cat([d.repeat(g) for d in unit_keep.chunk(directions)])


@torch.no_grad()
def jaccard_legacy(model: SeqClassifier, bank: ModuleBank) -> float:
    """Mean over modules (and time steps for unrolled modules) of the value-based index."""
    g = N_GATES[model.cfg.cell]
    h, dirs = model.cfg.width, model.cfg.directions
    reads_units = not model.cfg.head_hidden  # an MLP head reads its own features
    kernels = [w.weight_ih.detach() for w in model.layer_weights()]
    head = model.head.weight.detach()  # [C, H]
    a = np.concatenate([k.numpy().ravel() for k in kernels] + [head.numpy().ravel()])
    a_values = np.unique(a)
    protected = bank.head_weight.shape[1] == 3  # (neg, pos, padding) heads of §6.8
    values = []
    for k in range(len(bank)):
        p = bank.class_index[k]
        neg_slot = (1 if p != 1 else 2) if protected else (0 if p != 0 else 1)
        for s in range(bank.steps):
            parts = []
            last_keep = torch.ones(h, dtype=torch.bool)
            for layer, w in enumerate(kernels):
                if bank.unit_masks is not None:
                    last_keep = _mask_at(bank.unit_masks, layer, k, s)
                    keep_rows = _gate_rows(last_keep, g, dirs)
                elif bank.gate_masks is not None:
                    keep_rows = _mask_at(bank.gate_masks, layer, k, s)
                else:
                    keep_rows = torch.ones(w.shape[0], dtype=torch.bool)
                parts.append((w * keep_rows.unsqueeze(1)).numpy().ravel())
            ch = torch.zeros_like(head)
            ch[p] = bank.head_weight[k, 1]
            ch[neg_slot] = bank.head_weight[k, 0]
            if protected:
                ch[0] = bank.head_weight[k, 2]
            if reads_units:
                ch = ch * last_keep.unsqueeze(0)
            parts.append(ch.numpy().ravel())
            values.append(value_jaccard(a, np.concatenate(parts), a_values))
    return float(np.mean(values)) if values else 1.0


def jaccard_mask(model: SeqClassifier, bank: ModuleBank) -> float:
    """Kept parameter positions / all positions over the recurrent layers and the head input,
    vectorised over modules and steps; mean over both."""
    g = N_GATES[model.cfg.cell]
    h, dirs = model.cfg.width, model.cfg.directions  # units of a layer, all directions
    c = model.cfg.n_classes
    k_mod = len(bank)
    inp0 = model.layer_weights()[0].weight_ih.shape[1]
    total = torch.zeros(())
    kept = torch.zeros(k_mod, bank.steps)
    prev_kept = torch.full((k_mod, bank.steps), float(inp0))
    prev_total = float(inp0)
    for layer in range(model.cfg.depth):
        if bank.unit_masks is not None:
            per_dir = bank.unit_masks[layer].float().unflatten(-1, (dirs, -1)).sum(-1)
            per_dir = per_dir.expand(k_mod, bank.steps, dirs)  # kept units per direction
            units = per_dir.sum(-1)
            rows = g * units
            kept += rows * prev_kept + g * (per_dir**2).sum(-1) + 2 * rows
            prev_kept = units
        elif bank.gate_masks is not None:
            rows = bank.gate_masks[layer].float().sum(-1).expand(k_mod, bank.steps)
            kept += rows * prev_kept + rows * (h // dirs) + 2 * rows
            prev_kept = torch.full_like(rows, float(h))
        else:
            kept += g * h * (prev_kept + h // dirs + 2)
            prev_kept = torch.full_like(prev_kept, float(h))
        total = total + g * h * (prev_total + h // dirs + 2)
        prev_total = float(h)
    head_in = model.head.in_features
    if model.cfg.head_hidden:  # the MLP's features, whole in every module
        prev_kept = torch.full_like(prev_kept, float(head_in))
    kept += c * prev_kept + c
    total = total + c * head_in + c
    return float((kept / total).mean())


@torch.no_grad()
def decoder_jaccard(model: Seq2Seq, masks: list[torch.Tensor]) -> tuple[float, float]:
    """(legacy, mask) Jaccard of a language module (§9) over the parts it changes: the decoder's
    recurrent layers and the output layer (encoder and embeddings are the model's). Legacy: the
    authors' value-based index over the decoder input kernels and the output layer; mask: kept
    parameter positions / all positions. Unrolled modules: mean over decoder steps. With
    attention or an adaptive softmax the output side does not read the units directly and no
    module changes it: both indices then cover the decoder's recurrent layers only."""
    g, h = N_GATES[model.cfg.cell], model.cfg.hidden
    kernels = [w.weight_ih.detach() for w in model.decoder_weights()]
    head = model.dense_output_weight()
    heads = [] if head is None else [head.numpy().ravel()]
    a = np.concatenate([k.numpy().ravel() for k in kernels] + heads)
    a_values = np.unique(a)
    v_out, inp0 = (0 if head is None else head.shape[0]), model.cfg.embed_dim
    steps = max(m.shape[0] for m in masks)
    legacy, positional = [], []
    total = sum(g * h * ((inp0 if i == 0 else h) + h + 2) for i in range(len(masks)))
    total += v_out * h + v_out
    seen: dict[bytes, float] = {}  # steps with the same masks share the (costly) value index
    for s in range(steps):
        keeps = [m[min(s, m.shape[0] - 1)] for m in masks]
        key = b"".join(k.numpy().tobytes() for k in keeps)
        if key not in seen:
            parts = [
                (k * keep.repeat(g).unsqueeze(1)).numpy().ravel()
                for k, keep in zip(kernels, keeps, strict=True)
            ]
            if head is not None:
                parts.append((head * keeps[-1].unsqueeze(0)).numpy().ravel())
            seen[key] = value_jaccard(a, np.concatenate(parts), a_values)
        legacy.append(seen[key])
        kept, prev = 0.0, float(inp0)
        for keep in keeps:
            rows = g * float(keep.sum())
            kept += rows * prev + rows * float(keep.sum()) + 2 * rows
            prev = float(keep.sum())
        kept += v_out * prev + v_out
        positional.append(kept / total)
    return float(np.mean(legacy)), float(np.mean(positional))
