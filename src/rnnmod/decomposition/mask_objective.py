"""What learned masks are learned and judged on: the options, the model kinds' objectives and
the validation they are chosen on (:mod:`.learned` is the learner every objective shares).

A :class:`MaskObjective` says, for one model kind, how a training batch's loss is computed
through the masks, what a budget judges (its validation metric per group of modules) and with
which steps and options the learner runs by default. :class:`ClassifierObjective` serves
classifiers and taggers (the composed cross-entropy; the composed validation accuracy, or its
paired lower confidence bound); the translators' objective lives in
:mod:`rnnmod.translation.mask_learning`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data.base import TaskData, seeded_split
from ..errors import RnnmodError
from ..modules.decoder_bank import DecoderMaskBank
from ..modules.fill import fit_linear_fills, state_gram
from ..modules.module import ModuleBank, monolithic_choice, vote
from ..nn.zoo import SeqClassifier, predict_logits


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
    # what a removed unit becomes: dead (0), linear (a least-squares fill of its module's kept
    # units, fitted to the monolithic model's states on ``fill_examples`` training examples and
    # refitted to every checkpoint's masks; rnnmod.modules.fill), learned (the same kind of
    # fill, learned with the masks on the composed objective, Adam at ``fill_lr``) or auto (the
    # cell's default)
    removed_units: str = "auto"
    fill_examples: int = 3000
    # Clinc depth 1, seed 0, the budget's schedule: at 0.0005 the modules keep 16.6-18.4 % of
    # the units within 1 pp; at 0.001 the tanh RNN-1 stops at 26.7 %, at 0.003 at 87.8 %
    # (docs/budget.md, "A learned fill")
    fill_lr: float = 0.0005
    # a one-output classifier with more modules than this learns each training example under
    # this many modules' masks only — its own and the modules of the classes the monolithic
    # model ranks next on it (its hardest negatives) —, so a step costs the same for 20 classes
    # as for 150 (0: every module on every example)
    candidates: int = 16


#: a classifier's budget with a learned fill (:meth:`ClassifierObjective.defaults`)
LEARNED_FILL_BUDGET = LearnedOptions(
    batch_size=32, patience=8, hold_on_miss=True, removed_units="learned", floor=0.12
)


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


def module_scores(z: Tensor) -> Tensor:
    """What the composed vote ranks, differentiably: the log-odds of the positive slot,
    z_pos − logsumexp(other slots) (z_pos − z_neg for two-slot heads). z [..., R] → [...]"""
    others = torch.cat([z[..., :1], z[..., 2:]], dim=-1)
    return z[..., 1] - torch.logsumexp(others, dim=-1)


def _accuracy(pred: Tensor, y: Tensor, pad: int | None) -> float:
    keep = _real(y, pad)
    return float((pred[keep] == y[keep]).float().mean())


@dataclass
class _Validation:
    """Held-out examples scored at every checkpoint of an accuracy budget."""

    x: Tensor
    y: Tensor
    source: str
    mono_right: Tensor  # where the source model is right (a confidence level's paired bound)
    monolithic: float  # the source model's accuracy on them

    @classmethod
    def of(
        cls,
        model: SeqClassifier,
        bank: ModuleBank,
        x: Tensor,
        y: Tensor,
        pad: int | None,
        source: str,
    ) -> _Validation:
        """``x``, ``y`` with the monolithic model's verdicts on them, as ``rnnmod evaluate``
        counts (:func:`monolithic_accuracy`), from one forward pass."""
        right = monolithic_choice(predict_logits(model, x), bank.class_index, pad) == y
        real = _real(y, pad)
        return cls(x, y, source, right, float(right[real].float().mean()))


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
    return x_tr, y_tr, _Validation.of(model, bank, x_v, y_v, data.pad_label, source)


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
        source = f"{what} {len(idx)} of the {val.source}"
        return _Validation.of(model, bank, val.x[idx], val.y[idx], pad, source)

    return part(choose, "choosing on"), part(held, "confirming on")


def monolithic_accuracy(
    model: SeqClassifier, bank: ModuleBank, x: Tensor, y: Tensor, pad: int | None
) -> float:
    """The monolithic model's accuracy as ``rnnmod evaluate`` counts it: padding positions
    skipped, and without a padding module the model chooses among the real classes."""
    return _accuracy(monolithic_choice(predict_logits(model, x), bank.class_index, pad), y, pad)


@torch.no_grad()
def _state_grams(model: SeqClassifier, x: Tensor, n: int, seed: int) -> list[Tensor]:
    """Per layer, the :func:`~rnnmod.modules.fill.state_gram` of the monolithic model's states
    at every (real) step of ``n`` seeded examples of ``x`` (their own generator: the learning's random
    stream is the same with or without a fill)."""
    pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + 2))[:n]
    ids = x[pick]
    hidden = model.run_engine(ids).hidden
    real = model.step_valid(ids)  # a model that skips padding: its real steps only
    if real is not None and not bool(real.any()):
        real = None
    return [state_gram(h.reshape(-1, h.shape[-1]) if real is None else h[real]) for h in hidden]


@torch.no_grad()
def _hard_candidates(
    model: SeqClassifier, bank: ModuleBank, x: Tensor, target: Tensor, p: int
) -> Tensor:
    """[N, p] module indices per example: its target module, then the p − 1 modules whose
    classes the monolithic model scores highest on it (the modules that compete with the
    target in the composed vote, the others far behind)."""
    logits = predict_logits(model, x)[:, bank.class_index]  # [N, K], a module's class each
    logits.scatter_(1, target[:, None], float("-inf"))
    rivals = logits.topk(p - 1, dim=1).indices
    return torch.cat([target[:, None], rivals], dim=1)


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
    #: [N, P] the modules each training example is learned under (None: every module)
    candidates: Tensor | None = None
    #: whether a one-output model's examples can be learned under candidate modules only
    #: (``LearnedOptions.candidates``)
    learns_under_candidates: bool = False

    @classmethod
    def defaults(cls, budget: bool, removed_units: str = "dead") -> tuple[int, LearnedOptions]:
        """The steps and options ``learned_masks`` runs with when its caller gives none (for
        ``removed_units`` as resolved: ``dead``, ``linear`` or ``learned``)."""
        return 800, LearnedOptions()

    @classmethod
    def learns_under(cls, model: object, n_modules: int, candidates: int) -> bool:
        """Whether each training example of ``model`` is learned under ``candidates`` modules
        only (``LearnedOptions.candidates``): a one-output classifier with more modules."""
        one_output = getattr(model, "one_output", False)
        return cls.learns_under_candidates and one_output and 0 < candidates < n_modules

    def loss(self, masks: list[Tensor], gen: torch.Generator) -> Tensor:
        raise NotImplementedError

    def validate(self, bank) -> list[float]:
        """The validation metric per budget group of ``bank`` (a candidate of :meth:`bank`)."""
        raise NotImplementedError

    def confirm(self, bank) -> list[float]:
        """The budget's metric per group on the confirmation pairs (when :attr:`confirms`)."""
        raise NotImplementedError

    def bank(self, masks: list[Tensor], state: list[Tensor] | None = None):
        """A candidate bank of ``masks`` (and ``state``, what :meth:`state` gave when it was
        offered; None: the parameters as they are now)."""
        raise NotImplementedError

    def parameters(self) -> list[Tensor]:
        """What is learned beside the masks (Adam at ``LearnedOptions.fill_lr``): none."""
        return []

    def state(self) -> list[Tensor]:
        """Those parameters as a candidate keeps them, each [K, ...] (row k is module k's)."""
        return []

    def masks_of(self, bank) -> list[Tensor]:
        """A bank's masks as the logits are shaped: one [K, S, W] tensor per layer."""
        raise NotImplementedError


