"""A task's split as a labelled CSV — the file `rnnmod compose --calibrate` and `rnnmod evaluate
--labelled` read: ``text,label`` for one-output tasks, ``text,tags`` (one tag per token, as the
model reads the text) for taggers."""

from __future__ import annotations

from ..errors import RnnmodError
from .base import TaskData, seeded_subset
from .vocab import tokenize


def labelled_rows(
    data: TaskData, split: str, limit: int | None = None, seed: int = 0
) -> tuple[list[str], list[tuple[str, str]]]:
    """(header, rows) of ``split`` ("train", "val" where the task has one, or "test"),
    optionally a seeded subset of ``limit`` examples (the same subset as ``reproduce rq3``'s
    calibration sample of that split for equal n and seed).
    A tagger's text is cut to the tokens the model reads (its sequence length)."""
    if data.io_type == "1:N":
        raise RnnmodError(
            f"{data.task} is a 1:N task: its labels are output steps, neither one label per text "
            "nor one tag per token"
        )
    if split == "val" and data.x_val is None:
        raise RnnmodError(f"{data.task} has no validation split (export train or test)")
    texts = data.extra.get(f"texts_{split}")
    if texts is None:
        raise RnnmodError(f"{data.task} keeps no raw texts of its {split} split to export")
    x, y = {
        "train": (data.x_train, data.y_train),
        "val": (data.x_val, data.y_val),
        "test": (data.x_test, data.y_test),
    }[split]
    keep = range(len(x)) if limit is None else seeded_subset(len(x), limit, seed).tolist()
    names = data.label_names
    if data.io_type != "M:N":
        return ["text", "label"], [(texts[i], names[int(y[i])]) for i in keep]
    rows = []
    seq_len, cut_front = data.vocab.seq_len, data.vocab.truncating == "pre"
    # the model's own tokenizer, so the exported words are the tokens its output steps tag
    for i, words in zip(keep, tokenize([texts[i] for i in keep], data.vocab.tokenizer)):
        words = words[-seq_len:] if cut_front else words[:seq_len]
        tags = [names[t] for t, w in zip(y[i].tolist(), x[i].tolist()) if w != 0]
        if len(tags) != len(words):
            raise RnnmodError(
                f"{data.task} {split} example {i}: {len(tags)} tags, {len(words)} words"
            )
        rows.append((" ".join(words), " ".join(tags)))
    return ["text", "tags"], rows
