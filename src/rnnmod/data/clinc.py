"""Clinc OOS, domain labels (M:1), paper-method §3.4.

Default: CSV row order, the installed NLTK tokenizer, vocabulary fitted on the training split
(unknown test words → ``<unk>``). ``legacy_vocab=True`` reproduces the authors' arrays: TFDS
example order, NLTK 3.8.1 tokenisation, Keras ``Tokenizer`` fitted on train then test with no
OOV token (5,530 words → Embedding 5,531 rows).
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from ..errors import RnnmodError
from .base import TASKS, TaskData, check_max_vocab, limited, require_file
from .legacy import keras_vocab, tfds_order
from .options import TaskOptions
from .vocab import Vocab, resolve_seq_len, tokenize

COLUMNS = ("text", "domain", "domain_name")


def read_clinc_csv(path: Path) -> tuple[list[str], list[int], list[str]]:
    require_file(
        path,
        "put the Clinc OOS CSV there (columns text,intent,domain,intent_name,domain_name); `rnnmod data fetch clinc` downloads it",
    )
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise RnnmodError(
                    f"{path}: missing column(s) {', '.join(missing)}; expected text,intent,domain,intent_name,domain_name"
                )
            rows = list(reader)
    except (csv.Error, UnicodeDecodeError) as e:
        raise RnnmodError(f"{path}: not a readable UTF-8 CSV ({e})") from None
    if not rows:
        raise RnnmodError(f"{path}: no rows below the header")
    if any(r[c] is None for r in rows for c in COLUMNS):
        raise RnnmodError(f"{path}: some rows have fewer columns than the header")
    try:
        domains = [int(r["domain"]) for r in rows]
    except ValueError as e:
        raise RnnmodError(f"{path}: non-integer domain label ({e})") from None
    if min(domains) < 0 or max(domains) > 1000:
        raise RnnmodError(f"{path}: domain labels must be small non-negative integers")
    return [r["text"] for r in rows], domains, [r["domain_name"] for r in rows]


def load_clinc(data_dir: Path, **options: object) -> TaskData:
    """Train/test splits of Clinc OOS (in-scope rows), label = domain id (10 classes).

    ``seq_len``: None = 15 (the paper's), a number, or ``"auto"``; ``max_vocab`` caps the
    default vocabulary (none by default); ``limit``: a seeded subset of the training rows,
    taken before the vocabulary is fitted."""
    seq_len, legacy_vocab, max_vocab, limit, limit_seed, _ = TaskOptions.of(options).vocabulary()
    max_vocab = check_max_vocab(max_vocab)
    root = data_dir / "clinc_oos"
    tr_text, tr_y, tr_names = read_clinc_csv(root / "train.csv")
    te_text, te_y, _names = read_clinc_csv(root / "test.csv")
    has_val = (root / "val.csv").is_file()
    va_text, va_y, _names = read_clinc_csv(root / "val.csv") if has_val else ([], [], [])
    names: dict[int, str] = {}
    for y, n in zip(tr_y, tr_names):
        names.setdefault(y, n)
    label_names = [names.get(i, str(i)) for i in range(max(names) + 1)]
    if legacy_vocab:
        tr_order, te_order = tfds_order(len(tr_text), "train"), tfds_order(len(te_text), "test")
        tr_text, tr_y = [tr_text[i] for i in tr_order], [tr_y[i] for i in tr_order]
        te_text, te_y = [te_text[i] for i in te_order], [te_y[i] for i in te_order]
    keep, limit_notes = limited(torch.arange(len(tr_text)), limit, limit_seed)
    if limit_notes:
        tr_text, tr_y = [tr_text[i] for i in keep.tolist()], [tr_y[i] for i in keep.tolist()]
    if legacy_vocab:
        tokenizer = "clinc-nltk3.8.1"
        tr_tok, te_tok = tokenize(tr_text, tokenizer), tokenize(te_text, tokenizer)
        seq_len = resolve_seq_len(seq_len, tr_tok, TASKS["clinc"].seq_len)
        vocab = keras_vocab(tr_tok + te_tok, tokenizer=tokenizer, seq_len=seq_len)
        note = (
            "legacy vocabulary (paper preprocessing): TFDS example order, NLTK 3.8.1 tokenisation "
            "(emulated), Keras Tokenizer fitted on train then test, no OOV token; "
            f"{len(vocab) - 1} words"
        )
    else:
        tr_tok, te_tok = tokenize(tr_text, "clinc"), tokenize(te_text, "clinc")
        seq_len = resolve_seq_len(seq_len, tr_tok, TASKS["clinc"].seq_len)
        vocab = Vocab.fit(tr_tok, tokenizer="clinc", seq_len=seq_len, max_size=max_vocab)
        note = (
            "default vocabulary: CSV row order, installed NLTK tokenizer, fitted on the training "
            f"split only, unknown words -> <unk>; {len(vocab) - 2} words"
        )
    return TaskData(
        task="clinc",
        io_type="M:1",
        x_train=vocab.encode_tokens(tr_tok),
        y_train=torch.tensor(tr_y),
        x_test=vocab.encode_tokens(te_tok),
        y_test=torch.tensor(te_y),
        vocab=vocab,
        label_names=label_names,
        notes=["Clinc OOS in-scope, 10 domain labels (same data as the paper)", note, *limit_notes],
        extra={
            "legacy_vocab": legacy_vocab,
            "texts_train": tr_text,
            "texts_test": te_text,
            **({"texts_val": va_text} if has_val else {}),
        },
        x_val=vocab.encode_tokens(tokenize(va_text, vocab.tokenizer)) if has_val else None,
        y_val=torch.tensor(va_y) if has_val else None,
    )
