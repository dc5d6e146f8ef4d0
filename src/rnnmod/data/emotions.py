"""SemEval-2018 Task 1 E-c (1:N): the stand-in for the Jigsaw toxic comments.

The paper's 1:N experiment used Jigsaw toxic comments, which cannot be obtained without a Kaggle
login; E-c is a multi-label English text dataset of the same shape (11 emotions, several per
tweet). Labels become id sequences exactly as for toxic (:func:`.toxic.label_sequences`);
the official train file is the training split and the dev file the test split.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from ..errors import RnnmodError
from .base import TaskData, check_max_vocab, require_file
from .options import TaskOptions
from .toxic import multilabel_task

EMOTIONS = [
    "anger",
    "anticipation",
    "disgust",
    "fear",
    "joy",
    "love",
    "optimism",
    "pessimism",
    "sadness",
    "surprise",
    "trust",
]
_HINT = (
    "the SemEval-2018 Task 1 E-c English file (tab-separated: ID, Tweet, 11 emotion columns); "
    "`rnnmod data fetch emotions` downloads it"
)


VOCAB_CAP = 2000  # the default vocabulary's ids (the paper's Tokenizer num_words)


def read_ec(path: Path) -> tuple[list[str], torch.Tensor]:
    """Tweets and their [N, 11] 0/1 emotion matrix from one E-c file."""
    require_file(path, f"put {_HINT} there")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    except UnicodeDecodeError as e:
        raise RnnmodError(f"{path}: not UTF-8 text ({e}); put {_HINT} there") from None
    header = rows[0] if rows else []
    if header[:2] != ["ID", "Tweet"] or header[2:] != EMOTIONS:
        raise RnnmodError(
            f"{path}: unexpected header {header[:3]}...; expected ID, Tweet, {', '.join(EMOTIONS)}"
        )
    try:
        labels = torch.tensor([[int(v) for v in r[2:]] for r in rows[1:]], dtype=torch.long)
    except ValueError as e:
        raise RnnmodError(f"{path}: emotion columns must be 0/1 ({e})") from None
    if labels.shape[1:] != (len(EMOTIONS),) or ((labels != 0) & (labels != 1)).any():
        raise RnnmodError(f"{path}: every row needs 11 emotion columns of 0/1")
    return [r[1] for r in rows[1:]], labels


def load_emotions(data_dir: Path, **options: object) -> TaskData:
    """E-c as a 1:N task: 13 classes (pad, none, 11 emotions), train file → train, dev → test.
    ``max_vocab`` replaces the default cap (2,000); ``seq_len``, ``limit`` as
    for :func:`~.toxic.multilabel_task`."""
    seq_len, legacy_vocab, max_vocab, limit, limit_seed, _ = TaskOptions.of(options).vocabulary()
    root = data_dir / "semeval2018_ec"
    train = read_ec(root / "2018-E-c-En-train.txt")
    test = read_ec(root / "2018-E-c-En-dev.txt")
    return multilabel_task(
        "emotions",
        EMOTIONS,
        train,
        test,
        none_name="none",
        seq_len=seq_len,
        vocab_cap=check_max_vocab(max_vocab) or VOCAB_CAP,
        legacy_vocab=legacy_vocab,
        limit=limit,
        limit_seed=limit_seed,
        notes=[
            "SUBSTITUTE for the Jigsaw toxic comments: SemEval-2018 E-c (11 emotions, 13 classes "
            "with pad and none) instead of 6 toxicity labels (8 classes); official train file as "
            "train, dev file as test"
        ],
    )
