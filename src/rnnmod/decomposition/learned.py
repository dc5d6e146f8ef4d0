"""Learned unit masks: which units each module keeps, learned on the training split.

The source model's weights and the default decomposition's channelled heads are frozen; what is
learned is one mask logit per (module, layer, step group, hidden unit) — a [K, S, W] tensor per
layer (S = 1 rolled, one per time step unrolled). The mask is straight-through binary: forward
``logits > 0`` as 0/1 (a removed unit is dead, its state is 0, exactly as the cell engine runs a
bank's masks), backward the sigmoid's gradient. All K modules run in one fused engine pass over
K copies of a training batch.

Objective: the composed cross-entropy of the modules' scores (softmax over modules of the
positive slot's log-odds, z_pos − z_neg for two-slot heads; target the true class's module; for
many-output models every position whose label has a module, padding skipped) plus
Σ_k λ_k · retained_k, where retained_k is module k's fraction of kept units over every layer.
λ_k is a Lagrange-style multiplier: every few steps it rises by
``lambda_lr · (retained_k − target)`` (falls when the module keeps fewer units than the target,
and may turn negative: the target is met from both sides, so a module whose removals cost
nothing does not fall to one unit). At the end the logits are binarised; a
module that keeps no unit of a layer (at a step) keeps its best one (highest logit).

Two ways to say how small (docs/budget.md):

* a fixed target (``target_retained``): λ pulls every module to that fraction;
* an accuracy budget (``tolerance_pp``): the target falls linearly from 1 to ``floor`` while the
  masks learn, and every ``check_every`` steps the binarised masks are scored as a composed model
  on the validation split (the dataset's own, else a seeded slice held out of the training
  split). The smallest checkpoint whose composed validation accuracy is within the tolerance of
  the monolithic model's is kept — the default decomposition's masks are a candidate too, and
  a module none of them holds within the budget keeps every unit (the promise then holds
  trivially, with a warning); learning stops after ``patience`` checkpoints in a row outside
  it. The checkpoints are the validation retention–accuracy curve, recorded in the summary.

Classifiers and taggers of every I/O type, rolled and unrolled, unit masks with dead units or
— for the per-gate strategy — masks over every gate's columns ([K, S, G·H], a removed column's
pre-activation is 0 as the engine runs it); batches come from the training split only (the test
split is never read).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..data.base import TaskData, seeded_split
from ..errors import RnnmodError
from ..modules.decoder_bank import DecoderMaskBank
from ..modules.module import ModuleBank, monolithic_choice, vote
from ..nn.seq2seq import Seq2Seq
from ..nn.zoo import SeqClassifier, predict_logits

#: recorded with every learned request: a module set made by another version of the learner (its
#: objective, schedule or defaults) is never reused for a new request (rnnmod.api.decompose_to)
ALGORITHM = "straight-through masks, λ per module, log-odds scores, falling target held on a miss/4"


@dataclass(frozen=True)
class LearnedOptions:
    """Hyper-parameters of the mask learning (the defaults are the prototype's)."""

    batch_size: int = 64  # as good as 256 on Clinc LSTM-1 (docs/budget.md), 4x cheaper a step
    lr: float = 0.05
    init_logit: float = 2.0
    lambda_init: float = 0.0
    lambda_lr: float = 0.3
    lambda_every: int = 10
    logit_bound: float = 4.0  # logits are kept in [-bound, bound]: a removed unit can come back
    # accuracy budget: the target's lowest value, how often the validation split is scored, how
    # many scored checkpoints in a row may miss the budget before learning stops
    floor: float = 0.05
    check_every: int = 25
    patience: int = 3
    # while the falling target is above this, checkpoints come 4x less often: masks that large
    # are within the budget on every model measured, and each checkpoint is a validation pass
    dense_below: float = 0.6
    val_frac: float = 0.1  # carved from the training split when the dataset has no validation
    val_pairs_per_lang: int = 500  # a translator's validation pairs per language (budget)
    # a translator's next validation pairs per language that confirm the chosen checkpoint
    # (the smallest of many within the budget on 500 pairs is a lucky reading; MaskObjective.confirm)
    confirm_pairs_per_lang: int = 1500
    # a classifier's share of the validation split (seeded, stratified) held back to confirm
    # the chosen checkpoint; the rest chooses (0: the whole split chooses, nothing confirms)
    confirm_frac: float = 0.0
    # budget schedule: a group whose checkpoint misses the budget stops falling and holds its
    # modules at the size they have, so their masks can adapt there before shrinking further
    hold_on_miss: bool = False
    # a classifier's budget judged on a one-sided lower confidence bound of the composed − monolithic
    # validation difference at this level (0: on the difference itself); the bound's standard
    # error is the paired one, clustered by example (a tagger's tokens of one sentence together)
    confidence: float = 0.0


def check_learned_supported(model: object, bank: ModuleBank | DecoderMaskBank) -> None:
    """Refuse what the classifiers' objective does not support, in one line naming it and the
    way on."""
    rank = "; --budget TOL --method rank budgets it by the concern statistic instead"
    if not isinstance(bank, ModuleBank):
        raise RnnmodError(
            "a translator's masks are learned with its kind's objective (ModelKind.learn_masks)"
        )
    if not isinstance(model, SeqClassifier):
        raise RnnmodError("a classifier's module bank needs its classification model")
    if bank.gate_masks is None and bank.unit_masks is None:
        raise RnnmodError(f"learned masks need a bank with unit or gate masks{rank}")
    if bank.engine_semantics(model) != "dead":
        raise RnnmodError(
            f"learned masks are not supported yet for legacy-edits unit semantics{rank}"
        )


def straight_through(logits: Tensor) -> Tensor:
    """0/1 forward (logits > 0), sigmoid gradient backward."""
    soft = torch.sigmoid(logits)
    hard = (logits > 0).to(logits.dtype)
    return hard + soft - soft.detach()


def binarise(logits: list[Tensor]) -> list[Tensor]:
    """Final bool masks [K, S, W]: logits > 0, and at least the best unit of every (module, step)
    group of every layer."""
    out = []
    for lg in logits:
        keep = lg > 0
        empty = ~keep.any(-1, keepdim=True)
        if bool(empty.any()):
            best = torch.nn.functional.one_hot(lg.argmax(-1), lg.shape[-1]).bool()
            keep = keep | (best & empty)
        out.append(keep)
    return out


def module_scores(z: Tensor) -> Tensor:
    """What the composed vote ranks, differentiably: the log-odds of the positive slot,
    z_pos − logsumexp(other slots) (z_pos − z_neg for two-slot heads). z [..., R] → [...]"""
    others = torch.cat([z[..., :1], z[..., 2:]], dim=-1)
    return z[..., 1] - torch.logsumexp(others, dim=-1)


def _accuracy(pred: Tensor, y: Tensor, pad: int | None) -> float:
    keep = torch.ones_like(y, dtype=torch.bool) if pad is None else y != pad
    return float((pred[keep] == y[keep]).float().mean())


@dataclass
class _Validation:
    """Held-out examples scored at every checkpoint of an accuracy budget."""

    x: Tensor
    y: Tensor
    source: str
    monolithic: float  # the source model's accuracy on them
    mono_right: Tensor | None = None  # where it is right (a confidence level's paired bound)


def _real(y: Tensor, pad: int | None) -> Tensor:
    """Which positions count: every one, or those not labelled ``pad``."""
    return torch.ones_like(y, dtype=torch.bool) if pad is None else y != pad


def lower_bound(right: Tensor, ref_right: Tensor, real: Tensor, confidence: float) -> float:
    """One-sided lower confidence bound of accuracy(right) − accuracy(ref_right) over the
    ``real`` positions, paired by example: the ratio estimator's standard error with each
    example (row) a cluster, so a tagger's correlated tokens of one sentence count once."""
    d = (right.float() - ref_right.float()) * real
    n = real.float()
    if d.dim() > 1:  # [N, T]: a row is one cluster
        d, n = d.sum(1), n.sum(1)
    total = float(n.sum())
    diff = float(d.sum()) / total
    rows = len(d)
    resid = d - diff * n
    se = float((resid.pow(2).sum() * rows / max(rows - 1, 1)).sqrt()) / total
    return diff - statistics.NormalDist().inv_cdf(confidence) * se


def _split_for_budget(
    model: SeqClassifier, data: TaskData, bank: ModuleBank, frac: float, seed: int
) -> tuple[Tensor, Tensor, _Validation]:
    """Training rows to learn on and the validation split to choose on (the dataset's own, else a
    seeded slice — stratified for one-output tasks — of the training split that the masks never
    see)."""
    if data.x_val is not None and data.y_val is not None:
        x_tr, y_tr, x_v, y_v = data.x_train, data.y_train, data.x_val, data.y_val
        source = f"{data.task} validation split ({len(x_v)} examples)"
    else:
        strata = data.y_train if data.y_train.dim() == 1 else None
        train, val = seeded_split(len(data.x_train), frac, seed, strata)
        x_tr, y_tr = data.x_train[train], data.y_train[train]
        x_v, y_v = data.x_train[val], data.y_train[val]
        source = (
            f"seeded {frac:.0%} of the {data.task} training split ({len(val)} examples, seed "
            f"{seed}; held out of mask learning)"
        )
    return (
        x_tr,
        y_tr,
        _Validation(x_v, y_v, source, monolithic_accuracy(model, bank, x_v, y_v, data.pad_label)),
    )


def _hold_back(
    model: SeqClassifier,
    bank: ModuleBank,
    val: _Validation,
    frac: float,
    seed: int,
    pad: int | None,
) -> tuple[_Validation, _Validation]:
    """The validation split cut in two (seeded; stratified for one-output tasks): the part that
    chooses the checkpoint and the held-back ``frac`` that confirms it."""
    if not 0 < frac < 1:
        raise RnnmodError(
            f"the confirmation's share of the validation split must be in (0, 1), got {frac}"
        )
    strata = val.y if val.y.dim() == 1 else None
    choose, held = seeded_split(len(val.x), frac, seed + 1, strata)

    def part(idx: Tensor, what: str) -> _Validation:
        x, y = val.x[idx], val.y[idx]
        acc = monolithic_accuracy(model, bank, x, y, pad)
        return _Validation(x, y, f"{what} {len(idx)} of the {val.source}", acc)

    return part(choose, "choosing on"), part(held, "confirming on")


def monolithic_accuracy(
    model: SeqClassifier, bank: ModuleBank, x: Tensor, y: Tensor, pad: int | None
) -> float:
    """The monolithic model's accuracy as ``rnnmod evaluate`` counts it: padding positions
    skipped, and without a padding module the model chooses among the real classes."""
    return _accuracy(monolithic_choice(predict_logits(model, x), bank.class_index, pad), y, pad)


def _masks_of(bank: ModuleBank) -> list[Tensor]:
    """What the learner learns: the bank's unit masks, or its gate-column masks (per-gate)."""
    return bank.unit_masks if bank.unit_masks is not None else bank.gate_masks


def _bank_with(bank: ModuleBank, masks: list[Tensor]) -> ModuleBank:
    gates = bank.unit_masks is None
    return ModuleBank(
        class_index=list(bank.class_index),
        head_weight=bank.head_weight.clone(),
        head_bias=bank.head_bias.clone(),
        unit_masks=None if gates else masks,
        gate_masks=masks if gates else None,
        info=[dict(i) for i in bank.info] if bank.info else [{} for _ in range(len(bank))],
        unit_semantics=bank.unit_semantics,
    )


def composed_accuracy(
    model: SeqClassifier, bank: ModuleBank, x: Tensor, y: Tensor, pad: int | None = None
) -> float:
    """Accuracy of the composed model (the most confident module's class) on ``x``, ``y``;
    positions labelled ``pad`` are skipped."""
    return _accuracy(vote(bank.scores(model, x), bank.class_index), y, pad)


def learned_masks(
    run_model: SeqClassifier | Seq2Seq,
    data: TaskData,
    bank: ModuleBank | DecoderMaskBank,
    *,
    target_retained: float | None = 0.2,
    tolerance_pp: float | None = None,
    steps: int | None = None,
    seed: int = 0,
    progress: bool = False,
    options: LearnedOptions | None = None,
    val_frac: float | None = None,
    confidence: float | None = None,
    on_checkpoint: Callable[[dict, object], None] | None = None,
    objective: type[MaskObjective] | None = None,
) -> tuple[ModuleBank | DecoderMaskBank, dict]:
    """Learn every module's unit masks for ``bank`` (the default decomposition of ``run_model``;
    a classifier's heads are kept): towards ``target_retained``, or — with ``tolerance_pp`` —
    as few units as keep the validation metric within that many points of the monolithic
    model's (a classifier: the composed model's accuracy, one verdict for every module; a
    translator: each language's greedy BLEU / 100, a verdict per language).
    Returns the bank with the learned masks and a summary for the manifest. Reads the training
    (and validation) split only, never the test split. ``confidence`` (a classifier's budget):
    judge each checkpoint on the lower bound of its validation difference at that one-sided
    level, so the promise carries to new data of the same kind. ``on_checkpoint(point, bank)`` sees every
    scored checkpoint (budget only; e.g. a curve script that scores it on data of its own).
    ``objective``: the model kind's :class:`MaskObjective` (default: classifiers'; the translator
    kind passes its own, :mod:`rnnmod.translation.mask_learning`)."""
    budget = tolerance_pp is not None
    if budget:
        if not 0 <= tolerance_pp <= 100:
            raise RnnmodError(f"the budget must be within 0-100 pp, got {tolerance_pp}")
    elif target_retained is None or not 0 < target_retained <= 1:
        raise RnnmodError(f"--target-retained must be in (0, 1], got {target_retained}")
    kind_objective = objective or ClassifierObjective
    default_steps, default_options = kind_objective.defaults(budget)
    steps = default_steps if steps is None else steps
    if steps < 1:
        raise RnnmodError(f"learned masks need at least one step, got {steps}")
    opt = options or default_options
    if val_frac is not None:
        if not 0 < val_frac < 1:
            raise RnnmodError(f"--val-frac must be in (0, 1), got {val_frac}")
        opt = replace(opt, val_frac=val_frac)
    if confidence is not None:
        opt = replace(opt, confidence=confidence)
    if opt.confidence:
        if not budget:
            raise RnnmodError("a confidence level applies to an accuracy budget (--budget TOL)")
        if not 0.5 <= opt.confidence < 1:
            raise RnnmodError(f"the confidence level must be in [0.5, 1), got {opt.confidence}")
        if not kind_objective.judges_with_confidence:
            raise RnnmodError(
                "a confidence level applies to classifiers' and taggers' budgets (a translator's "
                "budget is confirmed on pairs of its own instead)"
            )
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    was_training = run_model.training
    run_model.eval()
    flags = [p.requires_grad for p in run_model.parameters()]
    for p in run_model.parameters():
        p.requires_grad_(False)
    try:
        made = kind_objective(run_model, data, bank, opt, seed, budget, gen)
        out, summary = _learn(
            made, opt, budget, tolerance_pp, target_retained, steps, gen, progress, on_checkpoint
        )
    finally:
        for p, f in zip(run_model.parameters(), flags, strict=True):
            p.requires_grad_(f)
        run_model.train(was_training)
    summary["seed"] = seed
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    return out, summary


def _learn(
    objective: MaskObjective,
    opt: LearnedOptions,
    budget: bool,
    tolerance_pp: float | None,
    target_retained: float | None,
    steps: int,
    gen: torch.Generator,
    progress: bool,
    on_checkpoint: Callable[[dict, object], None] | None,
) -> tuple[object, dict]:
    """The mask learning every objective shares: straight-through masks, λ per module, the
    target schedule, and — with a budget — checkpoints scored per budget group, each group
    keeping its smallest checkpoint within the budget."""
    k = objective.n_modules
    logits = [torch.full(s, opt.init_logit, requires_grad=True) for s in objective.shapes]
    adam = torch.optim.Adam(logits, lr=opt.lr)
    lam = torch.full((k,), opt.lambda_init)
    total_units = sum(m[0].numel() for m in logits)  # per module: units or gate columns
    groups = objective.groups

    def target_at(step: int) -> float:
        """The budget's target falls from 1 to the floor over every step; a fixed target is
        reached over the first half and then held (a target that starts far below the masks
        winds λ up until the masks overshoot it)."""
        if not budget:
            ramp = max(1, steps // 2)
            return max(target_retained, 1.0 - (1.0 - target_retained) * (step + 1) / ramp)
        return max(opt.floor, 1.0 - (1.0 - opt.floor) * (step + 1) / steps)

    held = torch.full((k,), float("nan"))  # hold_on_miss: a held module's target (NaN: falling)
    fall_from = torch.ones(k)  # where a module's target resumed falling, and at which step
    fall_step = torch.zeros(k)

    def targets(step: int) -> Tensor:
        """Every module's target [K]."""
        if not (budget and opt.hold_on_miss):
            return torch.full((k,), target_at(step))
        rate = (1.0 - opt.floor) / steps
        fall = (fall_from - rate * (step + 1 - fall_step)).clamp(min=opt.floor)
        return torch.where(held.isnan(), fall, held)

    ce_last = float("nan")
    curve: list[dict] = []
    best: list[tuple[float, list[Tensor], dict] | None] = [None] * len(groups)
    offered: list[list[tuple[float, list[Tensor], dict]]] = [[] for _ in groups]
    misses = [0] * len(groups)
    dense = objective.dense_checkpoints

    def within(score: float, g: int) -> bool:
        return _within_budget(score, objective.reference[g], tolerance_pp)

    def offer(g: int, r: float, all_masks: list[Tensor], info: dict) -> None:
        """A candidate within the budget for group ``g``: kept if it is the smallest so far (and
        among every candidate, for the confirmation)."""
        chosen = [m[groups[g]].clone() for m in all_masks]
        offered[g].append((r, chosen, {**info, "lambda": lam.clone()}))
        if best[g] is None or r < best[g][0]:
            best[g] = offered[g][-1]

    if budget:  # the default decomposition's masks: a candidate like any checkpoint
        source_masks = objective.masks_of(objective.source)
        kept_src = objective.source.retained_fraction()
        for g, score in enumerate(objective.validate(objective.source)):
            if within(score, g):
                r = float(kept_src[groups[g]].mean())
                offer(g, r, source_masks, {"step": 0, "retained": round(r, 6),
                                           "val_accuracy": round(score, 6), "within_budget": True,
                                           "default_decomposition": True})  # fmt: skip
    done = 0
    bar = tqdm(total=steps, desc="learn masks", disable=not progress, unit="step")
    try:
        for step in range(steps):
            masks = [straight_through(lg) for lg in logits]  # shaped like the bank's masks
            ce = objective.loss(masks, gen)
            retained = sum(m.sum((1, 2)) for m in masks) / total_units  # [K]
            loss = ce + (lam * retained).sum()
            adam.zero_grad(set_to_none=True)
            loss.backward()
            adam.step()
            with torch.no_grad():
                for lg in logits:
                    lg.clamp_(-opt.logit_bound, opt.logit_bound)
            ce_last = float(ce.detach())
            done = step + 1
            if done % opt.lambda_every == 0:
                with torch.no_grad():
                    kept = sum((lg > 0).float().sum((1, 2)) for lg in logits) / total_units
                    lam = lam + opt.lambda_lr * (kept - targets(step))
                    if budget:  # a falling target never needs pulling back up
                        lam = lam.clamp(min=0.0)
            bar.set_postfix_str(
                f"loss {ce_last:.3f} kept {float(retained.detach().mean()):.3f}", refresh=False
            )
            bar.update(1)
            top = float(targets(step).max())
            every = opt.check_every * (1 if dense or top <= opt.dense_below else 4)
            if budget and (done % every == 0 or done == steps):
                masks_now = binarise([lg.detach() for lg in logits])
                cand = objective.bank(masks_now)
                kept_k = cand.retained_fraction()
                scores = objective.validate(cand)
                point = {"step": done, "target": round(top, 6)}
                verdicts = []
                for g, members in enumerate(groups):
                    r = float(kept_k[members].mean())
                    ok = within(scores[g], g)
                    verdicts.append({"retained": round(r, 6), "val_accuracy": round(scores[g], 6),
                                     "within_budget": ok})  # fmt: skip
                    if ok:
                        offer(g, r, masks_now, {**point, **verdicts[-1]})
                    misses[g] = 0 if ok else misses[g] + 1
                    if opt.hold_on_miss:
                        kept_now = kept_k[members]
                        if ok and not bool(held[members].isnan().all()):  # falls again
                            fall_from[members] = kept_now.float()
                            fall_step[members] = float(done)
                            held[members] = float("nan")
                        elif not ok and bool(held[members].isnan().all()):
                            held[members] = kept_now.float()
                if objective.names is None:
                    point.update(verdicts[0])
                else:
                    point.update(
                        retained=round(float(kept_k.mean()), 6),
                        within_budget=all(v["within_budget"] for v in verdicts),
                        per_module=dict(zip(objective.names, verdicts, strict=True)),
                    )
                curve.append(point)
                if on_checkpoint is not None:
                    on_checkpoint(point, cand)
                if all(m >= opt.patience for m in misses):
                    break
    finally:
        bar.close()

    lam_out = lam
    warnings = []
    confirmation = None
    if budget and objective.confirms:
        best, confirmation = _confirm(objective, offered, tolerance_pp)
    if budget:
        final = [m.clone() for m in objective.masks_of(objective.source)]
        lam_out = torch.zeros(k)
        for g, members in enumerate(groups):
            if best[g] is None:  # nothing within the budget: every unit (the budget holds)
                name = "" if objective.names is None else f"{objective.names[g]}: "
                warnings.append(
                    f"{name}neither a checkpoint nor the default decomposition kept the "
                    f"validation metric within the budget{' (confirmed)' if confirmation else ''}"
                    ": every unit is kept"
                )
                for m in final:
                    m[members] = True
                continue
            for layer, m in enumerate(best[g][1]):
                final[layer][members] = m
            lam_out[members] = best[g][2]["lambda"][members]
        out = objective.bank(final)
    else:
        out = objective.bank(binarise([lg.detach() for lg in logits]))
    retained = out.retained_fraction()
    for i in range(k):
        out.info[i]["learned"] = {
            "retained_per_layer": [
                round(float(m[i].float().mean()), 6) for m in objective.masks_of(out)
            ],  # fmt: skip
            "lambda": round(float(lam_out[i]), 6),
        }
    summary = {
        "method": objective.method,
        "target_retained": None if budget else target_retained,
        "steps": steps,
        "steps_run": done,
        "batch_size": objective.batch_size,
        "lr": opt.lr,
        "lambda_lr": opt.lambda_lr,
        "lambda_every": opt.lambda_every,
        "hold_on_miss": opt.hold_on_miss,
        "confidence": opt.confidence or None,
        "n_training_examples": objective.n_examples,
        "final_loss": round(ce_last, 6),
        "retained_per_module": [round(float(r), 6) for r in retained],
        "retained_mean": round(float(retained.mean()), 6),
        "lambda_per_module": [round(float(v), 6) for v in lam_out],
    }
    if budget:
        chosen = [None if b is None else {k_: v for k_, v in b[2].items() if k_ != "lambda"}
                  for b in best]  # fmt: skip
        ref = [round(r, 6) for r in objective.reference]
        summary.update(
            tolerance_pp=tolerance_pp,
            floor=opt.floor,
            check_every=opt.check_every,
            patience=opt.patience,
            validation=objective.validation,
            val_monolithic=ref[0] if objective.names is None else dict(zip(objective.names, ref)),
            chosen=chosen[0] if objective.names is None else dict(zip(objective.names, chosen)),
            curve=curve,
        )
        if confirmation is not None:
            summary["confirmation"] = confirmation
        if warnings:
            summary["warning"] = "; ".join(warnings)
    return out, summary


def _within_budget(score: float, reference: float, tolerance_pp: float) -> bool:
    """A metric (a fraction) at most ``tolerance_pp`` points below the unpruned model's."""
    return score >= reference - tolerance_pp / 100.0 - 1e-12


def _confirm(
    objective: MaskObjective, offered: list[list[tuple]], tolerance_pp: float
) -> tuple[list[tuple | None], dict]:
    """Per budget group, the smallest candidate that is within the budget on the confirmation
    pairs too (a binary search over the candidates by size: a few confirmation passes), or None
    (every unit). The candidates were all chosen on the validation pairs; judging the chosen
    one again on pairs that took no part in choosing removes the luck of the choice."""
    lists = [sorted(c, key=lambda t: t[0]) for c in offered]
    lo, hi = [0] * len(lists), [len(c) for c in lists]
    shape_source = objective.masks_of(objective.source)
    rounds = 0
    while any(a < b for a, b in zip(lo, hi, strict=True)):
        probe = [(a + b) // 2 if a < b else None for a, b in zip(lo, hi, strict=True)]
        masks = [torch.ones_like(m) for m in shape_source]  # a group with nothing to probe: all
        for g, members in enumerate(objective.groups):
            i = probe[g] if probe[g] is not None else hi[g]
            if i < len(lists[g]):
                for layer, m in enumerate(lists[g][i][1]):
                    masks[layer][members] = m
        scores = objective.confirm(objective.bank(masks))
        rounds += 1
        for g, i in enumerate(probe):
            if i is None:
                continue
            ok = _within_budget(scores[g], objective.confirm_reference[g], tolerance_pp)
            lists[g][i][2]["confirmed_score"] = round(scores[g], 6)
            if ok:
                hi[g] = i
            else:
                lo[g] = i + 1
    chosen = [c[h] if h < len(c) else None for c, h in zip(lists, hi, strict=True)]
    ref = [round(r, 6) for r in objective.confirm_reference]
    summary = {
        "validation": objective.confirmation,
        "passes": rounds,
        "reference": ref[0] if objective.names is None else dict(zip(objective.names, ref)),
        "candidates": [len(c) for c in lists],
    }
    return chosen, summary


class MaskObjective:
    """What learning masks needs from a model kind. ``source``: the default decomposition's
    bank (a budget's first candidate); ``shapes``: the
    logits per layer, shaped like the bank's masks ([K, S, W]); ``groups``: the modules judged
    together by the budget (``names``: a name per group, None for one group of every module);
    ``reference``: the unmasked model's validation metric per group."""

    source: object
    n_modules: int
    shapes: list[torch.Size]
    groups: list[list[int]]
    names: list[str] | None
    reference: list[float]
    validation: str
    n_examples: int
    batch_size: int
    method: str
    #: a budget checkpoint every ``check_every`` steps from the start (else 4x sparser while
    #: the target is above ``dense_below``): for models whose budget sits near every unit kept
    dense_checkpoints: bool = False
    #: whether :meth:`confirm` judges the chosen candidates again on pairs that did not choose
    confirms: bool = False
    #: whether :meth:`validate` can judge a lower confidence bound (``LearnedOptions.confidence``)
    judges_with_confidence: bool = False
    confirmation: str = ""
    confirm_reference: list[float]

    @classmethod
    def defaults(cls, budget: bool) -> tuple[int, LearnedOptions]:
        """The steps and options ``learned_masks`` runs with when its caller gives none."""
        return 800, LearnedOptions()

    def loss(self, masks: list[Tensor], gen: torch.Generator) -> Tensor:
        raise NotImplementedError

    def validate(self, bank) -> list[float]:
        """The validation metric per budget group of ``bank`` (a candidate of :meth:`bank`)."""
        raise NotImplementedError

    def confirm(self, bank) -> list[float]:
        """The budget's metric per group on the confirmation pairs (when :attr:`confirms`)."""
        raise NotImplementedError

    def bank(self, masks: list[Tensor]):
        raise NotImplementedError

    def masks_of(self, bank) -> list[Tensor]:
        """A bank's masks as the logits are shaped: one [K, S, W] tensor per layer."""
        raise NotImplementedError


class ClassifierObjective(MaskObjective):
    """Classifiers and taggers: the composed cross-entropy of the modules' scores on batches
    of training examples run through all K modules at once; the budget is the composed
    model's validation accuracy (one group)."""

    method = "learned straight-through unit masks (frozen weights and channelled heads)"
    judges_with_confidence = True

    @classmethod
    def defaults(cls, budget: bool) -> tuple[int, LearnedOptions]:
        """A budget: twice the steps at half the batch (the same examples seen) let the target
        fall half as fast, and modules held where they missed adapt there before shrinking
        further (docs/budget.md, "The schedule"); a fixed target: the prototype's."""
        if not budget:
            return 800, LearnedOptions()
        return 1600, LearnedOptions(batch_size=32, patience=8, hold_on_miss=True)

    def __init__(self, model, data, bank, opt, seed, budget, gen):
        check_learned_supported(model, bank)
        self.model, self.source = model, bank
        self.pad = data.pad_label
        self.confidence = opt.confidence
        k = self.n_modules = len(bank)
        self.val = None
        if budget:
            x_src, y_src, self.val = _split_for_budget(model, data, bank, opt.val_frac, seed)
            if opt.confirm_frac > 0:
                self.val, self.held = _hold_back(
                    model, bank, self.val, opt.confirm_frac, seed, self.pad
                )
                self.confirms, self.confirmation = True, self.held.source
                self.confirm_reference = [self.held.monolithic]
            for v in (self.val, getattr(self, "held", None)):
                if v is not None and self.confidence:
                    v.mono_right = (
                        monolithic_choice(predict_logits(model, v.x), bank.class_index, self.pad)
                        == v.y
                    )
            self.validation, self.reference = self.val.source, [self.val.monolithic]
            if self.confidence:
                self.validation += (
                    f"; judged on the {self.confidence:.0%} lower confidence bound of the "
                    "composed − monolithic difference"
                )
        else:
            x_src, y_src = data.x_train, data.y_train
        # training examples whose class has a module; target = that module's index
        module_of = torch.full((model.cfg.n_classes,), -1, dtype=torch.long)
        module_of[torch.tensor(bank.class_index)] = torch.arange(k)
        y_all = module_of[y_src]  # [N] or [N, T]; −1: no module (padding included), not scored
        if self.pad is not None and y_all.dim() > 1:
            y_all = y_all.masked_fill(y_src == self.pad, -1)
        has = y_all >= 0 if y_all.dim() == 1 else (y_all >= 0).any(1)
        rows = has.nonzero().squeeze(1)
        if len(rows) == 0:
            raise RnnmodError(
                "no training example belongs to a module's class: nothing to learn on"
            )
        self.x, self.y = x_src[rows], y_all[rows]
        self.n_examples = len(rows)
        self.batch_size = min(opt.batch_size, self.n_examples)
        self.mask_key = "unit_masks" if bank.unit_masks is not None else "gate_masks"
        self.shapes = [m.shape for m in _masks_of(bank)]
        self.groups, self.names = [list(range(k))], None
        self.head_w, self.head_b = bank.head_weight.detach(), bank.head_bias.detach()
        self.order, self.pos = torch.randperm(self.n_examples, generator=gen), 0

    def loss(self, masks, gen):
        k, n, b = self.n_modules, self.n_examples, self.batch_size
        if self.pos + b > n:
            self.order, self.pos = torch.randperm(n, generator=gen), 0
        idx = self.order[self.pos : self.pos + b]
        self.pos += b
        ids, target = self.x[idx], self.y[idx]
        run = self.model.run_engine(ids, **{self.mask_key: masks}, batch_groups=k)
        feats = self.model.head_features(run.output, ids)  # [K·B, H] or [K·B, T, H]
        feats = feats.reshape(k, len(ids), *feats.shape[1:])
        z = torch.einsum("kb...h,krh->b...kr", feats, self.head_w) + self.head_b  # [B,(T,)K,R]
        score = module_scores(z)  # [B, (T,) K]
        return torch.nn.functional.cross_entropy(
            score.reshape(-1, k), target.reshape(-1), ignore_index=-1
        )

    def validate(self, bank):
        return [self._judge(bank, self.val)]

    def confirm(self, bank):
        return [self._judge(bank, self.held)]

    def _judge(self, bank, val: _Validation) -> float:
        """The composed accuracy on ``val`` — or, with a confidence level, the monolithic
        accuracy plus the lower bound of the paired difference."""
        if not self.confidence:
            return composed_accuracy(self.model, bank, val.x, val.y, self.pad)
        composed = vote(bank.scores(self.model, val.x), bank.class_index)
        return val.monolithic + lower_bound(
            composed == val.y, val.mono_right, _real(val.y, self.pad), self.confidence
        )

    def bank(self, masks):
        return _bank_with(self.source, masks)

    def masks_of(self, bank):
        return _masks_of(bank)
