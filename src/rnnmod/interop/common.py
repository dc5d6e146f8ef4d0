"""What every import path shares: checking a model against a task's data, writing a run."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from ..data.base import TaskData
from ..errors import RnnmodError
from ..nn.zoo import SeqClassifier

#: where a run saved from Python keeps the ids of data of its own
IDS_FILE = "data.safetensors"


def check_fits_data(model: SeqClassifier, data: TaskData, *, hint: str = "") -> None:
    """One-line errors when the model cannot read ``data`` exactly as it was trained to."""
    cfg = model.cfg
    extra = f" ({hint})" if hint else ""
    if cfg.io_type != data.io_type:
        raise RnnmodError(
            f"the model is a {cfg.io_type} classifier but task {data.task!r} is {data.io_type}"
        )
    if cfg.n_classes != data.n_classes:
        raise RnnmodError(
            f"the model has {cfg.n_classes} outputs but task {data.task!r} has {data.n_classes} classes"
        )
    if data.vocab.size > cfg.vocab_size:
        raise RnnmodError(
            f"the {data.task} vocabulary has {data.vocab.size} ids but the embedding only "
            f"{cfg.vocab_size} rows: the model was trained on another tokenisation{extra}"
        )
    if data.vocab.size < cfg.vocab_size:
        raise RnnmodError(
            f"the {data.task} vocabulary has {data.vocab.size} ids, fewer than the embedding's "
            f"{cfg.vocab_size} rows: the model was trained on another tokenisation{extra}"
        )
    if data.x_test.shape[1] != cfg.seq_len:
        raise RnnmodError(
            f"the model takes {cfg.seq_len} ids per example but the {data.task} data give {data.x_test.shape[1]}"
        )
    if not model.one_output and data.y_test.shape[1] != model.steps:
        raise RnnmodError(
            f"the model emits {model.steps} labels per example but the {data.task} data have {data.y_test.shape[1]}"
        )


def save_model_run(
    out: Path | str,
    model: SeqClassifier,
    data: TaskData,
    *,
    config: dict | None = None,
    overwrite: bool = False,
    data_options: dict | None = None,
) -> tuple[Path, dict]:
    """Write ``model`` as a run directory of ``data``'s task, with its test accuracy.

    The result works with every command (``evaluate``, ``decompose``, ``compose``…). For a named
    task (``load_task(name, …)``) the run records ``data_options`` (what you passed to
    ``load_task``) and reloads the task from the data directory. For data of your own — a
    :class:`TaskData` no named task gives (your vocabulary, your tokenisation, your splits) —
    the ids of every split go into the run as ``data.safetensors`` (the ``ids`` task, recorded
    with its absolute path and sha256), so the command line needs no Python to use it.
    ``config.json`` records where the model came from.
    """
    from ..data.idsfile import ids_file_bytes
    from ..data.tasks import LOADERS, PRE_TOKENISED_TASKS
    from ..runs import save_run
    from ..training import evaluate_model

    check_fits_data(model, data)
    start = time.perf_counter()
    acc = evaluate_model(model, data)
    cfg = model.cfg
    own = data.task not in LOADERS or data.task in PRE_TOKENISED_TASKS
    if own and data_options:
        raise RnnmodError(
            f"data_options apply to named tasks; {data.task!r} is data of your own (its ids are "
            "saved with the run)"
        )
    out = Path(out)
    full = {
        "task": data.task,
        "io_type": cfg.io_type,
        "cell": cfg.cell,
        "depth": cfg.depth,
        "seed": None,
        "pad_label": data.pad_label,
        "data_options": dict(data_options or {}),
        **(config or {}),
    }
    extra_files = {}
    if own:
        blob = ids_file_bytes(data)
        where = out.resolve() / IDS_FILE
        extra_files[IDS_FILE] = blob
        full |= {
            "task": "ids",
            "task_name": data.task,
            "data_options": {"file": str(where)},
            "data_files": [{"path": str(where), "sha256": hashlib.sha256(blob).hexdigest()}],
        }
    metrics = {
        "test_accuracy": acc,
        "train_seconds": 0.0,
        "eval_seconds": round(time.perf_counter() - start, 3),
    }
    if "semantics" in full:
        metrics["semantics"] = full["semantics"]
    path = save_run(
        out,
        model,
        full,
        data.vocab,
        data.label_names,
        metrics,
        overwrite=overwrite,
        extra_files=extra_files,
    )
    return path, metrics
