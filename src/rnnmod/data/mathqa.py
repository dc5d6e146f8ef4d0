"""MathQA problem categories (1:1), paper-method §3.2.

Only the official *test* split exists in ``../shared/data``; we re-split it 80/20, stratified by
category with a fixed seed — every report says so.

``legacy_vocab=True`` applies the paper's Keras preprocessing to this re-split: rows in TFDS
example order, ``Tokenizer(num_words=5000, oov_token="<OOV>")`` fitted on train then test.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import RnnmodError
from .base import TASKS, TaskData, check_max_vocab, limited, require_file, seeded_split
from .legacy import KERAS_OOV, keras_vocab, tfds_order
from .options import TaskOptions
from .vocab import Vocab, resolve_seq_len, tokenize

CATEGORIES = ["gain", "general", "geometry", "other", "physics", "probability"]
SPLIT_SEED = 1234


def load_mathqa(data_dir: Path, **options: object) -> TaskData:
    """MathQA category classification (6 classes) from the only split we have, re-split 80/20.

    ``seq_len``: None = 20 (the paper's), a number, or ``"auto"``; ``max_vocab``: the default
    vocabulary's cap (5,000); ``limit``: a seeded subset of the training split, taken before
    the vocabulary is fitted."""
    opts = TaskOptions.of(options, split_seed=SPLIT_SEED)
    seq_len, legacy_vocab, max_vocab, limit, limit_seed, split_seed = opts.vocabulary()
    max_vocab = check_max_vocab(max_vocab)
    path = require_file(
        data_dir / "mathqa" / "test.json",
        "put the MathQA JSON there (a list of objects with 'Problem' and 'category'); "
        "`rnnmod data fetch mathqa` downloads it",
    )
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        texts = [r["Problem"] for r in rows]
        labels = torch.tensor([CATEGORIES.index(r["category"]) for r in rows])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise RnnmodError(
            f"{path}: expected a JSON list of objects with 'Problem' and a known 'category' ({e})"
        ) from None
    tr, te = seeded_split(len(texts), 0.2, split_seed, strata=labels)
    toks = tokenize(texts, "keras")
    if legacy_vocab:
        rank = torch.empty(len(texts), dtype=torch.long)
        rank[torch.tensor(tfds_order(len(texts), "test"))] = torch.arange(len(texts))
        tr, te = tr[rank[tr].argsort()], te[rank[te].argsort()]
    tr, limit_notes = limited(tr, limit, limit_seed)
    seq_len = resolve_seq_len(seq_len, [toks[i] for i in tr.tolist()], TASKS["mathqa"].seq_len)
    if legacy_vocab:
        vocab = keras_vocab(
            [toks[i] for i in tr.tolist() + te.tolist()],
            tokenizer="keras",
            seq_len=seq_len,
            oov_token=KERAS_OOV,
            num_words=5000,
        )
        note = (
            "legacy vocabulary (paper preprocessing): TFDS example order, Keras Tokenizer"
            "(num_words=5000, oov_token='<OOV>') fitted on train then test texts"
        )
    else:
        cap = max_vocab or 5000
        vocab = Vocab.fit(
            [toks[i] for i in tr.tolist()], tokenizer="keras", seq_len=seq_len, max_size=cap
        )
        note = f"default vocabulary: fitted on the training split only, capped at {cap:,} ids, unknown -> <unk>"
    x = vocab.encode_tokens(toks)
    return TaskData.from_split(
        x,
        labels,
        tr,
        te,
        task="mathqa",
        io_type="1:1",
        vocab=vocab,
        label_names=list(CATEGORIES),
        notes=[
            f"MathQA: PARTIAL data — only the official test split (2,985 problems) is available; "
            f"re-split 80/20 stratified by category with seed {split_seed}. "
            "The paper trained on the 29,837-problem train split.",
            note,
            *limit_notes,
        ],
        extra={
            "legacy_vocab": legacy_vocab,
            "texts_train": [texts[i] for i in tr.tolist()],
            "texts_test": [texts[i] for i in te.tolist()],
        },
    )
