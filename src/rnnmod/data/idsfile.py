"""Task data as one file of ids: what a run saved from Python with data of its own carries.

A user who tokenised their data themselves (their own :class:`~rnnmod.data.vocab.Vocab`, their
own splits) has a :class:`~rnnmod.data.base.TaskData` that no named task rebuilds. Written as a
safetensors file — the id and label tensors of every split, and in its metadata the JSON of
everything else (vocabulary, labels, I/O type, padding label, notes) — it is read back by the
``ids`` task (``load_task("ids", file=PATH)``), so every command works on such a run with no
Python. The same encoding serves the tokenised-data cache (:mod:`rnnmod.data.cache`).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import RnnmodError
from .base import TaskData
from .vocab import Vocab

FORMAT = "rnnmod.task_ids/1"
#: TaskData.extra entries an ids file keeps (raw texts, when the user's data had them)
KEPT_EXTRA = ("texts_train", "texts_test", "test_id_counts")


def encode_task(data: TaskData) -> tuple[dict, dict]:
    """TaskData → (tensors, JSON-able content)."""
    tensors = {"x_train": data.x_train, "y_train": data.y_train}
    tensors |= {"x_test": data.x_test, "y_test": data.y_test}
    if data.x_val is not None:
        tensors |= {"x_val": data.x_val, "y_val": data.y_val}
    content = {
        "task": data.task,
        "io_type": data.io_type,
        "vocab": data.vocab.to_dict(),
        "label_names": data.label_names,
        "out_steps": data.out_steps,
        "pad_label": data.pad_label,
        "notes": data.notes,
        "extra": data.extra,
    }
    return tensors, content


def decode_task(tensors: dict, content: dict) -> TaskData:
    """(tensors, content) → TaskData (the inverse of :func:`encode_task`)."""
    return TaskData(
        task=content["task"],
        io_type=content["io_type"],
        x_train=tensors["x_train"],
        y_train=tensors["y_train"],
        x_test=tensors["x_test"],
        y_test=tensors["y_test"],
        vocab=Vocab.from_dict(content["vocab"]),
        label_names=content["label_names"],
        out_steps=content["out_steps"],
        pad_label=content["pad_label"],
        notes=content["notes"],
        extra=content["extra"],
        x_val=tensors.get("x_val"),
        y_val=tensors.get("y_val"),
    )


def ids_file_bytes(data: TaskData) -> bytes:
    """``data`` as the bytes of an ids file (safetensors; the content JSON in its metadata)."""
    from ..storage import safetensors_bytes

    tensors, content = encode_task(data)
    content["extra"] = {k: v for k, v in data.extra.items() if k in KEPT_EXTRA}
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    return safetensors_bytes(tensors, {"format": FORMAT, "content": json.dumps(content)})


def load_ids(root: Path | None = None, *, file: str | Path, **options: object) -> TaskData:
    """The ``ids`` task: a file written by :func:`ids_file_bytes`. Options of the text tasks
    (sequence length, vocabulary size…) do not apply: the ids are already made."""
    from ..storage import read_tensors_and_metadata

    given = sorted(k for k, v in options.items() if v not in (None, ""))
    if given:
        raise RnnmodError(
            f"the ids task reads ids made already; {', '.join(given)} cannot apply to it"
        )
    path = Path(file)
    tensors, meta = read_tensors_and_metadata(path)
    try:
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}")
        content = json.loads(meta["content"])
        data = decode_task(tensors, content)
    except (ValueError, KeyError, TypeError) as e:
        raise RnnmodError(
            f"{path} is not an rnnmod ids file ({e}); write one with rnnmod.save_model_run"
        ) from None
    data.extra["file"] = str(path.resolve())  # recorded with its sha256 by a run trained on it
    return data
