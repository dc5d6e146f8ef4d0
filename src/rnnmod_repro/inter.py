"""RQ2 inter reuse and RQ3 inter replace (paper-method §10.2, §11.2): modules of two models of
different I/O types and different vocabularies composed on raw text.

Two problem families, each pairing a one-output task with a many-output task:

* ``M:1-M:N``: Clinc domains (M:1) with Brown tags (M:N);
* ``1:1-1:N``: MathQA categories (1:1) with emotions labels (1:N, the stand-in for toxic).

The problems and their decisions are built in :mod:`.inter_problems`, the modules' scores in
:mod:`.inter_scores`; this module measures the grid of combos against its baselines.

**Baselines**: a model of the one-output run's architecture (cell, depth, hidden, embedding,
sequence length) trained from scratch on the new problem, with a vocabulary fitted on the
problem's training texts tokenised by the one-output task's tokenizer (at most as many ids as
the run's own vocabulary). Δ = composed − baseline accuracy (pp) on the same test examples.
Each combo's baseline is cached under ``results/<rq>_inter/cache``; a combo is then a lookup in
the pooled scores plus one scratch training.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch
from torch import Tensor

from rnnmod import RnnmodError
from rnnmod.data.base import TaskData
from rnnmod.data.vocab import Vocab, tokenize
from rnnmod.decomposition.config import preset_key
from rnnmod.metrics.accuracy import accuracy
from rnnmod.nn.zoo import predict_logits
from rnnmod.storage import write_json
from rnnmod.training import TrainConfig, fresh_model, train_classifier

from .inter_problems import (
    MANY,
    ONE,
    PROBLEMS,
    InterOptions,
    Part,
    combos,
    paper_rule,
    replace_parts,
    reuse_parts,
)
from .inter_report import collect_inter, write_inter_report
from .inter_scores import DECISIONS, Side, composed_predictions, load_side, pooled_scores
from .result_cache import cached_json
from .rq1_cost import scratch_config


def part_texts(part: Part, one: TaskData, many: TaskData, split: str) -> list[str]:
    texts = {ONE: one.extra[f"texts_{split}"], MANY: many.extra[f"texts_{split}"]}
    return [texts[s][i] for s, i in zip(part.src.tolist(), part.idx.tolist())]


def problem_data(
    one: Side, many: Side, train: Part, test: Part, label_names: list[str], note: str
) -> TaskData:
    """The new problem as id tensors under a vocabulary fitted on its training texts."""
    rv = one.run.vocab
    tr_texts = part_texts(train, one.data, many.data, "train")
    te_texts = part_texts(test, one.data, many.data, "test")
    vocab = Vocab.fit(
        tokenize(tr_texts, rv.tokenizer),
        tokenizer=rv.tokenizer,
        seq_len=rv.seq_len,
        padding=rv.padding,
        truncating=rv.truncating,
        max_size=rv.size,
    )
    return TaskData(
        one.data.task,
        one.data.io_type,
        vocab.encode_texts(tr_texts),
        train.y.clone(),
        vocab.encode_texts(te_texts),
        test.y.clone(),
        vocab,
        label_names,
        notes=[note],
    )


BASELINE_INIT = TrainConfig().init  # scratch baselines start as every model of the zoo does


def baseline_accuracy(one: Side, pdata: TaskData, opts: InterOptions) -> tuple[float, dict, Tensor]:
    cfg = dataclasses.replace(
        one.run.model.cfg, vocab_size=pdata.vocab.size, n_classes=pdata.n_classes
    )
    torch.manual_seed(opts.seed)
    model = fresh_model(cfg, BASELINE_INIT)
    model, metrics = train_classifier(
        pdata, scratch_config(cfg, opts.epochs, opts.seed), model=model
    )
    metrics["init"] = BASELINE_INIT  # a fresh model handed in, not a trained one fine-tuned
    pred = predict_logits(model, pdata.x_test).argmax(-1)
    return accuracy(pred, pdata.y_test), metrics, pred


def _row_base(rq: str, problem: str, one: Side, many: Side, opts: InterOptions) -> dict:
    c = one.run.model.cfg
    sha_one, sha_many = one.run.model_sha256(), many.run.model_sha256()
    return {
        "rq": rq,
        "type": "inter",
        "io_type": problem,
        "task": f"{one.run.task}+{many.run.task}",
        "cell": c.cell,
        "depth": c.depth,
        "mode": f"{one.mode}/{many.mode}",
        "preset": opts.preset,
        "test_cap": opts.test_cap,
        "seed": opts.seed,
        "model_sha256": sha_one,
        "many_model_sha256": sha_many,
        # run → model hash: the reports drop the row once a run holds another model (freshness)
        "models": {str(one.run.path): sha_one, str(many.run.path): sha_many},
    }


def _cached(cache: Path, key: str) -> tuple[Path, dict | None]:
    return cached_json(cache, key)


def _combo_key(rq: str, base: dict, a: int, b: int, opts: InterOptions) -> str:
    pkey = preset_key(opts.preset)
    parts = (rq, base["model_sha256"], base["many_model_sha256"], pkey, base["mode"], a, b)
    return ":".join(str(v) for v in (*parts, opts.test_cap, opts.epochs, opts.seed, BASELINE_INIT))


def inter_rows(
    rq: str,
    problem: str,
    cell: str,
    depth: int,
    opts: InterOptions,
    only: list[tuple[int, int]] | None = None,
) -> list[dict]:
    """One row per combo (``only``: just these (one-output class, many-output label) combos of
    the grid — a task's chunk). The scratch baseline (the slow part) is cached per combo under
    ``<rq>_inter/cache``; the composed accuracies are lookups in the pooled scores (cached under
    ``inter_scores``) and are recomputed on every call; finished rows go to ``<rq>_inter/rows``."""
    one_task, many_task = PROBLEMS[problem]
    one, many = (load_side(t, cell, depth, opts) for t in (one_task, many_task))
    out_dir = opts.results_dir / f"{'rq2' if rq == 'reuse' else 'rq3'}_inter"
    o, m = one.data, many.data
    one_labels = list(range(o.n_classes))
    many_labels = [c for c in range(m.n_classes) if c != m.pad_label]
    grid = combos(one_labels, many_labels, opts)
    if only is not None:
        chunk = {tuple(x) for x in only}
        grid = [c for c in grid if c in chunk]
    base = _row_base(rq, problem, one, many, opts)
    ys = ((o.y_train, o.y_test), (m.y_train, m.y_test))
    if opts.rule not in ("calibrated", "paper"):
        raise RnnmodError(f"unknown inter rule {opts.rule!r}; expected calibrated or paper")
    legacy = paper_rule(rq, problem)
    rule = legacy if opts.rule == "paper" else "calibrated"
    score_dir = opts.results_dir / "inter_scores"
    pooled = pooled_scores(one, many, score_dir, opts)
    train_pooled = pooled_scores(one, many, score_dir, opts, split="train")
    rows = []
    for a, b in grid:
        key = _combo_key(rq, base, a, b, opts)
        if rq == "reuse":
            train, test = reuse_parts(*ys, a=a, b=b, cap=opts.test_cap, seed=opts.seed)
            names = [f"{m.label_names[b]} ({m.task})", f"{o.label_names[a]} ({o.task})"]
        else:
            train, test = replace_parts(*ys, f=a, b=b, cap=opts.test_cap, seed=opts.seed)
            names = list(o.label_names)
            names[a] = f"{m.label_names[b]} ({m.task}) as {o.label_names[a]}"
        inj = test.src == MANY
        f, trained = _cached(out_dir / "cache", key)
        if trained is None:
            t0 = time.perf_counter()
            note = f"inter {rq} {problem}: {o.label_names[a]} / {m.label_names[b]}"
            pdata = problem_data(one, many, train, test, names, note)
            baseline, metrics, base_pred = baseline_accuracy(one, pdata, opts)
            trained = {
                "baseline": baseline,
                "baseline_kind": "scratch",
                "baseline_epochs": metrics["epochs"],
                "baseline_vocab": pdata.vocab.size,
                "baseline_many_group": accuracy(base_pred[inj], test.y[inj]),
                "baseline_one_group": accuracy(base_pred[~inj], test.y[~inj]),
                "n_train": len(train),
                "combo_seconds": round(time.perf_counter() - t0, 2),
            }
            write_json(f, trained)
        pred = composed_predictions(rq, problem, pooled, test, a, b, train_pooled, train)
        composed = accuracy(pred[rule], test.y)
        row = {
            **base,
            ("class_2" if rq == "reuse" else "class"): o.label_names[a],
            ("class_1" if rq == "reuse" else "replacement"): m.label_names[b],
            "rule": rule,
            "paper_rule": legacy,
            "composed": composed,
            **{k: trained[k] for k in ("baseline", "baseline_kind", "baseline_epochs")},
            "delta_pp": 100.0 * (composed - trained["baseline"]),
            **{f"composed_{d}_rule": accuracy(pred[d], test.y) for d in DECISIONS},
            "delta_pp_paper_rule": 100.0 * (accuracy(pred[legacy], test.y) - trained["baseline"]),
            # per source group: the many-output examples (label b / injected as f) and the rest
            "composed_many_group": accuracy(pred[rule][inj], test.y[inj]),
            "composed_one_group": accuracy(pred[rule][~inj], test.y[~inj]),
            "composed_one_group_paper_rule": accuracy(pred[legacy][~inj], test.y[~inj]),
            **{k: trained[k] for k in ("baseline_many_group", "baseline_one_group")},
            **{k: trained[k] for k in ("baseline_vocab", "n_train", "combo_seconds")},
            "n_test": len(test),
            "n_test_injected": int(inj.sum()),
        }
        write_json(out_dir / "rows" / f.name, row)
        rows.append(row)
        if opts.progress:
            print(
                f"inter {rq} {problem} {cell}-{depth} {o.label_names[a]}/{m.label_names[b]}: "
                f"composed {composed:.4f} baseline {row['baseline']:.4f} "
                f"Δ {row['delta_pp']:+.2f} pp (baseline {row['combo_seconds']:.0f} s)",
                flush=True,
            )
    return rows


def run_inter(rq: str, opts: InterOptions) -> list[dict]:
    """rq = "reuse" (RQ2) or "replace" (RQ3); writes results/rq2_inter.{csv,md} or rq3_inter."""
    if rq not in ("reuse", "replace"):
        raise ValueError(rq)
    rows = []
    for problem in opts.problems:
        if problem not in PROBLEMS:
            raise RnnmodError(f"unknown inter problem {problem!r}; expected {', '.join(PROBLEMS)}")
        for cell in opts.cells:
            for depth in opts.depths:
                rows += inter_rows(rq, problem, cell, depth, opts)
    name = "rq2_inter" if rq == "reuse" else "rq3_inter"
    write_inter_report(collect_inter(opts.results_dir, name), opts.results_dir, name)
    return rows
