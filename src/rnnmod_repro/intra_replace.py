"""RQ3 intra replace (paper-method §11.1, Table IV): among the four depths of a family, the
*faulty* model is the one with the lowest monolithic accuracy and the *best* the one with the
highest; for each class c the faulty model's modules with module c replaced by the best model's,
evaluated on the whole test split; Δ = composed − faulty monolithic accuracy. Modules of both
models score the same token ids (same vocabulary, checked).

A replaced set holds modules of two models, so by default their scores are made comparable as
for inter reuse (:mod:`rnnmod.modules.calibrate`): each module's log-odds gets an affine map
fitted on a seeded sample of the task's validation split where it has one (Clinc), else of its
training examples (taggers: their real positions), 2 numbers per module, weights untouched.
Every row also reports the paper's rule (each module votes with its binary confidence);
``rule="paper"`` makes that the headline. A family's rows are cached together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from rnnmod import RnnmodError, Run
from rnnmod.data.base import TaskData, seeded_subset
from rnnmod.decomposition.config import preset_key
from rnnmod.metrics.accuracy import accuracy
from rnnmod.modules.calibrate import fit_calibration
from rnnmod.modules.module import ModuleBank, positive_probability, vote
from rnnmod.modules.scores import log_odds
from rnnmod.storage import read_json, write_json

from .intra_models import (
    CALIBRATION_EXAMPLES,
    CALIBRATION_SPLITS,
    REPLACE_RULES,
    RQ23Options,
    load_family_run,
    mode_for,
    module_bank,
    monolithic_accuracy,
)
from .result_cache import cache_file
from .reuse_replace_summary import run_and_report


def calibration_split(data: TaskData, split: str = "train") -> str:
    """The split a replaced set's calibration is fitted on: ``val`` only where the task has one."""
    if split not in CALIBRATION_SPLITS:
        raise RnnmodError(
            f"unknown calibration split {split!r}; expected one of {', '.join(CALIBRATION_SPLITS)}"
        )
    return "val" if split == "val" and data.x_val is not None else "train"


def calibration_sample(
    data: TaskData, seed: int = 0, split: str = "train"
) -> tuple[Tensor, Tensor]:
    """The seeded examples (ids, labels) of :func:`calibration_split` a replaced set's
    calibration is fitted on: texts the models were not trained on, where the task allows."""
    if calibration_split(data, split) == "val":
        x, y = data.x_val, data.y_val
    else:
        x, y = data.x_train, data.y_train
    keep = seeded_subset(len(x), CALIBRATION_EXAMPLES, seed)
    return x[keep], y[keep]


