"""Jigsaw toxic comments (1:N), paper-method §3.3, and the multi-label → label-sequence encoding
shared with its stand-in, SemEval-2018 E-c (``emotions``).

A multi-label example becomes a short *sequence* of class ids so that a 1:N model emits one
label per output step: the ids ``column + 2`` of the positive columns in column order, ``[1]``
("clean"/"none") when no column is positive, pre-padded with 0 to the longest list.

Files: ``<data_dir>/toxic/train.csv`` (Kaggle columns ``id,comment_text,toxic,severe_toxic,
obscene,threat,insult,identity_hate``). When ``test.csv`` and ``test_labels.csv`` are there too,
they are the test split (rows labelled -1 dropped, as the authors' ``clean_toxic_testset``);
otherwise ``train.csv`` is re-split 80/20 with a fixed seed and the notes say so.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import torch
from torch import Tensor

from ..errors import RnnmodError
from .base import TASKS, TaskData, check_max_vocab, limited, require_file, seeded_split
from .legacy import KERAS_OOV, keras_vocab
from .options import TaskOptions
from .vocab import PAD, Vocab, resolve_seq_len, tokenize

TOXIC_LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
SPLIT_SEED = 1234
_HINT = "the Kaggle 'Jigsaw Toxic Comment Classification' CSV (see `rnnmod data fetch toxic`)"


def label_sequences(positive: Tensor, out_steps: int | None = None) -> Tensor:
    """[N, L] 0/1 label matrix → [N, T_out] id sequences (paper-method §3.3 ``get_multi_labels``).

    Row ``[1,0,1,0,0,0]`` → ``[0,0,0,0,2,4]``; an all-zero row → ``[0,...,0,1]``.
    ``out_steps`` defaults to the largest number of positives (at least 1).
    """
    pos = positive.bool()
    n, n_labels = pos.shape
    need = max(int(pos.sum(1).max()) if n else 0, 1)
    steps = need if out_steps is None else out_steps
    if steps < need:
        raise ValueError(f"out_steps={steps} is shorter than the longest label list ({need})")
    ids = torch.where(pos, torch.arange(2, n_labels + 2), 0)
    # A stable sort on the 0/1 flag moves negatives to the front, positives keep column order.
    order = torch.sort(pos.to(torch.uint8), dim=1, stable=True).indices
    seq = ids.gather(1, order)
    seq = torch.cat([torch.zeros(n, max(steps - n_labels, 0), dtype=torch.long), seq], 1)
    seq = seq[:, seq.shape[1] - steps :].clone()
    seq[~pos.any(1), -1] = 1
    return seq


def multilabel_task(
    task: str,
    label_columns: list[str],
    train: tuple[list[str], Tensor],
    test: tuple[list[str], Tensor],
    *,
    none_name: str,
    seq_len: int | str | None,
    vocab_cap: int,
    legacy_vocab: bool,
    notes: list[str],
    limit: int | None = None,
    limit_seed: int = 0,
) -> TaskData:
    """Texts + 0/1 label matrices of both splits → a 1:N :class:`TaskData`.

    T_out is the longest label list over train ∪ test (as the authors computed it).
    Default vocabulary: fitted on train, ``vocab_cap`` ids including ``<pad>``/``<unk>``.
    Legacy: Keras ``Tokenizer(num_words=vocab_cap, oov_token="<OOV>")`` fitted on train then test.
    ``limit`` keeps a seeded subset of the training examples before the vocabulary is fitted
    (T_out stays that of all the data); ``seq_len`` None is the task's default (20), ``"auto"``
    is fitted on the kept training texts.
    """
    (tr_text, tr_pos), (te_text, te_pos) = train, test
    steps = max(int(tr_pos.sum(1).max()), int(te_pos.sum(1).max()) if len(te_pos) else 0, 1)
    keep, limit_notes = limited(torch.arange(len(tr_text)), limit, limit_seed)
    if limit_notes:
        tr_text, tr_pos = [tr_text[i] for i in keep.tolist()], tr_pos[keep]
    tr_tok, te_tok = tokenize(tr_text, "keras"), tokenize(te_text, "keras")
    seq_len = resolve_seq_len(seq_len, tr_tok, TASKS[task].seq_len if task in TASKS else 20)
    if legacy_vocab:
        vocab = keras_vocab(
            tr_tok + te_tok,
            tokenizer="keras",
            seq_len=seq_len,
            oov_token=KERAS_OOV,
            num_words=vocab_cap,
        )
        note = (
            f"legacy vocabulary: Keras Tokenizer(num_words={vocab_cap}, oov_token='<OOV>') "
            "fitted on train then test"
        )
    else:
        vocab = Vocab.fit(tr_tok, tokenizer="keras", seq_len=seq_len, max_size=vocab_cap)
        note = f"default vocabulary: fitted on the training split only, capped at {vocab_cap} ids"
    return TaskData(
        task=task,
        io_type="1:N",
        x_train=vocab.encode_tokens(tr_tok),
        y_train=label_sequences(tr_pos, steps),
        x_test=vocab.encode_tokens(te_tok),
        y_test=label_sequences(te_pos, steps),
        vocab=vocab,
        label_names=[PAD, none_name, *label_columns],
        out_steps=steps,
        pad_label=0,
        notes=[*notes, note, *limit_notes],
        extra={"legacy_vocab": legacy_vocab, "texts_train": tr_text, "texts_test": te_text},
    )


def _read_csv(path: Path, columns: list[str], what: str) -> list[dict[str, str]]:
    require_file(path, f"put {what} there")
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise RnnmodError(
                    f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(columns)}"
                )
            return list(reader)
    except (csv.Error, UnicodeDecodeError) as e:
        raise RnnmodError(f"{path}: not a readable UTF-8 CSV ({e}); put {what} there") from None


def _label_matrix(rows: list[dict[str, str]], path: Path) -> Tensor:
    if not rows:
        raise RnnmodError(f"{path}: no rows below the header")
    try:
        return torch.tensor([[int(r[c]) for c in TOXIC_LABELS] for r in rows], dtype=torch.long)
    except (TypeError, ValueError) as e:
        raise RnnmodError(
            f"{path}: label columns must be 0/1 (or -1 in test_labels.csv): {e}"
        ) from None


def load_toxic(data_dir: Path, **options: object) -> TaskData:
    """Jigsaw toxic comments as a 1:N task with 8 classes (pad, clean, six toxicity labels);
    ``max_vocab`` replaces the default cap (2,000); ``seq_len``, ``limit`` as for
    :func:`multilabel_task`."""
    opts = TaskOptions.of(options, split_seed=SPLIT_SEED)
    seq_len, legacy_vocab, max_vocab, limit, limit_seed, split_seed = opts.vocabulary()
    vocab_cap = 2000
    root = data_dir / "toxic"
    train_path = root / "train.csv"
    rows = _read_csv(train_path, ["comment_text", *TOXIC_LABELS], _HINT)
    texts = [r["comment_text"] for r in rows]
    labels = _label_matrix(rows, train_path)
    if ((labels != 0) & (labels != 1)).any():
        raise RnnmodError(f"{train_path}: label columns must be 0/1")
    notes = ["Jigsaw toxic comments (the paper's 1:N dataset)"]
    test_path, test_labels_path = root / "test.csv", root / "test_labels.csv"
    if test_path.is_file() and test_labels_path.is_file():
        te_rows = _read_csv(test_path, ["id", "comment_text"], _HINT)
        lab_rows = _read_csv(test_labels_path, ["id", *TOXIC_LABELS], _HINT)
        by_id = {r["id"]: r for r in lab_rows}
        missing = [r["id"] for r in te_rows if r["id"] not in by_id]
        if missing:
            raise RnnmodError(
                f"{test_labels_path}: no labels for {len(missing)} test id(s), e.g. {missing[0]}"
            )
        te_labels = _label_matrix([by_id[r["id"]] for r in te_rows], test_labels_path)
        keep = (te_labels >= 0).all(1)
        te_texts = [r["comment_text"] for r, k in zip(te_rows, keep.tolist()) if k]
        train, test = (texts, labels), (te_texts, te_labels[keep])
        notes.append("official Kaggle split: train.csv / test.csv with rows labelled -1 dropped")
    else:
        tr, te = seeded_split(len(texts), 0.2, split_seed)
        train = ([texts[i] for i in tr.tolist()], labels[tr])
        test = ([texts[i] for i in te.tolist()], labels[te])
        notes.append(
            f"no test.csv + test_labels.csv: train.csv re-split 80/20 (seed {split_seed}); "
            "the paper used the official Kaggle test split"
        )
    return multilabel_task(
        "toxic",
        TOXIC_LABELS,
        train,
        test,
        none_name="clean",
        seq_len=seq_len,
        vocab_cap=check_max_vocab(max_vocab) or vocab_cap,
        legacy_vocab=legacy_vocab,
        notes=notes,
        limit=limit,
        limit_seed=limit_seed,
    )