class ClassifierObjective(MaskObjective):
    """Classifiers and taggers: the composed cross-entropy of the modules' scores on batches
    of training examples run through all K modules at once (a one-output classifier with more
    than ``LearnedOptions.candidates`` modules: each example through its candidate modules
    only); the budget is the composed model's validation accuracy (one group)."""

    method = "learned straight-through unit masks (frozen weights and channelled heads)"
    judges_with_confidence = True
    learns_under_candidates = True

    @classmethod
    def defaults(cls, budget: bool, removed_units: str = "dead") -> tuple[int, LearnedOptions]:
        """A budget: twice the steps at half the batch (the same examples seen) let the target
        fall half as fast, and modules held where they missed adapt there before shrinking
        further (docs/budget.md, "The schedule"); with a learned fill, 1,200 steps and the
        target's floor at 12 %: the modules end at 16-20 % of the units on Clinc, and a lower
        floor only moves the choice to the validation budget's edge, where the test split lands
        on either side of it ("A learned fill"); a fixed target: the prototype's."""
        if not budget:
            return 800, LearnedOptions()
        if removed_units == "learned":
            return 1200, LEARNED_FILL_BUDGET
        return 1600, LearnedOptions(batch_size=32, patience=8, hold_on_miss=True)

    def __init__(self, model, data, bank, opt, seed, budget, gen):
        check_learned_supported(model, bank)
        self.model, self.source = model, bank
        self.pad = data.pad_label
        self.confidence = opt.confidence
        k = self.n_modules = len(bank)
        self.val = self.held = None  # the validation split; the part that confirms (if any)
        if budget:
            x_src, y_src, self.val = _split_for_budget(model, data, bank, opt.val_frac, seed)
            if opt.confirm_frac > 0:
                self.val, self.held = _hold_back(
                    model, bank, self.val, opt.confirm_frac, seed, self.pad
                )
                self.confirms, self.confirmation = True, self.held.source
                self.confirm_reference = [self.held.monolithic]
            self.validation, self.reference = self.val.source, [self.val.monolithic]
            if self.confidence:
                self.validation += (
                    f"; judged on the {self.confidence:.0%} lower confidence bound of the "
                    "composed − monolithic difference"
                )
        else:
            x_src, y_src = data.x_train, data.y_train
        self.grams = None  # a linear fill's state moments per layer (training examples only)
        if opt.removed_units == "linear":
            self.grams = _state_grams(model, x_src, opt.fill_examples, seed)
        # a learned fill per layer: M [K, H, H] (kept rows × removed columns are used), c [K, H]
        self.fill_maps: list[Tensor] = []
        self.fill_consts: list[Tensor] = []
        if opt.removed_units == "learned":
            for m in _masks_of(bank):
                width = m.shape[-1]
                self.fill_maps.append(torch.zeros(k, width, width, requires_grad=True))
                self.fill_consts.append(torch.zeros(k, width, requires_grad=True))
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
        self.candidates = None  # the target module first
        if self.learns_under(model, k, opt.candidates):
            self.candidates = _hard_candidates(model, bank, self.x, self.y, opt.candidates)
        self.batch_size = min(opt.batch_size, self.n_examples)
        self.mask_key = "unit_masks" if bank.unit_masks is not None else "gate_masks"
        self.shapes = [m.shape for m in _masks_of(bank)]
        self.groups, self.names = [list(range(k))], None
        self.head_w, self.head_b = bank.head_weight.detach(), bank.head_bias.detach()
        self.order, self.pos = torch.randperm(self.n_examples, generator=gen), 0

    def loss(self, masks, gen):
        idx = self.next_batch(gen)
        ids, target = self.x[idx], self.y[idx]
        if self.candidates is not None:
            cand = self.candidates[idx]  # [B, P], the target module first
            score = module_scores(self.candidate_logits(ids, cand, masks))
            return torch.nn.functional.cross_entropy(score, torch.zeros_like(target))
        return self.composed_loss(module_scores(self.head_logits(ids, masks)), target)

    def next_batch(self, gen: torch.Generator) -> Tensor:
        """The indices of the next training batch, reshuffled once every example has been
        seen."""
        n, b = self.n_examples, self.batch_size
        if self.pos + b > n:
            self.order, self.pos = torch.randperm(n, generator=gen), 0
        idx = self.order[self.pos : self.pos + b]
        self.pos += b
        return idx

    def candidate_logits(self, ids: Tensor, cand: Tensor, masks: list[Tensor]) -> Tensor:
        """Each example's channelled head slots under its candidate modules' masks only:
        [B, P, R] (one engine pass of B·P rows, a mask per row)."""
        b, p = cand.shape
        mods = cand.reshape(-1)
        rows = ids.repeat_interleave(p, dim=0)
        fills = self.fills(masks)
        if fills is not None:
            fills = [(f[0][mods], f[1][mods]) for f in fills]
        run = self.model.run_engine(
            rows, **{self.mask_key: [m[mods] for m in masks]}, unit_fills=fills
        )
        feats = self.model.head_features(run.output, rows)  # [B·P, H]
        z = torch.einsum("nh,nrh->nr", feats, self.head_w[mods]) + self.head_b[mods]
        return z.reshape(b, p, -1)

    def head_logits(self, ids: Tensor, masks: list[Tensor]) -> Tensor:
        """Every module's channelled head slots on ``ids`` under ``masks``: [B, (T,) K, R]."""
        k = self.n_modules
        run = self.model.run_engine(
            ids, **{self.mask_key: masks}, batch_groups=k, unit_fills=self.fills(masks)
        )
        feats = self.model.head_features(run.output, ids)  # [K·B, H] or [K·B, T, H]
        feats = feats.reshape(k, len(ids), *feats.shape[1:])
        return torch.einsum("kb...h,krh->b...kr", feats, self.head_w) + self.head_b

    def composed_loss(self, score: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy of the composed vote (scores [B, (T,) K]) against the true modules."""
        k = self.n_modules
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

    def bank(self, masks, state=None):
        out = _bank_with(self.source, masks)
        if self.grams is not None:
            out.unit_fills = fit_linear_fills(self.grams, masks)
        if self.fill_maps:
            with torch.no_grad():  # fresh tensors: products of the parameters and the masks
                out.unit_fills = self.fills([m.float() for m in masks], state)
        return out

    def fills(self, masks: list[Tensor], state: list[Tensor] | None = None) -> list | None:
        """The learned fill per layer under ``masks`` (float, [K, 1, H]): M on kept rows ×
        removed columns and c on removed units, zero elsewhere (what a module file may hold);
        None without a learned fill. ``state``: the parameters of :meth:`state` instead."""
        if not self.fill_maps:
            return None
        n = len(self.fill_maps)
        maps, consts = (
            (self.fill_maps, self.fill_consts) if state is None else (state[:n], state[n:])
        )
        out = []
        for m, c, mask in zip(maps, consts, masks, strict=True):
            keep = mask[:, 0]  # [K, H]
            gone = 1.0 - keep
            out.append((m * (keep[:, :, None] * gone[:, None, :]), c * gone))
        return out

    def parameters(self):
        return [*self.fill_maps, *self.fill_consts]

    def state(self):
        return [p.detach().clone() for p in self.parameters()]

    def masks_of(self, bank):
        return _masks_of(bank)