@dataclass
class ReplaceScores:
    """One model's modules on the test split (confidence for the paper's vote, log-odds for the
    calibrated rule) and on the calibration sample (log-odds)."""

    bank: ModuleBank
    test_prob: Tensor  # [K, B(, T)]
    test_odds: Tensor
    fit_odds: Tensor

    def tensors(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.test_prob, self.test_odds, self.fit_odds


def _swap(mine: Tensor, theirs: Tensor, k: int) -> Tensor:
    """``mine`` with module k's row taken from ``theirs``."""
    out = mine.clone()
    out[k] = theirs[k]
    return out


def replace_scores(run: Run, data: TaskData, fit_ids: Tensor, opts: RQ23Options) -> ReplaceScores:
    bank, output = module_bank(run, data, opts)
    z = bank.scores(run.model, data.x_test, output="logits")
    prob = positive_probability(z, output, run.model.cfg.n_classes)
    fit = log_odds(bank.scores(run.model, fit_ids, output="logits"))
    return ReplaceScores(bank, prob, log_odds(z), fit)


def calibrated_vote(fit_odds: Tensor, fit_y: Tensor, odds: Tensor, labels: list[int]) -> Tensor:
    """Fit per-module affine maps on the labelled positions of the calibration sample (those whose
    label has a module) and predict the test split's labels [B(, T)] with them."""
    lab = torch.as_tensor(labels)
    where = torch.full((max(max(labels), int(fit_y.max())) + 1,), -1, dtype=torch.long)
    where[lab] = torch.arange(len(labels))
    target = where[fit_y]
    on = target >= 0
    return lab[fit_calibration(fit_odds[:, on], target[on]).predict(odds)]


def replace_cache_file(
    shas: list[str], opts: RQ23Options, cache: Path, split: str = "train"
) -> Path:
    """The cache file of a family's rows: keyed by its models' hashes (in ``family_depths`` order)."""
    key = f"{':'.join(shas)}:{preset_key(opts.preset)}:{opts.mode}:{opts.max_test}"
    key += f":{opts.rule}:{CALIBRATION_EXAMPLES}:{opts.seed}"
    if split != "train":  # training-split keys name no split
        key += f":{split}"
    return cache_file(cache, key)


def replace_rows(
    task: str, cell: str, data: TaskData, opts: RQ23Options, cache: Path
) -> list[dict]:
    if opts.rule not in REPLACE_RULES:
        raise RnnmodError(f"unknown replace rule {opts.rule!r} (one of {', '.join(REPLACE_RULES)})")
    runs = {d: load_family_run(task, cell, d, data, opts) for d in opts.family_depths}
    shas = {d: runs[d].model_sha256() for d in opts.family_depths}  # each model hashed once
    split = calibration_split(data, opts.calibrate_on)
    f = replace_cache_file(list(shas.values()), opts, cache, split)
    if f.is_file():
        return read_json(f)
    mma = {d: monolithic_accuracy(r, data) for d, r in runs.items()}
    worst, best = min(mma, key=mma.get), max(mma, key=mma.get)
    fit_ids, fit_y = calibration_sample(data, opts.seed, split)
    w, b = (replace_scores(runs[d], data, fit_ids, opts) for d in (worst, best))
    if w.bank.class_index != b.bank.class_index:
        raise RnnmodError(f"{task} {cell}: the faulty and best models have different modules")
    y, pad = data.y_test, data.pad_label
    labels = w.bank.class_index

    def both(prob: Tensor, odds: Tensor, fit: Tensor) -> dict[str, float]:
        paper = accuracy(vote(prob, labels), y, pad)
        calibrated = accuracy(calibrated_vote(fit, fit_y, odds, labels), y, pad)
        return {"paper": paper, "calibrated": calibrated}

    before = both(*w.tensors())
    legacy = "calibrated" if opts.rule == "paper" else "paper"  # the rule beside the headline
    models = {str(runs[d].path): shas[d] for d in runs}  # for the freshness check
    rows = []
    for k, c in enumerate(labels):
        acc = both(*(_swap(mine, theirs, k) for mine, theirs in zip(w.tensors(), b.tensors())))
        rows.append(
            {
                "rq": "replace",
                "type": "intra",
                "task": task,
                "io_type": runs[worst].io_type,
                "cell": cell,
                "depth": worst,
                "best_depth": best,
                "mode": mode_for(runs[worst], opts),
                "preset": opts.preset,
                "rule": opts.rule,
                "class": runs[worst].label_names[c],
                "faulty_monolithic": mma[worst],
                "best_monolithic": mma[best],
                "faulty_composed": before[opts.rule],
                "composed": acc[opts.rule],
                "delta_pp": 100.0 * (acc[opts.rule] - mma[worst]),
                f"faulty_composed_{legacy}_rule": before[legacy],
                f"composed_{legacy}_rule": acc[legacy],
                f"delta_pp_{legacy}_rule": 100.0 * (acc[legacy] - mma[worst]),
                "calibration_examples": len(fit_ids),
                "calibration_split": split,
                "monolithic_by_depth": {str(d): a for d, a in mma.items()},  # as JSON reads it
                "models": models,
            }
        )
    write_json(f, rows)
    return rows


def run_rq3(opts: RQ23Options) -> list[dict]:
    def task_rows(task: str, data: TaskData, cache: Path) -> list[dict]:
        cells = tqdm(opts.cells, desc=f"rq3 {task}", disable=not opts.progress)
        return [r for cell in cells for r in replace_rows(task, cell, data, opts, cache)]

    return run_and_report(opts, "rq3", task_rows)
