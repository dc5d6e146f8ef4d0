"""The decomposition pipeline (paper-method §5-§6.8): sample → observe once → statistics →
select units → channel the head, for every class at once."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from ..data.base import TaskData
from ..errors import RnnmodError
from ..modules.module import ModuleBank
from ..nn.cells import N_GATES, SIGMOID_BLOCKS
from ..nn.zoo import SeqClassifier
from .channel import channel_heads, channel_heads_protect_padding
from .concern import (
    active_rate,
    robust_mean_abs,
    select_active_rate,
    select_comparison,
    select_per_gate,
)
from .config import DecompositionConfig, effective_max_remove
from .observe import (
    drop_padding,
    gather_observations,
    record_states,
    selection_grid,
    selection_grid_per_step,
)
from .sampling import ClassSamples, sample_one_output, sample_per_step


@dataclass
class Decomposition:
    """All modules of one model (class order) plus what produced them: a
    :class:`~rnnmod.modules.module.ModuleBank` (classifiers) or a
    :class:`~rnnmod.modules.decoder_bank.DecoderMaskBank` (translators)."""

    bank: ModuleBank
    config: DecompositionConfig
    max_remove: float
    samples: ClassSamples | None
    timings: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # per layer, the concern statistic d = stat_pos − stat_neg [K, S, W] the selection ranked
    # (NaN for a thin group); rnnmod.decomposition.budget reuses it for other removal fractions
    concern: list[torch.Tensor] = field(default_factory=list)
    # the run decomposed (set by rnnmod.decompose; save_modules stores it as the modules' source)
    source: object = None


def check_supported(model: SeqClassifier, cfg: DecompositionConfig) -> None:
    io = model.cfg.io_type
    if io == "1:1" and cfg.mode == "unrolled":
        raise RnnmodError(
            "1:1 models have a single time step: unrolled decomposition is the same as rolled (use --mode rolled)"
        )
    extensions = model.cfg.extensions()
    if extensions and cfg.unit_semantics != "dead":
        raise RnnmodError(
            f"unit_semantics {cfg.unit_semantics!r} reproduces the original tool on the paper's "
            f"models; this model has {', '.join(extensions)}: decompose it with dead units"
        )
    if model.cfg.bidirectional and cfg.gate_strategy == "per-gate":
        raise RnnmodError(
            "the per-gate strategy is not supported on bidirectional layers yet: use the "
            "hidden-state strategy (the default)"
        )


def observation_steps(model: SeqClassifier, cfg: DecompositionConfig) -> str:
    """Which steps a one-output model is observed at: the configured ones, except that a
    pooled readout reads every real step, so observing only the last would describe a state
    the head never sees alone (docs/method.md, "Users' models")."""
    if cfg.observe_steps == "last" and model.cfg.readout != "last":
        return "tokens"
    return cfg.observe_steps


def align_final_states(model: SeqClassifier, states: list[torch.Tensor]) -> list[torch.Tensor]:
    """For the last-step observation of a bidirectional model: the backward direction's final
    state is at position 0, so the observation at the last position takes it from there."""
    if not model.cfg.bidirectional:
        return states
    h = model.cfg.hidden
    out = []
    for s in states:
        s = s.clone()
        s[:, -1, h:] = s[:, 0, h:]
        out.append(s)
    return out


def unit_statistic(
    values: torch.Tensor, valid: torch.Tensor, cell: str, cfg: DecompositionConfig
) -> torch.Tensor:
    """Hidden-state strategy: robust mean of |h| (logistic cells) or active rate (ReLU)."""
    if cell == "rnn-relu":
        return active_rate(values, valid)
    return robust_mean_abs(values, valid, cfg.outlier_mads)


def gate_statistic(
    values: torch.Tensor, valid: torch.Tensor, cell: str, cfg: DecompositionConfig
) -> torch.Tensor:
    """Per-gate strategy: activation rate (|v| ≥ 0.5) of sigmoid gate columns, the hidden-state
    statistic of candidate columns (§6.3)."""
    base = unit_statistic(values, valid, cell, cfg)
    blocks = SIGMOID_BLOCKS[cell]
    if not blocks:
        return base
    rate = active_rate(values, valid, cfg.gate_active_threshold, absolute=True, inclusive=True)
    h = values.shape[-1] // N_GATES[cell]
    is_sig = torch.zeros(N_GATES[cell], dtype=torch.bool)
    is_sig[list(blocks)] = True
    return torch.where(is_sig.repeat_interleave(h), rate, base)


def select_units(
    states: list[torch.Tensor],
    pos: tuple[torch.Tensor, torch.Tensor],
    neg: tuple[torch.Tensor, torch.Tensor],
    cell: str,
    cfg: DecompositionConfig,
    max_remove: float,
    *,
    pool_thin: bool = False,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Statistics and removal for every layer of recorded ``states`` (list of [U, T, W]) from
    (row, step) index grids [K, S, N] of positive and negative observations (-1 = none).
    Returns per layer the removed units [K, S, W] (True = removed) and the concern d.

    A group with fewer than ``cfg.min_observations`` positive or negative observations is thin:
    its d is NaN (every unit kept) or, with ``pool_thin`` and several step groups, the d of its
    class's observations pooled over every step (the rolled statistic), NaN only when the pooled
    group is thin too."""
    per_gate = cfg.gate_strategy == "per-gate"
    stat = gate_statistic if per_gate else unit_statistic
    n_groups, s_groups = pos[0].shape[:2]
    removed, concern = [], []
    for layer_states in states:  # a loop over ≤ 4 layers; everything inside is vectorised
        pv, pm = gather_observations(layer_states, *pos)
        nv, nm = gather_observations(layer_states, *neg)
        d = stat(pv, pm, cell, cfg) - stat(nv, nm, cell, cfg)
        thin = (pm.sum(1) < cfg.min_observations) | (nm.sum(1) < cfg.min_observations)
        d = torch.where(thin.unsqueeze(1), torch.full_like(d, float("nan")), d)
        d = d.reshape(n_groups, s_groups, -1)
        if pool_thin and s_groups > 1 and bool(thin.any()):
            d = _pool_thin_groups(
                d, thin.reshape(n_groups, s_groups), layer_states, pos, neg, stat, cell, cfg
            )
        concern.append(d)
        if per_gate:
            rem = select_per_gate(d, N_GATES[cell], max_remove)
        elif cell == "rnn-relu":
            rem = select_active_rate(d, max_remove, cfg.relu_tangle_threshold)
        else:
            rem = select_comparison(d, max_remove, cfg.ratio_rule, cfg.tangle_threshold)
        removed.append(rem)
    return removed, concern


