"""The two sides of an inter problem (a one-output and a many-output run, their data and
modules) and every module's scores on the pooled examples of both tasks.

Each module reads the raw text encoded by its *own* run's vocabulary (``Vocab.encode_texts``),
so no shared tokenizer is needed (the paper trained special "combined" models for this). Every
module of a run pair is scored once on the pooled texts of a split (cached on disk under
``results/inter_scores``); a combo's composed predictions are then lookups in those scores.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from rnnmod import RnnmodError, Run, load_task, preset
from rnnmod.data.base import TaskData
from rnnmod.decomposition import decompose
from rnnmod.decomposition.config import preset_key
from rnnmod.modules.calibrate import fit_calibration
from rnnmod.modules.module import ModuleBank
from rnnmod.modules.scores import max_over_positions, real_positions

from .inter_problems import (
    ONE,
    InterOptions,
    Part,
    containing,
    head_scores,
    replace_decide,
    reuse_decide,
    seeded_order,
    take,
)
from .result_cache import cache_file
from .rq1_cost import run_dir, trained_run


@dataclass
class Side:
    run: Run
    data: TaskData
    mode: str


@dataclass
class PooledScores:
    """Every module of both runs on the pooled test examples: all one-output test examples, then
    ``many_idx`` of the many-output test split. one[rule] [K1, P], many[rule] [K2, P] (the max
    over real steps), rule = "probability" or "odds" (:func:`head_scores`)."""

    one: dict[str, Tensor]
    many: dict[str, Tensor]
    one_labels: list[int]
    many_labels: list[int]
    n_one: int
    many_idx: Tensor
    pos: dict = field(default_factory=dict)

    def rows(self, part: Part) -> Tensor:
        if not self.pos:
            self.pos = {int(i): self.n_one + k for k, i in enumerate(self.many_idx.tolist())}
        many_rows = torch.tensor([self.pos.get(int(i), -1) for i in part.idx.tolist()])
        out = torch.where(part.src == ONE, part.idx, many_rows)
        if (out < 0).any():
            raise RnnmodError("a test example of the new problem was not scored (internal error)")
        return out


_DATA: dict[tuple, TaskData] = {}


def load_side(task: str, cell: str, depth: int, opts: InterOptions) -> Side:
    run = trained_run(opts.runs_dir, task, cell, depth)
    options = dict(run.config.get("data_options") or {})
    key = (task, str(opts.data_dir), tuple(sorted(options.items())))
    if key not in _DATA:
        _DATA[key] = load_task(task, opts.data_dir, **options)
    data = _DATA[key]
    if run.vocab.tokens != data.vocab.tokens:
        path = run_dir(opts.runs_dir, task, cell, depth)
        raise RnnmodError(f"{path} was trained with another vocabulary than the {task} data give")
    if "texts_test" not in data.extra:
        raise RnnmodError(f"the {task} loader gives no raw texts (extra['texts_test'])")
    mode = opts.mode or ("rolled" if run.io_type == "1:1" else "unrolled")
    return Side(run, data, mode)


def many_pool(many: TaskData, labels: list[int], split: str, n: int, seed: int) -> Tensor:
    """Union over labels of the many-output examples any combo of ``split`` can draw: the first
    ``n`` rows holding each label in the seeded order of :func:`reuse_parts`/:func:`replace_parts`
    (test: ``n`` = the cap; train: the largest one-output class, which bounds both undersamplings)."""
    y = getattr(many, f"y_{split}")
    order = seeded_order(len(y), seed + (1 if split == "train" else 3))
    return torch.unique(torch.cat([take(containing(y, b), order, n) for b in labels]))


_BANKS: dict[tuple, ModuleBank] = {}  # per process: the test and the training pool share them


def _bank_logits(side: Side, texts: list[str], ids_own: Tensor, opts: InterOptions):
    key = (str(side.run.path), side.run.model_sha256(), preset_key(opts.preset), side.mode)
    if key not in _BANKS:
        cfg = preset(opts.preset, mode=side.mode)
        _BANKS[key] = decompose(side.run.model, side.data, cfg, progress=False).bank
    bank = _BANKS[key]
    ids = torch.cat([ids_own, side.run.vocab.encode_texts(texts)]) if texts else ids_own
    return bank, ids, bank.scores(side.run.model, ids, output="logits")


RULES = ("probability", "odds")  # the raw scores kept per module
DECISIONS = ("calibrated", "odds", "probability")  # composed rules recorded on every row


def pooled_scores(
    one: Side, many: Side, cache: Path, opts: InterOptions, split: str = "test"
) -> PooledScores:
    """Every module of both runs on the pooled examples of ``split`` (cached on disk). The
    training pool feeds the calibrated rule (:mod:`rnnmod.modules.calibrate`)."""
    labels = [c for c in range(many.run.model.cfg.n_classes) if c != many.data.pad_label]
    if split == "test":
        n = opts.test_cap
    else:
        n = int(torch.bincount(one.data.y_train).max())
    many_idx = many_pool(many.data, labels, split, n, opts.seed)
    key = ":".join(
        ["logits", one.run.model_sha256(), many.run.model_sha256(), preset_key(opts.preset)]
        + [one.mode]
        + [many.mode, str(opts.test_cap), str(opts.seed)]
        + [hashlib.sha256(many_idx.numpy().tobytes()).hexdigest()]
        + ([] if split == "test" else [split])  # test-pool keys name no split
    )
    f = cache_file(cache, key, prefix="scores-", suffix=".safetensors")
    n_one = len(getattr(one.data, f"y_{split}"))
    if f.is_file():
        t = load_file(f)
        return PooledScores(
            {r: t[f"one_{r}"] for r in RULES},
            {r: t[f"many_{r}"] for r in RULES},
            t["one_labels"].tolist(),
            t["many_labels"].tolist(),
            n_one,
            t["many_idx"],
        )
    one_texts = one.data.extra[f"texts_{split}"]
    many_texts = [many.data.extra[f"texts_{split}"][i] for i in many_idx.tolist()]
    one_x, many_x = (getattr(side.data, f"x_{split}") for side in (one, many))
    b1, _, z1 = _bank_logits(one, many_texts, one_x, opts)  # [K1, P, R]
    # many side: its own rows in pool order (one-output texts first, then many_idx)
    b2, ids2, z2 = _bank_logits(many, one_texts, many_x[many_idx], opts)
    n_m = len(many_idx)
    z2, ids2 = torch.cat([z2[:, n_m:], z2[:, :n_m]], 1), torch.cat([ids2[n_m:], ids2[:n_m]])
    real = real_positions(many.run.io_type, ids2)
    s1 = head_scores(z1)
    s2 = {
        r: max_over_positions(v, real) for r, v in head_scores(z2).items()
    }  # [K2, P, T] → [K2, P]
    cache.mkdir(parents=True, exist_ok=True)
    tensors = {
        **{f"one_{r}": v.contiguous() for r, v in s1.items()},
        **{f"many_{r}": v.contiguous() for r, v in s2.items()},
        "one_labels": torch.tensor(b1.class_index),
        "many_labels": torch.tensor(b2.class_index),
        "many_idx": many_idx.contiguous(),
    }
    tmp = f.with_suffix(".tmp")
    save_file(tensors, tmp)
    tmp.replace(f)
    return PooledScores(s1, s2, b1.class_index, b2.class_index, n_one, many_idx)


def module_stack(
    pooled: PooledScores, part: Part, rule: str, rq: str, a: int, b: int
) -> tuple[Tensor, list[int]]:
    """Scores [K, N] of the composed model's modules on ``part``, module b first, and the class
    each module plays (reuse: b → 0, a → 1; replace: b → a, the others their own)."""
    r = pooled.rows(part)
    s_many = pooled.many[rule][pooled.many_labels.index(b)][r]
    one = pooled.one[rule]
    if rq == "reuse":
        return torch.stack([s_many, one[pooled.one_labels.index(a)][r]]), [0, 1]
    others = [k for k, c in enumerate(pooled.one_labels) if c != a]
    return torch.cat([s_many[None], one[others][:, r]]), [a] + [
        pooled.one_labels[k] for k in others
    ]


def calibrated_predictions(
    train_pooled: PooledScores,
    train: Part,
    pooled: PooledScores,
    test: Part,
    rq: str,
    a: int,
    b: int,
) -> Tensor:
    """The calibrated rule: per-module affine maps of the log-odds fitted on the new problem's
    training examples (:func:`rnnmod.modules.calibrate.fit_calibration`), then the best module."""
    s_train, labels = module_stack(train_pooled, train, "odds", rq, a, b)
    position = torch.full((max(labels) + 1,), -1, dtype=torch.long)
    position[torch.as_tensor(labels)] = torch.arange(len(labels))
    cal = fit_calibration(s_train, position[train.y.long()])
    s_test, _ = module_stack(pooled, test, "odds", rq, a, b)
    return torch.as_tensor(labels)[cal.predict(s_test)]


def composed_predictions(
    rq: str,
    problem: str,
    pooled: PooledScores,
    test: Part,
    a: int,
    b: int,
    train_pooled: PooledScores | None = None,
    train: Part | None = None,
) -> dict[str, Tensor]:
    """The composed model's predictions on ``test`` under every rule: the raw ``odds`` and
    ``probability`` comparisons and, given the training pool and part, ``calibrated``."""
    out = {}
    for rule in RULES:
        s, labels = module_stack(pooled, test, rule, rq, a, b)
        if rq == "reuse":
            out[rule] = reuse_decide(s[0], s[1])
        else:
            out[rule] = replace_decide(s[0], s[1:], labels[1:], a)
    if train_pooled is not None and train is not None:
        out["calibrated"] = calibrated_predictions(train_pooled, train, pooled, test, rq, a, b)
    return out
