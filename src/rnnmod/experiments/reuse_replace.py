"""RQ2 intra reuse and RQ3 intra replace (paper-method §10.1, §11.1), Tables III–IV beside ours.

**Intra reuse** — for every pair of (real) classes c1 < c2 of a model, the composed 2-class model
made of modules c1 and c2 against a model of the same architecture trained *from scratch* on the
two classes (``--legacy-baseline``: the paper's one-output baseline, the trained monolithic model
fine-tuned with a fresh 2-way head, 5 epochs, batch 32). Both are scored on the test
examples — for taggers the test positions — whose label is c1 or c2, each choosing between c1 and
c2 only. The scratch tagger sees whole sentences containing c1 or c2 with every other real tag
merged into one "other" class, so it learns exactly the decision asked of it.

**Intra replace** — among the four depths of a family, the *faulty* model is the one with the
lowest monolithic accuracy and the *best* the one with the highest; for each class c the faulty
model's modules with module c replaced by the best model's, evaluated on the whole test split;
Δ = composed − faulty monolithic accuracy (§11.1). Modules of both models score the same token ids
(same vocabulary, checked). A replaced set holds modules of two models, so by default their scores
are made comparable as for inter reuse (:mod:`rnnmod.composition.calibrate`): each module's log-odds
gets an affine map fitted on a seeded sample of the task's validation split where it has one
(Clinc), else of its training examples (taggers: their real positions), 2 numbers per module,
weights untouched. Every row also reports the paper's rule
(each module votes with its binary confidence, §11.1); ``rule="paper"`` makes that the headline.

Every module's scores are computed once per model on the whole test split; a pair or a
replacement is then rows of that score matrix, so no model is run per pair or per class.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..composition.calibrate import fit_calibration
from ..composition.scores import log_odds
from ..data import load_task
from ..data.base import TaskData, seeded_subset
from ..decomposition import decompose, preset
from ..decomposition.config import preset_key
from ..errors import RnnmodError
from ..metrics.accuracy import accuracy
from ..modules.module import ModuleBank, positive_probability, vote
from ..nn.zoo import keras_dense_, predict_logits
from ..runs import Run, load_run
from ..storage import read_json, write_bytes_atomic, write_csv, write_json
from ..training import TrainConfig, train_classifier
from .freshness import latest_rows
from .paper import FAMILY, _num, _rows

IO_ORDER = ("1:1", "M:1", "1:N", "M:N")
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
    path = opts.runs_dir / f"{task}-{cell}{depth}"
    if not (path / "metrics.json").is_file():
        raise RnnmodError(
            f"{path} is missing: train it first (rnnmod reproduce rq1 --tasks {task} --cells {cell} --depths {depth})"
        )
    run = load_run(path)
    if run.vocab.tokens != data.vocab.tokens:
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


def monolithic_accuracy(run: Run, data: TaskData) -> float:
    """Among the real classes (no padding class chosen), padding positions excluded."""
    logits = predict_logits(run.model, data.x_test)
    real = torch.tensor([c for c in range(run.model.cfg.n_classes) if c != data.pad_label])
    return accuracy(real[logits[..., real].argmax(-1)], data.y_test, data.pad_label)


# ---------------------------------------------------------------------------------------------
# intra reuse


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
        tc = TrainConfig(
            cell=cfg.cell,
            depth=cfg.depth,
            epochs=opts.epochs,
            seed=opts.seed,
            hidden=cfg.hidden,
            progress=False,
        )
        model, metrics = train_classifier(pdata, tc)
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
        key += ":keras-head"  # the fine-tuned head's init (PyTorch's before session 5)
    return cache / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"


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
    cache = opts.results_dir / "rq2" / "cache"
    rows = []
    for task in opts.tasks:
        data = eval_data(task, opts)
        for cell in opts.cells:
            for depth in opts.depths:
                run = load_family_run(task, cell, depth, data, opts)
                rows += reuse_rows(run, data, opts, cache)
    write_report(
        collect_cached(opts.results_dir, "rq2"), opts.results_dir, "rq2", "table3_reuse.csv"
    )
    return rows


# ---------------------------------------------------------------------------------------------
# intra replace


def replace_cache_file(
    shas: list[str], opts: RQ23Options, cache: Path, split: str = "train"
) -> Path:
    """The cache file of a family's rows: keyed by its models' hashes (in ``family_depths`` order)."""
    key = f"{':'.join(shas)}:{preset_key(opts.preset)}:{opts.mode}:{opts.max_test}"
    key += f":{opts.rule}:{CALIBRATION_EXAMPLES}:{opts.seed}"
    if split != "train":  # (training-split keys stay those of earlier versions)
        key += f":{split}"
    return cache / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"


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
    cache = opts.results_dir / "rq3" / "cache"
    rows = []
    for task in opts.tasks:
        data = eval_data(task, opts)
        for cell in tqdm(opts.cells, desc=f"rq3 {task}", disable=not opts.progress):
            rows += replace_rows(task, cell, data, opts, cache)
    write_report(
        collect_cached(opts.results_dir, "rq3"), opts.results_dir, "rq3", "table4_replace.csv"
    )
    return rows


# ---------------------------------------------------------------------------------------------
# reports


ROW_KEY = {
    "rq2": ("task", "cell", "depth", "mode", "preset", "class_1", "class_2", "baseline_kind"),
    "rq3": ("task", "cell", "mode", "preset", "class"),
}


def collect_cached(results_dir: Path, name: str) -> list[dict]:
    """Every cached row of earlier invocations too (the newest per key), so reports cover all
    tasks run so far, not just this invocation's."""
    return latest_rows(results_dir / name / "cache", ROW_KEY[name])