def _pool_thin_groups(d, thin, layer_states, pos, neg, stat, cell, cfg) -> torch.Tensor:
    """Replace the d of thin (class, step) groups [K, S] by their class's d pooled over steps."""
    cls = thin.any(1).nonzero().squeeze(1)
    pooled = []
    for rows, steps in (pos, neg):
        k = len(cls)
        pooled.append(
            gather_observations(
                layer_states, rows[cls].reshape(k, 1, -1), steps[cls].reshape(k, 1, -1)
            )
        )
    (pv, pm), (nv, nm) = pooled
    dp = stat(pv, pm, cell, cfg) - stat(nv, nm, cell, cfg)  # [k, W]
    thin_p = (pm.sum(1) < cfg.min_observations) | (nm.sum(1) < cfg.min_observations)
    dp = torch.where(thin_p.unsqueeze(1), torch.full_like(dp, float("nan")), dp)
    d = d.clone()
    sub = d[cls]  # [k, S, W]
    d[cls] = torch.where(thin[cls].unsqueeze(-1), dp.unsqueeze(1).to(sub.dtype), sub)
    return d


def thin_group_warnings(
    pos_rows: torch.Tensor, neg_rows: torch.Tensor, cfg: DecompositionConfig, pooled: bool
) -> list[str]:
    """One line each: how many (class, step) groups were thin and what was done about them, and
    how many classes have too few observations even pooled over steps (they keep every unit)."""
    m = cfg.min_observations
    n_pos, n_neg = (pos_rows >= 0).sum(-1), (neg_rows >= 0).sum(-1)  # [K, S]
    thin = (n_pos < m) | (n_neg < m)
    k, s = thin.shape
    out = []
    if s > 1 and pooled and bool(thin.any()):
        out.append(
            f"{int(thin.sum())} of {k * s} (class, step) groups had fewer than {m} observations; "
            "their steps use the class's statistics pooled over steps"
        )
    thin_cls = (n_pos.sum(1) < m) | (n_neg.sum(1) < m)
    if pooled and bool(thin_cls.any()):
        out.append(
            f"{int(thin_cls.sum())} of {k} classes have fewer than {m} positive or negative "
            "observations: their modules keep every unit (--min-observations)"
        )
    return out


def module_classes(model: SeqClassifier, data: TaskData, cfg: DecompositionConfig) -> list[int]:
    """Every class for one-output models; many-output models skip the padding class unless
    the config asks for a padding module (the authors' behaviour)."""
    classes = list(range(model.cfg.n_classes))
    if model.one_output or data.pad_label is None or cfg.padding_module:
        return classes
    return [c for c in classes if c != data.pad_label]


