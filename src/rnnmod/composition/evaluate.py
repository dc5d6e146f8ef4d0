"""RQ1 evaluation of a module set: monolithic vs composed accuracy on the test split (§7, §9)."""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..data import load_task
from ..data.base import TaskData
from ..errors import RnnmodError
from ..metrics.accuracy import accuracy
from ..metrics.cost import composed_cost, retained_per_layer
from ..metrics.jaccard import jaccard_legacy, jaccard_mask
from ..metrics.labels import entity_scores, is_iob, macro_f1
from ..modules.fill import removed_units_of
from ..modules.module import ModuleBank, monolithic_choice, vote
from ..modules.store import ModuleSet
from ..nn.zoo import predict_logits
from ..runs import Run


def changed_data_files(run: Run) -> list[str]:
    """The user data files recorded in the run's ``data_files`` whose bytes no longer hash to
    the recorded sha256 (a missing file is reported by the loader)."""
    changed = []
    for rec in run.config.get("data_files", []):
        path = Path(rec["path"])
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() != rec["sha256"]:
            changed.append(str(path))
    return changed


def load_data_for(run: Run, data_dir: Path | str | None) -> TaskData:
    """The run's task data, checked to encode text exactly as the run was trained; a user
    data file that changed since training is reported on stderr."""
    for path in changed_data_files(run):
        print(
            f"rnnmod: warning: {path} changed since the model was trained on it "
            "(its sha256 differs)",
            file=sys.stderr,
        )
    data = load_task(run.task, data_dir, **run.config.get("data_options", {}))
    if data.vocab.tokens != run.vocab.tokens:
        raise RnnmodError(
            f"the {run.task} data now yield a different vocabulary than {run.path} was trained with (changed data files?)"
        )
    if data.io_type != run.io_type:
        raise RnnmodError(
            f"the {run.task} data are {data.io_type} but {run.path} is a {run.io_type} model"
        )
    if data.label_names != run.label_names:
        unknown = [x for x in data.label_names if x not in run.label_names]
        detail = (
            f"unknown label(s) {', '.join(map(repr, unknown[:5]))}" if unknown else "another order"
        )
        raise RnnmodError(
            f"the {run.task} data now have other labels than {run.path} was trained with ({detail})"
        )
    check_fits(run, data)
    return data


def check_fits(run: Run, data: TaskData) -> None:
    """Refuse data the model cannot read: another sequence length, ids beyond its vocabulary,
    labels beyond its classes, another number of output steps."""
    cfg = run.model.cfg
    for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        if x.dim() != 2 or x.shape[1] != cfg.seq_len:
            raise RnnmodError(
                f"the {data.task} {split} split has rows of {x.shape[-1]} token ids but {run.path} reads {cfg.seq_len}"
            )
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= cfg.vocab_size):
            raise RnnmodError(
                f"the {data.task} {split} split has token ids outside the {cfg.vocab_size} ids {run.path} knows"
            )
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= cfg.n_classes):
            raise RnnmodError(
                f"the {data.task} {split} split has labels outside the {cfg.n_classes} classes of {run.path}"
            )
        steps = 1 if y.dim() == 1 else y.shape[-1]
        if y.dim() != (1 if run.model.one_output else 2) or (
            not run.model.one_output and steps != run.model.steps
        ):
            raise RnnmodError(
                f"the {data.task} {split} split has {steps} output step(s) per example but {run.path} "
                f"({run.io_type}) emits {1 if run.model.one_output else run.model.steps}"
            )


def budget_of(manifest: dict) -> dict | None:
    """What a learned budget promised and on what, from a module set's manifest (None when its
    masks were not learned under an accuracy budget): the tolerance, the confidence level, the
    validation split and the chosen checkpoint's reading there beside the monolithic model's."""
    learned = manifest.get("learned") or {}
    chosen = learned.get("chosen")
    if learned.get("tolerance_pp") is None or not isinstance(chosen, dict):
        return None  # a fixed target, or nothing within the budget
    if "val_accuracy" not in chosen:
        return None  # a translator's budget, per language (its own report)
    return {
        "tolerance_pp": learned["tolerance_pp"],
        "confidence": learned.get("confidence"),
        "validation": learned.get("validation"),
        "val_chosen": chosen["val_accuracy"],
        "val_monolithic": learned.get("val_monolithic"),
    }


@torch.no_grad()
def evaluate_moduleset(
    ms: ModuleSet,
    data_dir: Path | str | None = None,
    *,
    data: TaskData | None = None,
    progress: bool = False,
) -> dict:
    """Monolithic and composed test accuracy, Δ in percentage points, both Jaccard indices.
    ``progress``: a bar over the stages on stderr when it is a terminal."""
    run = ms.single_source
    bank = next(iter(ms.banks.values()))
    bar = progress_bar(progress)
    if data is None:
        bar.set_postfix_str("loading data", refresh=False)
        data = load_data_for(run, data_dir)
    bar.update(1)
    res = evaluate_bank(run, bank, data, output=ms.module_output, bar=bar)
    bar.close()
    res.update(mode=ms.manifest.get("mode"), preset=ms.manifest.get("config", {}).get("preset"))
    res["removed_units"] = removed_units_of(bank, ms.manifest.get("learned"))
    learned = budget_of(ms.manifest)
    if learned is not None:
        res["learned_budget"] = learned
    counts = data.extra.get("test_id_counts")  # ids per raw test text (rnnmod.data.tasks)
    texts = data.extra.get("texts_test")
    if counts is None and texts is not None and len(texts) == len(data.x_test):
        counts = [ids for _, ids in run.vocab.counts(texts)]
    if counts is not None and len(counts) == len(data.x_test):  # texts longer than it reads
        res["truncated"] = sum(c > run.vocab.seq_len for c in counts)
        if res["truncated"]:
            res["notes"] = [
                *res["notes"],
                f"{res['truncated']} of {len(counts)} test texts are longer than the "
                f"{run.vocab.seq_len} tokens the model reads (their ends are cut, as in training)",
            ]
    return res


