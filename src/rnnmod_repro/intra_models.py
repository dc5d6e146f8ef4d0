"""What RQ2 intra reuse and RQ3 intra replace share (paper-method §10.1, §11.1): their options,
the family's trained runs and every module's scores on the test split.

Every module's scores are computed once per model on the whole test split; a pair
(:mod:`.intra_reuse`) or a replacement (:mod:`.intra_replace`) is then rows of that score
matrix, so no model is run per pair or per class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from rnnmod import RnnmodError, Run, load_task, preset
from rnnmod.data.base import TaskData
from rnnmod.decomposition import decompose
from rnnmod.metrics.accuracy import accuracy
from rnnmod.modules.module import ModuleBank
from rnnmod.nn.zoo import predict_logits

from .rq1_cost import run_dir, trained_run

REPLACE_RULES = ("calibrated", "paper")
# seeded examples (taggers: sentences) a replaced set's calibration is fitted on, at most
CALIBRATION_EXAMPLES = 4000
# where that sample comes from: the validation split where the task has one (Clinc: texts the
# models never saw), else the training split; each row says which it used
CALIBRATION_SPLITS = ("train", "val")


@dataclass
class RQ23Options:
    tasks: list[str]
    cells: list[str]
    depths: list[int]  # reuse: the models whose pairs are measured; replace: always 1-4
    mode: str | None = None  # None: unrolled where it exists (1:1 has one step: rolled)
    preset: str = "default"
    runs_dir: Path = Path("runs")
    results_dir: Path = Path("results")
    data_dir: Path | None = None
    max_test: int | None = None
    max_pairs: int | None = None  # reuse: the first N pairs in (c1, c2) order
    epochs: int | None = None  # scratch baseline epochs (default: the task's training epochs)
    legacy_baseline: bool = False
    family_depths: tuple[int, ...] = (1, 2, 3, 4)  # replace: the depths worst/best come from
    rule: str = "calibrated"  # replace: the headline decision rule (REPLACE_RULES)
    calibrate_on: str = "val"  # replace: the split the calibration sample comes from
    seed: int = 0
    progress: bool = True


def eval_data(task: str, opts: RQ23Options) -> TaskData:
    return load_task(task, opts.data_dir).limit_test(opts.max_test, opts.seed)


def load_family_run(task: str, cell: str, depth: int, data: TaskData, opts: RQ23Options) -> Run:
    run = trained_run(opts.runs_dir, task, cell, depth)
    if run.vocab.tokens != data.vocab.tokens:
        path = run_dir(opts.runs_dir, task, cell, depth)
        raise RnnmodError(f"{path} was trained with another vocabulary than the {task} data give")
    return run


def mode_for(run: Run, opts: RQ23Options) -> str:
    return opts.mode or ("rolled" if run.io_type == "1:1" else "unrolled")


def module_bank(run: Run, data: TaskData, opts: RQ23Options) -> tuple[ModuleBank, str]:
    """The run's modules (the options' preset and mode) and the preset's module output."""
    cfg = preset(opts.preset, mode=mode_for(run, opts))
    return decompose(run.model, data, cfg, progress=False).bank, cfg.module_output


def module_scores(run: Run, data: TaskData, opts: RQ23Options) -> tuple[ModuleBank, Tensor]:
    bank, output = module_bank(run, data, opts)
    return bank, bank.scores(run.model, data.x_test, output=output)


def monolithic_accuracy(run: Run, data: TaskData) -> float:
    """Among the real classes (no padding class chosen), padding positions excluded."""
    logits = predict_logits(run.model, data.x_test)
    real = torch.tensor([c for c in range(run.model.cfg.n_classes) if c != data.pad_label])
    return accuracy(real[logits[..., real].argmax(-1)], data.y_test, data.pad_label)