def decompose(
    model: SeqClassifier, data: TaskData, cfg: DecompositionConfig, *, progress: bool = True
) -> Decomposition:
    """Build one module per class (1:1, M:1, 1:N, M:N) with one generic pipeline."""
    cfg.validate()
    check_supported(model, cfg)
    cell, depth = model.cfg.cell, model.cfg.depth
    n_classes = model.cfg.n_classes
    max_remove = effective_max_remove(cfg, model.cfg.io_type, cell, depth)
    per_gate = cfg.gate_strategy == "per-gate"
    many = not model.one_output
    pad = data.pad_label if many else None
    timings: dict[str, float] = {}
    bar = tqdm(total=4, desc="decompose", disable=not progress, unit="stage")

    t0 = time.perf_counter()
    if many:
        excl = None if cfg.negatives_include_padding else pad
        samples = sample_per_step(
            data.y_train, n_classes, cfg.n_positive, cfg.n_negative, cfg.sampling, cfg.seed, excl
        )
    else:
        samples = sample_one_output(
            data.y_train, n_classes, cfg.n_positive, cfg.n_negative, cfg.sampling, cfg.seed
        )
    classes = module_classes(model, data, cfg)
    # a class with no training example gets no module (the paper preset: one keeping every unit)
    empty = [] if cfg.preset == "paper" else [c for c in classes if samples.n_pos[c] == 0]
    classes = [c for c in classes if c not in empty]
    if not classes:
        raise RnnmodError("no class has a training example: there is nothing to decompose")
    timings["sample"] = time.perf_counter() - t0
    bar.set_postfix_str(f"{len(samples.union)} examples", refresh=False)
    bar.update(1)

    t0 = time.perf_counter()
    states = record_states(model, data.x_train[samples.union], gates=per_gate)
    timings["observe"] = time.perf_counter() - t0
    bar.update(1)

    t0 = time.perf_counter()
    idx = torch.tensor(classes)
    if many:
        pos_rows, pos_steps = selection_grid_per_step(samples.pos[idx], cfg.mode)
        neg_rows, neg_steps = selection_grid_per_step(samples.neg[idx], cfg.mode)
    else:
        steps, observe = model.steps, observation_steps(model, cfg)
        pos_rows, pos_steps = selection_grid(samples.pos[idx], steps, cfg.mode, observe)
        neg_rows, neg_steps = selection_grid(samples.neg[idx], steps, cfg.mode, observe)
        if observe == "last" and cfg.mode == "rolled":
            states = align_final_states(model, states)
        if observe == "tokens" and not model.flattens:
            tokens = data.x_train[samples.union] != model.cfg.pad_id
            pos_rows = drop_padding(pos_rows, pos_steps, tokens)
            neg_rows = drop_padding(neg_rows, neg_steps, tokens)
    pool = cfg.preset != "paper"
    removed, concern = select_units(
        states,
        (pos_rows, pos_steps),
        (neg_rows, neg_steps),
        cell,
        cfg,
        max_remove,
        pool_thin=pool,
    )
    thin_warnings = thin_group_warnings(pos_rows, neg_rows, cfg, pooled=pool)
    timings["statistics"] = time.perf_counter() - t0
    bar.update(1)

    t0 = time.perf_counter()
    w_out, b_out = model.head.weight.detach(), model.head.bias.detach()
    if many and cfg.channel == "protect-padding":
        hw, hb = channel_heads_protect_padding(w_out, b_out, pad)
    else:
        hw, hb = channel_heads(w_out, b_out)
    keep = [~r for r in removed]
    warnings = [
        f"class {data.label_names[c]!r}: no training example: no module" for c in empty
    ] + thin_warnings
    info = []
    for c in classes:
        w = []
        if samples.n_pos[c] < samples.wanted_pos:
            w.append(f"only {samples.n_pos[c]} positive observations (wanted {samples.wanted_pos})")
        if samples.n_pos[c] == 0 or samples.n_neg[c] == 0:
            w.append("no positive or negative examples: the module keeps every unit")
        warnings += [f"class {data.label_names[c]!r}: {x}" for x in w]
        info.append({"n_positive": samples.n_pos[c], "n_negative": samples.n_neg[c], "warnings": w})
    bank = ModuleBank(
        class_index=classes,
        head_weight=hw[idx].clone(),
        head_bias=hb[idx].clone(),
        unit_masks=None if per_gate else keep,
        gate_masks=keep if per_gate else None,
        info=info,
        unit_semantics=cfg.unit_semantics,
    )
    timings["channel"] = time.perf_counter() - t0
    warnings += no_op_warning(bank.retained_fraction())
    bar.update(1)
    bar.close()
    return Decomposition(bank, cfg, max_remove, samples, timings, warnings, concern)


def no_op_warning(retained: torch.Tensor) -> list[str]:
    """One line when modules removed (almost) nothing — a decomposition that does not shrink
    must say so, never pass silently."""
    idle = int((retained >= 0.995).sum())
    if not idle:
        return []
    return [
        f"{idle} of {len(retained)} modules remove no unit or almost none (≥ 99.5 % kept): no "
        "unit's statistic passed the removal rule; `--budget 1pp` or `--method learned` "
        "shrinks modules further (docs/budget.md)"
    ]
