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
  trivially, with a warning); with ``hold_on_miss`` a group whose checkpoint misses stops
  falling and holds its modules at their size until a checkpoint is within the budget again;
  learning stops after ``patience`` checkpoints in a row outside it. The checkpoints are the
  validation retention–accuracy curve, recorded in the summary. What is judged — the accuracy
  or its lower confidence bound — is the objective's (:mod:`.mask_objective`).

What a removed unit becomes is the objective's: dead, a least-squares linear fill of its
module's kept units refitted to every checkpoint's masks, or — ``learned`` — the same kind of
fill (``h_removed = h_kept M + c``, :mod:`rnnmod.modules.fill`) learned with the masks on the
same objective, at its own Adam rate. A learned fill is the objective's parameters
(:meth:`MaskObjective.parameters`): each budget candidate keeps the fill it was scored with
(:meth:`MaskObjective.state`), and the module set returned carries the chosen checkpoint's. The
source model stays frozen; a filled module's weights are its own (the fill folds into them).

Classifiers and taggers of every I/O type, rolled and unrolled, unit masks with dead units or
— for the per-gate strategy — masks over every gate's columns ([K, S, G·H], a removed column's
pre-activation is 0 as the engine runs it); batches come from the training split only (the test
split is never read).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..data.base import TaskData
from ..errors import RnnmodError
from ..modules.decoder_bank import DecoderMaskBank
from ..modules.fill import resolve_removed_units
from ..modules.module import ModuleBank
from ..nn.seq2seq import Seq2Seq
from ..nn.zoo import SeqClassifier
from .mask_objective import (  # noqa: F401  (re-exported: the learner's public names)
    ClassifierObjective,
    LearnedOptions,
    MaskObjective,
    check_learned_supported,
    composed_accuracy,
    lower_bound,
    module_scores,
    monolithic_accuracy,
)

#: recorded with every learned request: a module set made by another version of the learner (its
#: objective, schedule or defaults) is never reused for a new request (rnnmod.api.decompose_to)
ALGORITHM = (
    "straight-through masks, λ per module, log-odds scores, falling target held on a miss, "
    "removed units dead, a linear fill or a learned one, beyond 16 modules an example's hardest "
    "rivals only/7"
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
    removed_units: str | None = None,
    candidates: int | None = None,
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
    kind passes its own, :mod:`rnnmod.translation.mask_learning`). ``removed_units``: ``dead``,
    ``linear`` (each checkpoint judged, and the result kept, with every module's removed units
    rebuilt from its kept ones by a least-squares fill: :mod:`rnnmod.modules.fill`) or ``auto``
    (the options' default: the cell's choice). ``candidates`` (a one-output classifier with
    more modules than that): each training example is learned under that many modules' masks,
    its own and its hardest rivals' (0: every module; :class:`LearnedOptions`)."""
    budget = tolerance_pp is not None
    if budget:
        if not 0 <= tolerance_pp <= 100:
            raise RnnmodError(f"the budget must be within 0-100 pp, got {tolerance_pp}")
    elif target_retained is None or not 0 < target_retained <= 1:
        raise RnnmodError(f"--target-retained must be in (0, 1], got {target_retained}")
    kind_objective = objective or ClassifierObjective
    if removed_units is None:
        removed_units = options.removed_units if options is not None else "auto"
    n_candidates = (options or LearnedOptions()).candidates if candidates is None else candidates
    # under candidates a learned fill would be one per example row (fill.WITHOUT_LEARNED_FILL)
    under_candidates = kind_objective.learns_under(run_model, len(bank), n_candidates)
    removed_units = resolve_removed_units(
        removed_units,
        run_model,
        getattr(bank, "unit_masks", None),
        learned_fill=budget and not under_candidates,
    )
    default_steps, default_options = kind_objective.defaults(budget, removed_units)
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
    if candidates is not None:
        if candidates < 0 or candidates == 1:
            raise RnnmodError(
                f"--learn-candidates must be 0 (every module) or at least 2, got {candidates}"
            )
        if candidates and not (kind_objective.learns_under_candidates and run_model.one_output):
            raise RnnmodError(
                "--learn-candidates applies to one-output classifiers; taggers and translators "
                "learn every module on every example (leave it out, or give 0)"
            )
        opt = replace(opt, candidates=candidates)
    opt = replace(opt, removed_units=removed_units)
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
    param_groups = [{"params": logits, "lr": opt.lr}]
    if objective.parameters():  # e.g. a learned fill: its own rate
        param_groups.append({"params": objective.parameters(), "lr": opt.fill_lr})
    adam = torch.optim.Adam(param_groups)
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
        state = [p[groups[g]] for p in objective.state()]  # indexing copies
        offered[g].append((r, chosen, {**info, "lambda": lam.clone()}, state))
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
        final_state = objective.state()
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
            for p, chosen_p in zip(final_state, best[g][3], strict=True):
                p[members] = chosen_p
            lam_out[members] = best[g][2]["lambda"][members]
        out = objective.bank(final, final_state or None)
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
        "removed_units": opt.removed_units,
        "fill_lr": opt.fill_lr if opt.removed_units == "learned" else None,
        "n_training_examples": objective.n_examples,
        # modules each example is learned under (None: every module)
        "candidates_per_example": (
            None if objective.candidates is None else int(objective.candidates.shape[1])
        ),
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
        state = objective.state()
        for g, members in enumerate(objective.groups):
            i = probe[g] if probe[g] is not None else hi[g]
            if i < len(lists[g]):
                for layer, m in enumerate(lists[g][i][1]):
                    masks[layer][members] = m
                for p, chosen_p in zip(state, lists[g][i][3], strict=True):
                    p[members] = chosen_p
        scores = objective.confirm(objective.bank(masks, state or None))
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