EVALUATE_STAGES = ("data", "monolithic", "modules", "metrics")


def progress_bar(progress: bool) -> tqdm:
    """The evaluation's bar over :data:`EVALUATE_STAGES` on stderr: off unless ``progress``, and
    off when stderr is not a terminal (tqdm's ``disable=None``)."""
    return tqdm(
        total=len(EVALUATE_STAGES),
        desc="evaluate",
        unit="stage",
        disable=None if progress else True,
        file=sys.stderr,
    )


@torch.no_grad()
def evaluate_bank(
    run: Run,
    bank: ModuleBank,
    data: TaskData,
    *,
    output: str = "binary",
    bar: tqdm | None = None,
) -> dict:
    """Evaluate modules of ``run`` on ``data``'s test split.

    Many-output models are scored per position: ``monolithic``/``composed`` count real tokens
    only (labels ≠ padding); ``*_legacy`` count every position, padding included, as the paper
    did (§7). Without a padding module the monolithic model also chooses among the real
    classes, so that a module set with nothing removed scores exactly like its model. A subset of classes is evaluated on the examples (positions) of those classes,
    against the monolithic model restricted to the same classes.
    """
    start = time.perf_counter()
    check_fits(run, data)
    if bank.steps not in (1, run.model.steps):
        raise RnnmodError(
            f"the modules have masks for {bank.steps} steps but the model runs {run.model.steps}"
        )
    x, y = data.x_test, data.y_test
    pad = data.pad_label
    classes = torch.tensor(bank.class_index)
    real_classes = [c for c in range(run.model.cfg.n_classes) if c != pad]
    subset = not set(real_classes) <= set(bank.class_index)
    bar = bar if bar is not None else progress_bar(False)
    bar.set_postfix_str(f"monolithic, {len(x)} test examples", refresh=False)
    logits = predict_logits(run.model, x)
    bar.update(1)
    bar.set_postfix_str(f"{len(bank)} modules", refresh=False)
    scores = bank.scores(run.model, x, output=output)
    composed = vote(scores, bank.class_index)
    bar.update(1)
    bar.set_postfix_str("Jaccard, cost", refresh=False)
    if subset:
        # the monolithic baseline chooses among the same classes as the composed model
        mono = classes[logits[..., classes].argmax(-1)]
        keep = torch.isin(y, classes)
        if not keep.any():
            raise RnnmodError("the test split has no example of the composed model's classes")
        y_eval, mono, composed = y[keep], mono[keep], composed[keep]
    else:
        mono = monolithic_choice(logits, bank.class_index, pad)
        y_eval = y
    mono_acc = accuracy(mono, y_eval, pad)
    comp_acc = accuracy(composed, y_eval, pad)
    res = {
        "task": run.task,
        **({"task_name": run.config["task_name"]} if "task_name" in run.config else {}),
        "io_type": run.io_type,
        "cell": run.model.cfg.cell,
        "depth": run.model.cfg.depth,
        **({"structure": run.model.cfg.extensions()} if run.model.cfg.extensions() else {}),
        "monolithic": mono_acc,
        "composed": comp_acc,
        "delta_pp": 100.0 * (comp_acc - mono_acc),
        "jaccard_legacy": jaccard_legacy(run.model, bank),
        "jaccard_mask": jaccard_mask(run.model, bank),
        "retained_units": float(bank.retained_fraction().mean()),
        "retained_per_layer": retained_per_layer(bank),
        **composed_cost(run.model, bank),
        "kernel": bank.path_for(run.model, len(x)),  # what scored the composed model
        "n_modules": len(bank),
        "n_test": len(y_eval) if y_eval.dim() == 1 and pad is None else len(x),
        "subset": subset,
        "notes": data.notes,
    }
    res.update(label_metrics(mono, composed, y_eval, data, bank, subset))
    if pad is not None:
        res["n_positions"] = int((y_eval != pad).sum())
        res["n_positions_legacy"] = int(y_eval.numel())
        res["monolithic_legacy"] = accuracy(mono, y_eval)
        res["composed_legacy"] = accuracy(composed, y_eval)
        res["delta_pp_legacy"] = 100.0 * (res["composed_legacy"] - res["monolithic_legacy"])
        res["padding_module"] = pad in bank.class_index
    bar.update(1)
    res["seconds"] = round(time.perf_counter() - start, 3)
    return res


def label_metrics(
    mono: torch.Tensor,
    composed: torch.Tensor,
    y: torch.Tensor,
    data: TaskData,
    bank: ModuleBank,
    subset: bool,
) -> dict:
    """Macro-F1 over the modules' classes (real tokens only for taggers) and, for a tagger whose
    tags are all IOB/BIO (``O``, ``B-…``, ``I-…``), entity-level precision, recall and F1
    (seqeval), of the monolithic and the composed model."""
    pad = data.pad_label
    classes = [c for c in bank.class_index if c != pad]
    keep = torch.ones_like(y, dtype=torch.bool) if pad is None else y != pad
    out: dict = {}
    for name, pred in (("monolithic", mono), ("composed", composed)):
        out[f"macro_f1_{name}"] = macro_f1(pred[keep], y[keep], classes)
    tags = [n for i, n in enumerate(data.label_names) if i != pad]
    if pad is not None and not subset and y.dim() == 2 and is_iob(tags):
        for name, pred in (("monolithic", mono), ("composed", composed)):
            out[f"entity_{name}"] = entity_scores(pred, y, pad, data.label_names)
    return out