def paper_cell(table: str, io_type: str, cell: str) -> tuple[float | None, float | None]:
    """The paper's (mean, median) for an I/O type and cell; "1:1-1:N"-style types are Inter."""
    if cell not in FAMILY:
        return None, None
    kind = "Inter" if "-" in io_type else "Intra"
    for r in _rows(table):
        if r["Type"] == kind and r["I/O"] == io_type:
            return _num(r[f"{FAMILY[cell]} mean"]), _num(r[f"{FAMILY[cell]} median"])
    return None, None


def _beside(r: dict) -> tuple[str, float] | None:
    """A replace row's Δ under the rule beside its headline (rule name, Δ), if it has one."""
    for rule in REPLACE_RULES:
        v = r.get(f"delta_pp_{rule}_rule")
        if v not in (None, ""):  # (rows read back from a CSV hold every column, some empty)
            return rule, float(v)
    return None


def baseline_label(rows: list[dict]) -> str:
    """What the rows' Δ is measured against, with the baseline's epochs: "scratch, 10 ep"
    (a grid's baselines may be trained for fewer epochs than the paper's to save CPU time)."""
    kinds = sorted({str(r.get("baseline_kind")) for r in rows if r.get("baseline_kind")})
    if not kinds:
        return ""
    epochs = sorted(
        {int(r["baseline_epochs"]) for r in rows if r.get("baseline_epochs") not in (None, "")}
    )
    return "/".join(kinds) + (f", {'/'.join(map(str, epochs))} ep" if epochs else "")


def _io_rank(io: str) -> int:
    return IO_ORDER.index(io) if io in IO_ORDER else len(IO_ORDER)  # inter ("M:1-M:N") last


def summarize(rows: list[dict], table: str) -> list[dict]:
    """Mean, median and worst Δ per (type, I/O, task, cell, mode, baseline, rule), the rule
    beside's mean and the paper's cell: the one summary behind rq2.md, rq3.md and the report."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["type"], r["io_type"], r["task"], r["cell"], r["mode"], r.get("baseline_kind"))
        groups.setdefault((*key, r.get("rule") or ""), []).append(r)
    out = []
    for (kind, io, task, cell, mode, _base, rule), rs in sorted(
        groups.items(),
        key=lambda kv: (_io_rank(kv[0][1]), kv[0][1], kv[0][2], kv[0][3], str(kv[0][5]), kv[0][6]),
    ):
        ds = [r["delta_pp"] for r in rs]
        beside = [b for b in map(_beside, rs) if b is not None]
        pm, pmed = paper_cell(table, io, cell)
        out.append(
            {
                "type": kind,
                "io_type": io,
                "task": task,
                "cell": cell,
                "mode": mode,
                "baseline": baseline_label(rs),
                "rule": rule,
                "n": len(ds),
                "mean_delta_pp": statistics.fmean(ds),
                "median_delta_pp": statistics.median(ds),
                "worst_delta_pp": min(ds),
                "beside_rule": "/".join(sorted({b[0] for b in beside})),
                "mean_delta_beside_pp": statistics.fmean(b[1] for b in beside) if beside else None,
                "paper_mean": pm,
                "paper_median": pmed,
            }
        )
    return out


def _f(v: float | None) -> str:
    return "—" if v is None else f"{v:+.2f}"


def write_report(rows: list[dict], results_dir: Path, name: str, table: str) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    # the run path stays in the cache (freshness check), not in the shareable table
    keys = sorted({k for r in rows for k in r if not isinstance(r[k], dict) and k != "run"})
    write_csv(results_dir / f"{name}.csv", rows, keys)
    what = "intra reuse (Table III)" if name == "rq2" else "intra replace (Table IV)"
    lines = [
        f"# {name.upper()}: {what}",
        "",
        "Δ in percentage points; paper = the published table cell for the same I/O type and cell.",
        "Emotions (1:N) substitutes for the paper's toxic comments; MathQA is re-split from its test split.",
        "",
    ]
    if name == "rq3":
        lines[-1:-1] = [
            "Rule: `calibrated` — the modules' log-odds through per-module affine maps fitted on "
            f"up to {CALIBRATION_EXAMPLES} seeded examples of the split in the rows' "
            "`calibration_split` (a replaced set mixes two models); "
            "`paper` — each module votes with its confidence (§11.1). Both are measured on every row.",
        ]
    lines += [
        "| I/O | task | cell | mode | baseline | rule | n | mean Δ | median Δ | worst Δ "
        "| mean Δ, other rule | paper mean | paper median |",
        "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summarize(rows, table):
        other = f"{_f(s['mean_delta_beside_pp'])} ({s['beside_rule']})" if s["beside_rule"] else "—"
        lines.append(
            f"| {s['io_type']} | {s['task']} | {s['cell']} | {s['mode']} | {s['baseline'] or '—'} | "
            f"{s['rule'] or '—'} | {s['n']} | "
            f"{_f(s['mean_delta_pp'])} | {_f(s['median_delta_pp'])} | {_f(s['worst_delta_pp'])} | "
            f"{other} | {_f(s['paper_mean'])} | {_f(s['paper_median'])} |"
        )
    write_bytes_atomic(results_dir / f"{name}.md", ("\n".join(lines) + "\n").encode())
