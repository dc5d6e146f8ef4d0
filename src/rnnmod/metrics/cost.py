"""Arithmetic cost of modules: multiply–accumulates (MACs) per example, removed units sliced away.

Cost model (counted the same way for the monolithic model and for every module):

* recurrent layer l at step t: G · k_{l,t} · (in_{l,t} + k_{l,t−1}) MACs — G gate blocks (LSTM 4,
  GRU 3, RNN 1), k kept units (all H for the monolithic model), in the width of the layer's
  input (embedding size for the first layer, ×seq_len for the flattened 1:1/1:N input; the
  previous layer's kept units otherwise, since a removed unit outputs exactly 0) and the
  recurrent product over the units kept at the previous step (the first step counted like the
  others). Per-gate masks: kept gate columns · (in + H) (a dropped column needs no row; units
  stay). Step t uses the step-t mask of unrolled modules.
* head: R · k_L MACs per output step (R = 2 or 3 channelled slots for a module, C classes for
  the monolithic model); one output step for 1:1 / M:1.
* embedding lookups, biases, activations and element-wise gate products are not counted.

A composed model of K modules costs the sum of its modules; ``relative`` divides by K × the
monolithic model (what the paper's 5 % modules cost: about 1).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..modules.module import ModuleBank
from ..nn.cells import N_GATES
from ..nn.zoo import SeqClassifier


def _recurrent_macs(model: SeqClassifier, kept: list[Tensor], per_gate: bool) -> Tensor:
    """kept[l]: [K, T, W] float kept units (W = D·H, D directions) or gate columns (W = D·G·H)
    → MACs [K]. Each direction's recurrent product reads its own kept units (the backward
    direction's previous step is the next position)."""
    cfg = model.cfg
    g, h, dirs = N_GATES[cfg.cell], cfg.hidden, cfg.directions
    first_in = cfg.embed_dim * cfg.seq_len if model.flattens else cfg.embed_dim
    total = torch.zeros(kept[0].shape[0], dtype=torch.float64)
    inp = None  # [K, T] input widths of the current layer
    for m in kept:
        per_dir = m.double().unflatten(-1, (dirs, -1)).sum(-1)  # [K, T, D]
        k_t = per_dir.sum(-1)  # [K, T]
        in_w = torch.full_like(k_t, float(first_in)) if inp is None else inp
        if per_gate:
            total += (k_t * (in_w + h)).sum(-1)
            inp = torch.full_like(k_t, float(h * dirs))
        else:
            # kept units at the step each direction came from: the previous position forward,
            # the next one backward (the first step counted like the others)
            prev = torch.cat([per_dir[:, :1], per_dir[:, :-1]], dim=1)
            if dirs == 2:
                prev[..., 1] = torch.cat([per_dir[:, 1:, 1], per_dir[:, -1:, 1]], dim=1)
            total += (g * (k_t * in_w + (per_dir * prev).sum(-1))).sum(-1)
            inp = k_t
    return total


def _body_macs(model: SeqClassifier, first_in: Tensor) -> tuple[Tensor, int]:
    """MACs of the MLP layers before the head from ``first_in`` input features [K], and the
    head's input width (the readout's kept units when there is no MLP)."""
    total = torch.zeros_like(first_in)
    width = first_in
    for layer in model.body:
        if isinstance(layer, torch.nn.Linear):
            total = total + width * layer.out_features
            width = torch.full_like(first_in, float(layer.out_features))
    return total, width


def module_macs(model: SeqClassifier, bank: ModuleBank) -> Tensor:
    """MACs per example of every module of ``bank`` → [K] (float64)."""
    steps = model.steps
    masks = bank.unit_masks or bank.gate_masks
    per_gate = bank.unit_masks is None and bank.gate_masks is not None
    k = len(bank)
    if masks is None:
        width = model.cfg.hidden
        masks = [torch.ones(k, steps, width, dtype=torch.bool)] * model.cfg.depth
    kept = [m.expand(-1, steps, -1) for m in masks]
    total = _recurrent_macs(model, kept, per_gate)
    rows = bank.head_weight.shape[1]
    if per_gate:
        last = torch.full((k, steps), float(model.cfg.width), dtype=torch.float64)
    else:
        last = kept[-1].double().sum(-1)  # [K, T]
    if not model.one_output:
        return total + rows * last.sum(-1)
    body, head_in = _body_macs(model, last[:, -1])
    return total + body + rows * head_in


def monolithic_macs(model: SeqClassifier) -> float:
    """MACs per example of the unmodified model."""
    cfg = model.cfg
    full = [torch.ones(1, model.steps, cfg.width)] * cfg.depth
    recurrent = float(_recurrent_macs(model, full, False)[0])
    if not model.one_output:
        return recurrent + cfg.n_classes * cfg.width * model.steps
    body, head_in = _body_macs(model, torch.full((1,), float(cfg.width), dtype=torch.float64))
    return recurrent + float(body[0]) + cfg.n_classes * float(head_in[0])


def composed_cost(model: SeqClassifier, bank: ModuleBank) -> dict:
    """MACs of the composed model vs the monolithic model: ``relative`` = composed / (K ×
    monolithic), ``vs_monolithic`` = composed / monolithic."""
    per_module = module_macs(model, bank)
    mono = monolithic_macs(model)
    composed = float(per_module.sum())
    return {
        "macs_monolithic": mono,
        "macs_composed": composed,
        "cost_relative": composed / (len(bank) * mono),
        "cost_vs_monolithic": composed / mono,
    }


def retained_per_layer(bank: ModuleBank) -> list[float]:
    """Mean kept fraction of units (or gate columns) per layer, over modules and steps."""
    masks = bank.unit_masks or bank.gate_masks
    return [float(m.float().mean()) for m in masks] if masks else []
