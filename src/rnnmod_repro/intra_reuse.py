"""RQ2 intra reuse (paper-method §10.1, Table III): for every pair of (real) classes c1 < c2 of
a model, the composed 2-class model made of modules c1 and c2 against a model of the same
architecture trained *from scratch* on the two classes (``--legacy-baseline``: the paper's
one-output baseline, the trained monolithic model fine-tuned with a fresh 2-way head, 5 epochs,
batch 32). Both are scored on the test examples — for taggers the test positions — whose label
is c1 or c2, each choosing between c1 and c2 only. The scratch tagger sees whole sentences
containing c1 or c2 with every other real tag merged into one "other" class, so it learns
exactly the decision asked of it. Each pair's row is cached on its own.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from rnnmod import RnnmodError, Run
from rnnmod.data.base import TaskData
from rnnmod.decomposition.config import preset_key
from rnnmod.metrics.accuracy import accuracy
from rnnmod.modules.module import vote
from rnnmod.nn.zoo import keras_dense_, predict_logits
from rnnmod.storage import read_json, write_json
from rnnmod.training import TrainConfig, train_classifier

from .intra_models import RQ23Options, load_family_run, mode_for, module_scores
from .result_cache import cache_file
from .reuse_replace_summary import run_and_report
from .rq1_cost import scratch_config


def pair_data(data: TaskData, c1: int, c2: int) -> TaskData:
    """The 2-class problem: one-output → examples of c1/c2 labelled 0/1; taggers → sentences
    holding c1 or c2, tags padding 0, c1 → 1, c2 → 2, any other real tag → 3 ("other")."""

    def relabel(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if y.dim() == 1:
            keep = (y == c1) | (y == c2)
            return x[keep], (y[keep] == c2).long()
        keep = ((y == c1) | (y == c2)).any(1)
        y = y[keep]
        z = torch.full_like(y, 3)
        z[y == data.pad_label] = 0
        z[y == c1], z[y == c2] = 1, 2
        return x[keep], z

    xtr, ytr = relabel(data.x_train, data.y_train)
    xte, yte = relabel(data.x_test, data.y_test)
    many = data.y_train.dim() > 1
    names = [data.label_names[c1], data.label_names[c2]]
    return TaskData(
        data.task,
        data.io_type,
        xtr,
        ytr,
        xte,
        yte,
        data.vocab,
        ["<pad>", *names, "other"] if many else names,
        data.out_steps,
        0 if many else None,
        [*data.notes, f"pair {names[0]} / {names[1]}"],
    )


def baseline_accuracy(run: Run, pdata: TaskData, opts: RQ23Options) -> tuple[float, dict]:
    """A model for the pair, scored choosing between the two classes on their test positions."""
    cfg = run.model.cfg
    many = pdata.y_train.dim() > 1
    if opts.legacy_baseline:
        if many:
            raise RnnmodError("--legacy-baseline applies to one-output models (1:1, M:1)")
        model = copy.deepcopy(run.model)
        torch.manual_seed(opts.seed)
        model.head = keras_dense_(nn.Linear(cfg.hidden, 2))  # a fresh Keras Dense, as §10.1
        model.cfg = dataclasses.replace(cfg, n_classes=2)
        tc = TrainConfig(
            cell=cfg.cell, depth=cfg.depth, epochs=5, batch_size=32, seed=opts.seed, progress=False
        )
        model, metrics = train_classifier(pdata, tc, model=model)
    else:
        model, metrics = train_classifier(pdata, scratch_config(cfg, opts.epochs, opts.seed))
    logits = predict_logits(model, pdata.x_test)
    two = torch.tensor([1, 2] if many else [0, 1])
    pred = two[logits[..., two].argmax(-1)]
    target = pdata.y_test
    if many:  # score the c1/c2 positions only
        pred = torch.where(torch.isin(target, two), pred, torch.zeros_like(pred))
        target = torch.where(torch.isin(target, two), target, torch.zeros_like(target))
    return accuracy(pred, target, 0 if many else None), metrics


def class_pairs(n_classes: int, pad_label: int | None, opts: RQ23Options) -> list[tuple[int, int]]:
    """The measured (c1, c2) pairs of a model, c1 < c2, the first ``max_pairs`` of them."""
    classes = [c for c in range(n_classes) if c != pad_label]
    pairs = [(a, b) for i, a in enumerate(classes) for b in classes[i + 1 :]]
    return pairs[: opts.max_pairs] if opts.max_pairs else pairs


def pair_cache_file(sha: str, mode: str, c1: int, c2: int, opts: RQ23Options, cache: Path) -> Path:
    base = "legacy-finetune" if opts.legacy_baseline else "scratch"
    pkey = preset_key(opts.preset)
    key = f"{sha}:{pkey}:{mode}:{c1}:{c2}:{base}:{opts.epochs}:{opts.max_test}:{opts.seed}"
    if opts.legacy_baseline:
        key += ":keras-head"  # the fine-tuned head's init (keys without it: PyTorch's init)
    return cache_file(cache, key)


def reuse_rows(
    run: Run,
    data: TaskData,
    opts: RQ23Options,
    cache: Path,
    pairs: list[tuple[int, int]] | None = None,
) -> list[dict]:
    """Rows of ``pairs`` (default: every measured pair of the model), each cached on its own."""
    if pairs is None:
        pairs = class_pairs(run.model.cfg.n_classes, data.pad_label, opts)
    sha = run.model_sha256()
    mode = mode_for(run, opts)
    base = "legacy-finetune" if opts.legacy_baseline else "scratch"
    scores = bank = None
    rows = []
    bar = tqdm(pairs, desc=f"rq2 {run.task} {run.model.cfg.cell}-{run.model.cfg.depth}",
               disable=not opts.progress, unit="pair")  # fmt: skip
    for c1, c2 in bar:
        f = pair_cache_file(sha, mode, c1, c2, opts, cache)
        if f.is_file():
            rows.append(read_json(f))
            continue
        if scores is None:
            bank, scores = module_scores(run, data, opts)
        idx = [bank.class_index.index(c1), bank.class_index.index(c2)]
        pred = vote(scores[idx], [c1, c2])
        y = data.y_test
        on = (y == c1) | (y == c2)
        composed = float((pred[on] == y[on]).float().mean())
        t0 = time.perf_counter()
        baseline, metrics = baseline_accuracy(run, pair_data(data, c1, c2), opts)
        row = {
            "rq": "reuse",
            "type": "intra",
            "task": run.task,
            "io_type": run.io_type,
            "cell": run.model.cfg.cell,
            "depth": run.model.cfg.depth,
            "mode": mode,
            "preset": opts.preset,
            "class_1": run.label_names[c1],
            "class_2": run.label_names[c2],
            "composed": composed,
            "baseline": baseline,
            "baseline_kind": base,
            "baseline_epochs": metrics["epochs"],
            "baseline_train_seconds": round(time.perf_counter() - t0, 2),
            "delta_pp": 100.0 * (composed - baseline),
            "n_test": int(on.sum()),
            "model_sha256": sha,
            "run": str(run.path),
        }
        write_json(f, row)
        rows.append(row)
    return rows


def run_rq2(opts: RQ23Options) -> list[dict]:
    def task_rows(task: str, data: TaskData, cache: Path) -> list[dict]:
        rows = []
        for cell in opts.cells:
            for depth in opts.depths:
                run = load_family_run(task, cell, depth, data, opts)
                rows += reuse_rows(run, data, opts, cache)
        return rows

    return run_and_report(opts, "rq2", task_rows)
