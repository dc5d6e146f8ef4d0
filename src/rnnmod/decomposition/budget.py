"""Budgeted decomposition: per module, remove as many hidden units as the validation split allows.

The 5 % cap of the paper (paper-method §6.5) keeps every module close to the whole model. Here the
concern statistic of the ordinary decomposition, d = stat_pos − stat_neg per unit (per layer, per
step when unrolled; per gate column for the per-gate strategy, ranked within its gate block), is
turned into a *ranking*: units are removed in ascending d (the most negative-leaning first),
ties broken by the lower unit index (a stable sort). Removing the r first units of that ranking
gives removal sets that are nested by construction (r < r' ⇒ removed(r) ⊆ removed(r')), so a
module's validation accuracy can be searched over r by bisection.

Search, for every module at once (module k's candidates all run in one fused
:class:`~rnnmod.modules.module.ModuleBank` pass over the validation split):

1. one removal count shared by every layer, bisected on [0, H];
2. for deeper models, each layer in turn (first to last), bisected upward from that count with
   the other layers fixed.

A candidate is *feasible* when its validation metric is at least the unpruned module's minus the
tolerance (``ovr``: the module's own one-vs-rest accuracy, positive when its positive probability
exceeds ½; ``vote``: accuracy of the composed model in which only this module is pruned). A
(class, step) group whose statistic is undefined (too few observations, NaN) keeps every unit,
as in the ordinary decomposition.

The validation split is the dataset's own when it ships one (Clinc ``val.csv``); otherwise a
seeded, stratified slice of the *training* split. The test split is never read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ..data.base import TaskData, seeded_split
from ..errors import RnnmodError
from ..modules.module import ModuleBank
from ..nn.cells import N_GATES
from ..nn.zoo import SeqClassifier
from .config import DecompositionConfig
from .decomposer import Decomposition, decompose

METRICS = ("ovr", "vote")


def parse_tolerance(text: str) -> float:
    """``1pp``, ``0.5pp`` or a bare number → percentage points."""
    s = text.strip().lower().removesuffix("pp").strip()
    try:
        tol = float(s)
    except ValueError:
        raise RnnmodError(
            f"invalid budget {text!r}; give a tolerance in percentage points, e.g. 1pp"
        ) from None
    if not 0 <= tol <= 100 or math.isnan(tol):
        raise RnnmodError(f"budget must be within 0-100 pp, got {text!r}")
    return tol


def unit_ranks(d: Tensor, n_blocks: int = 1) -> Tensor:
    """Removal rank of every unit within its group (module, step, and gate block for per-gate
    columns): rank 0 is removed first. Ascending d, ties → lower unit index. [..., W] → [..., W]"""
    shape = d.shape
    blocks = torch.nan_to_num(d, nan=math.inf).reshape(*shape[:-1], n_blocks, -1)
    order = blocks.sort(dim=-1, stable=True).indices
    pos = torch.arange(blocks.shape[-1]).expand_as(order)
    return torch.empty_like(order).scatter_(-1, order, pos).reshape(shape)


def keep_mask(ranks: Tensor, thin: Tensor, counts: Tensor) -> Tensor:
    """Masks (True = kept) removing the ``counts[m]`` lowest-ranked units of every group of
    candidate m. ranks [M, S, W], thin [M, S] (group keeps everything), counts [M] → [M, S, W]"""
    return (ranks >= counts.view(-1, 1, 1)) | thin.unsqueeze(-1)


def count_for_fraction(fraction: float, width: int) -> int:
    """Units removed from a group of ``width`` for a removal fraction (rounded down)."""
    return min(width, int(math.floor(fraction * width + 1e-9)))


@dataclass
class Ranking:
    """The removal order of one decomposition, computed once and reused for every budget."""

    ranks: list[Tensor]  # per layer [K, S, W]
    thin: list[Tensor]  # per layer [K, S]
    group_width: int  # units per ranked group (H; per-gate: H per gate block)
    per_gate: bool

    @classmethod
    def of(cls, dec: Decomposition, cell: str) -> Ranking:
        if not dec.concern:
            raise RnnmodError("this decomposition carries no concern statistic to rank units by")
        per_gate = dec.config.gate_strategy == "per-gate"
        blocks = N_GATES[cell] if per_gate else 1
        return cls(
            [unit_ranks(d, blocks) for d in dec.concern],
            [d.isnan().all(-1) for d in dec.concern],
            dec.concern[0].shape[-1] // blocks,
            per_gate,
        )

    @property
    def depth(self) -> int:
        return len(self.ranks)

    def bank(self, base: ModuleBank, which: Tensor, counts: Tensor) -> ModuleBank:
        """Candidate modules: module ``which[m]`` of ``base`` with ``counts[m, l]`` units
        removed per group of layer l. Several candidates may share a module."""
        masks = [
            keep_mask(self.ranks[layer][which], self.thin[layer][which], counts[:, layer])
            for layer in range(self.depth)
        ]
        return ModuleBank(
            class_index=[base.class_index[i] for i in which.tolist()],
            head_weight=base.head_weight[which],
            head_bias=base.head_bias[which],
            unit_masks=None if self.per_gate else masks,
            gate_masks=masks if self.per_gate else None,
            unit_semantics=base.unit_semantics,
        )

    def fraction_bank(self, base: ModuleBank, fractions: float | list[float]) -> ModuleBank:
        """Every module with a fixed removal fraction per layer (one float: every layer)."""
        if isinstance(fractions, (int, float)):
            fractions = [float(fractions)] * self.depth
        counts = torch.tensor([count_for_fraction(f, self.group_width) for f in fractions])
        k = len(base)
        bank = self.bank(base, torch.arange(k), counts.expand(k, -1))
        bank.info = [dict(i) for i in base.info] if base.info else []
        return bank


def bisect_largest_feasible(
    feasible: Callable[[Tensor, Tensor], Tensor], lo: Tensor, hi: Tensor
) -> tuple[Tensor, int]:
    """For every item i, the largest r in [lo[i], hi[i]] with ``feasible``, given that lo[i]
    is feasible and feasibility is monotone (true up to some r*, false after). Each round asks
    ``feasible(items, r)`` once for the midpoints of every unfinished item (one batched call).
    Returns (r, number of rounds)."""
    lo = lo.clone().long()
    hi = hi.clone().long() + 1  # exclusive: the smallest value known (or assumed) infeasible
    rounds = 0
    while True:
        active = torch.nonzero(hi - lo > 1).flatten()
        if len(active) == 0:
            return lo, rounds
        mid = (lo[active] + hi[active]) // 2
        ok = feasible(active, mid).bool()
        lo[active[ok]] = mid[ok]
        hi[active[~ok]] = mid[~ok]
        rounds += 1


def validation_split(
    data: TaskData, frac: float = 0.1, seed: int = 0
) -> tuple[Tensor, Tensor, str]:
    """(x, y, description) of the held-out split the search may read: the dataset's own
    validation split when it has one, else a seeded (stratified for one-output tasks) ``frac``
    of the training split. Never the test split."""
    if data.x_val is not None and data.y_val is not None:
        return data.x_val, data.y_val, f"{data.task} validation split ({len(data.x_val)} examples)"
    strata = data.y_train if data.y_train.dim() == 1 else None
    _, val = seeded_split(len(data.x_train), frac, seed, strata)
    return (
        data.x_train[val],
        data.y_train[val],
        f"seeded {frac:.0%} of the {data.task} training split ({len(val)} examples, seed {seed}; "
        "the model was trained on them)",
    )


def _positions(y: Tensor, pad: int | None) -> Tensor:
    return torch.ones_like(y, dtype=torch.bool) if pad is None else y != pad


def ovr_accuracy(scores: Tensor, y: Tensor, classes: Tensor, pad: int | None) -> Tensor:
    """One-vs-rest accuracy of each module: predicts its class where its positive probability
    exceeds ½. scores [M, B(, T)], y [B(, T)], classes [M] → [M] (padding positions skipped)."""
    shape = (-1,) + (1,) * y.dim()
    hit = (scores > 0.5) == (y.unsqueeze(0) == classes.view(shape))
    real = _positions(y, pad).unsqueeze(0)
    return (hit & real).flatten(1).sum(1).double() / real.sum().clamp(min=1)


def vote_accuracy(
    scores: Tensor, which: Tensor, reference: Tensor, labels: Tensor, y: Tensor, pad: int | None
) -> Tensor:
    """Composed accuracy when module ``which[m]`` alone is replaced by candidate m and every
    other module is unpruned (``reference`` [K, B(, T)] scores). → [M]"""
    out = torch.empty(len(which), dtype=torch.float64)
    real = _positions(y, pad)
    for i in range(0, len(which), 16):  # bounded memory: 16 × K × B(× T) at a time
        w, s = which[i : i + 16], scores[i : i + 16]
        stack = reference.unsqueeze(0).repeat(len(w), *([1] * reference.dim()))
        stack[torch.arange(len(w)), w] = s
        pred = labels[stack.argmax(dim=1)]
        out[i : i + 16] = ((pred == y) & real).flatten(1).sum(1).double() / real.sum().clamp(min=1)
    return out


@dataclass
class BudgetResult:
    bank: ModuleBank
    counts: Tensor  # [K, L] units removed per group of each layer
    reference: Tensor  # [K] validation metric of the unpruned modules
    final: Tensor  # [K] validation metric of the budgeted modules
    summary: dict


@torch.no_grad()
def budget_search(
    model: SeqClassifier,
    base: ModuleBank,
    ranking: Ranking,
    x_val: Tensor,
    y_val: Tensor,
    *,
    tolerance_pp: float,
    pad: int | None = None,
    metric: str = "ovr",
    output: str = "binary",
) -> BudgetResult:
    """Largest removal counts per module and layer whose validation metric stays within
    ``tolerance_pp`` of the unpruned module (see the module docstring)."""
    if metric not in METRICS:
        raise RnnmodError(f"unknown budget metric {metric!r}; expected one of {', '.join(METRICS)}")
    k, depth, width = len(base), ranking.depth, ranking.group_width
    classes = torch.tensor(base.class_index)
    stats = {"candidates": 0, "passes": 0}
    reference_scores: Tensor | None = None

    def evaluate(which: Tensor, counts: Tensor) -> Tensor:
        scores = ranking.bank(base, which, counts).scores(model, x_val, output=output)
        stats["candidates"] += len(which)
        stats["passes"] += 1
        if metric == "ovr":
            return ovr_accuracy(scores, y_val, classes[which], pad), scores
        ref = scores if reference_scores is None else reference_scores
        return vote_accuracy(scores, which, ref, classes, y_val, pad), scores

    everyone = torch.arange(k)
    reference, reference_scores = evaluate(everyone, torch.zeros(k, depth, dtype=torch.long))
    floor = reference - tolerance_pp / 100.0 - 1e-12
    current = torch.zeros(k, depth, dtype=torch.long)

    def feasible_for(layers: list[int]) -> Callable[[Tensor, Tensor], Tensor]:
        def feasible(items: Tensor, r: Tensor) -> Tensor:
            counts = current[items].clone()
            counts[:, layers] = r.unsqueeze(1)
            return evaluate(items, counts)[0] >= floor[items]

        return feasible

    r, rounds = bisect_largest_feasible(
        feasible_for(list(range(depth))), torch.zeros(k), torch.full((k,), width)
    )
    current[:] = r.unsqueeze(1)
    if depth > 1:
        for layer in range(depth):
            r, n = bisect_largest_feasible(
                feasible_for([layer]), current[:, layer], torch.full((k,), width)
            )
            current[:, layer] = r
            rounds += n
    final, _ = evaluate(everyone, current)
    bank = ranking.bank(base, everyone, current)
    bank.info = [dict(i) for i in base.info] if base.info else [{} for _ in range(k)]
    masks = bank.unit_masks or bank.gate_masks
    for i in range(k):
        bank.info[i]["budget"] = {
            "removed_per_layer": current[i].tolist(),
            "retained_per_layer": [round(float(m[i].float().mean()), 6) for m in masks],
            f"val_{metric}_unpruned": round(float(reference[i]), 6),
            f"val_{metric}": round(float(final[i]), 6),
        }
    summary = {
        "tolerance_pp": tolerance_pp,
        "metric": metric,
        "ranking": "ascending d = stat_pos - stat_neg, ties -> lower unit index",
        "search": "bisection: one count for every layer, then each layer in turn",
        "bisection_rounds": rounds,
        "candidates_evaluated": stats["candidates"],
        "fused_passes": stats["passes"],
        "n_validation": len(x_val),
    }
    return BudgetResult(bank, current, reference, final, summary)


def budgeted_decompose(
    model: SeqClassifier,
    data: TaskData,
    cfg: DecompositionConfig,
    *,
    tolerance_pp: float,
    metric: str = "ovr",
    val_frac: float = 0.1,
    progress: bool = True,
) -> tuple[Decomposition, dict]:
    """Decompose once (the statistics), then search every module's budget on the validation
    split. Returns the decomposition with the budgeted bank and a summary for the manifest."""
    dec = decompose(model, data, cfg, progress=progress)
    t0 = time.perf_counter()
    x_val, y_val, source = validation_split(data, val_frac, cfg.seed)
    ranking = Ranking.of(dec, model.cfg.cell)
    pad = None if model.one_output else data.pad_label
    res = budget_search(
        model,
        dec.bank,
        ranking,
        x_val,
        y_val,
        tolerance_pp=tolerance_pp,
        pad=pad,
        metric=metric,
        output=cfg.module_output,
    )
    seconds = time.perf_counter() - t0
    summary = dict(res.summary, validation=source, seconds=round(seconds, 3))
    timings = dict(dec.timings, budget_search=seconds)
    return replace(dec, bank=res.bank, timings=timings), summary
