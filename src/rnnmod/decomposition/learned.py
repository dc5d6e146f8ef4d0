"""Learned unit masks (first step): which units each module keeps, learned on the training split.

The source model's weights and the default decomposition's channelled heads are frozen; what is
learned is one mask logit per (module, layer, hidden unit) — a [K, W] tensor per layer. The
mask is straight-through binary: forward ``logits > 0`` as 0/1 (a removed unit is dead, its
state is 0, exactly as the cell engine runs a bank's masks), backward the sigmoid's gradient.
All K modules run in one fused engine pass over K copies of a training batch.

Objective: the composed cross-entropy of the modules' positive scores (softmax over modules of
z_pos − z_neg, target the true class's module) plus Σ_k λ_k · retained_k, where retained_k is
module k's fraction of kept units over every layer. λ_k is a Lagrange-style multiplier: every
few steps it rises by ``lambda_lr · (retained_k − target)`` (falls when the module keeps fewer
units than the target, and may turn negative: the target is met from both sides, so a module
whose removals cost nothing does not fall to one unit). At the end the logits are binarised; a module that keeps
no unit of a layer keeps its best one (highest logit).

Only rolled, hidden-state masks of one-output classifiers (1:1, M:1) for now; batches come from
the training split only (the test split is never read).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..data.base import TaskData
from ..errors import RnnmodError
from ..modules.module import ModuleBank
from ..nn.zoo import SeqClassifier


@dataclass(frozen=True)
class LearnedOptions:
    """Hyper-parameters of the mask learning (the defaults are the prototype's)."""

    batch_size: int = 256
    lr: float = 0.05
    init_logit: float = 2.0
    lambda_init: float = 0.0
    lambda_lr: float = 0.1
    lambda_every: int = 10
    logit_bound: float = 4.0  # logits are kept in [-bound, bound]: a removed unit can come back
    trace: bool = False  # record (step, mean kept, mean λ, ce) every λ update in the summary


def check_learned_supported(model: object, bank: ModuleBank) -> None:
    """Refuse what learned masks do not support yet, in one line naming it."""
    if not isinstance(model, SeqClassifier):
        raise RnnmodError("--method learned is not supported yet for translation models")
    if not model.one_output:
        raise RnnmodError(
            f"--method learned is not supported yet for {model.cfg.io_type} (many-output) models; "
            "use 1:1 or M:1"
        )
    if bank.gate_masks is not None or bank.unit_masks is None:
        raise RnnmodError("--method learned is not supported yet for --gate-strategy per-gate")
    if bank.steps != 1:
        raise RnnmodError("--method learned is not supported yet for --mode unrolled")
    if bank.engine_semantics(model) != "dead":
        raise RnnmodError("--method learned is not supported yet for legacy-edits unit semantics")


def straight_through(logits: Tensor) -> Tensor:
    """0/1 forward (logits > 0), sigmoid gradient backward."""
    soft = torch.sigmoid(logits)
    hard = (logits > 0).to(logits.dtype)
    return hard + soft - soft.detach()


def binarise(logits: list[Tensor]) -> list[Tensor]:
    """Final bool masks [K, 1, W]: logits > 0, and at least the best unit of every layer."""
    out = []
    for lg in logits:
        keep = lg > 0
        empty = ~keep.any(1)
        if bool(empty.any()):
            best = lg.argmax(1)
            keep[empty, best[empty]] = True
        out.append(keep.unsqueeze(1))
    return out


def learned_masks(
    run_model: SeqClassifier,
    data: TaskData,
    bank: ModuleBank,
    *,
    target_retained: float = 0.2,
    steps: int = 700,
    seed: int = 0,
    progress: bool = False,
    options: LearnedOptions | None = None,
) -> tuple[ModuleBank, dict]:
    """Learn every module's unit masks for ``bank`` (the default decomposition of ``run_model``;
    its heads are kept). Returns the bank with the learned masks ([K, 1, W] bool per layer) and
    a summary for the manifest. Reads ``data.x_train``/``data.y_train`` only."""
    if not 0 < target_retained <= 1:
        raise RnnmodError(f"--target-retained must be in (0, 1], got {target_retained}")
    if steps < 1:
        raise RnnmodError(f"learned masks need at least one step, got {steps}")
    check_learned_supported(run_model, bank)
    opt = options or LearnedOptions()
    t0 = time.perf_counter()
    model = run_model
    k, hidden, depth = len(bank), model.cfg.hidden, model.cfg.depth

    # training examples whose class has a module; target = that module's index
    module_of = torch.full((model.cfg.n_classes,), -1, dtype=torch.long)
    module_of[torch.tensor(bank.class_index)] = torch.arange(k)
    y_all = module_of[data.y_train]
    rows = (y_all >= 0).nonzero().squeeze(1)
    if len(rows) == 0:
        raise RnnmodError("no training example belongs to a module's class: nothing to learn on")
    x_train, y_train = data.x_train[rows], y_all[rows]
    n = len(rows)
    batch = min(opt.batch_size, n)

    gen = torch.Generator().manual_seed(seed)
    logits = [torch.full((k, hidden), opt.init_logit, requires_grad=True) for _ in range(depth)]
    adam = torch.optim.Adam(logits, lr=opt.lr)
    lam = torch.full((k,), opt.lambda_init)
    w_diff = (bank.head_weight[:, 1] - bank.head_weight[:, 0]).detach()  # [K, H]
    b_diff = (bank.head_bias[:, 1] - bank.head_bias[:, 0]).detach()  # [K]
    total_units = depth * hidden

    flags = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    order = torch.randperm(n, generator=gen)
    pos = 0
    ce_last = float("nan")
    trace: list[tuple] = []
    bar = tqdm(total=steps, desc="learn masks", disable=not progress, unit="step")
    try:
        for step in range(steps):
            if pos + batch > n:
                order, pos = torch.randperm(n, generator=gen), 0
            idx = order[pos : pos + batch]
            pos += batch
            ids, target = x_train[idx], y_train[idx]
            masks = [straight_through(lg) for lg in logits]  # [K, W] each
            run = model.run_engine(ids, unit_masks=[m.unsqueeze(1) for m in masks], batch_groups=k)
            feats = model.head_features(run.output).reshape(k, len(ids), hidden)
            score = torch.einsum("kbh,kh->bk", feats, w_diff) + b_diff  # [B, K]
            ce = torch.nn.functional.cross_entropy(score, target)
            retained = sum(m.sum(1) for m in masks) / total_units  # [K]
            loss = ce + (lam * retained).sum()
            adam.zero_grad(set_to_none=True)
            loss.backward()
            adam.step()
            with torch.no_grad():
                for lg in logits:
                    lg.clamp_(-opt.logit_bound, opt.logit_bound)
            ce_last = float(ce.detach())
            if (step + 1) % opt.lambda_every == 0:
                with torch.no_grad():
                    kept = sum((lg > 0).float().sum(1) for lg in logits) / total_units
                    lam = lam + opt.lambda_lr * (kept - target_retained)
                if opt.trace:
                    trace.append(
                        (
                            step + 1,
                            round(float(kept.mean()), 4),
                            round(float(lam.mean()), 4),
                            round(ce_last, 4),
                        )
                    )
            bar.set_postfix_str(
                f"ce {ce_last:.3f} kept {float(retained.detach().mean()):.3f}", refresh=False
            )
            bar.update(1)
    finally:
        bar.close()
        for p, f in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(f)
        model.train(was_training)

    final = binarise([lg.detach() for lg in logits])
    out = ModuleBank(
        class_index=list(bank.class_index),
        head_weight=bank.head_weight.clone(),
        head_bias=bank.head_bias.clone(),
        unit_masks=final,
        gate_masks=None,
        info=[dict(i) for i in bank.info] if bank.info else [{} for _ in range(k)],
        unit_semantics=bank.unit_semantics,
    )
    retained = out.retained_fraction()
    for i in range(k):
        out.info[i]["learned"] = {
            "retained_per_layer": [round(float(m[i].float().mean()), 6) for m in final],
            "lambda": round(float(lam[i]), 6),
        }
    seconds = time.perf_counter() - t0
    summary = {
        "method": "learned straight-through unit masks (frozen weights and channelled heads)",
        "target_retained": target_retained,
        "steps": steps,
        "seed": seed,
        "batch_size": batch,
        "lr": opt.lr,
        "lambda_lr": opt.lambda_lr,
        "lambda_every": opt.lambda_every,
        "n_training_examples": n,
        "final_cross_entropy": round(ce_last, 6),
        "retained_per_module": [round(float(r), 6) for r in retained],
        "retained_mean": round(float(retained.mean()), 6),
        "lambda_per_module": [round(float(v), 6) for v in lam],
        "seconds": round(seconds, 3),
    }
    if opt.trace:
        summary["trace"] = trace
    return out, summary
