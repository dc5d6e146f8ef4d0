"""Clinc OOS, domain labels (M:1), paper-method §3.4."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from ..errors import RnnmodError
from .base import TaskData, require_file
from .vocab import Vocab, tokenize

COLUMNS = ("text", "domain", "domain_name")


def read_clinc_csv(path: Path) -> tuple[list[str], list[int], list[str]]:
    require_file(path, "put the Clinc OOS CSV there (columns text,intent,domain,intent_name,domain_name); `rnnmod data fetch clinc` downloads it")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RnnmodError(f"{path}: missing column(s) {', '.join(missing)}; expected text,intent,domain,intent_name,domain_name")
        rows = list(reader)
    try:
        return [r["text"] for r in rows], [int(r["domain"]) for r in rows], [r["domain_name"] for r in rows]
    except ValueError as e:
        raise RnnmodError(f"{path}: non-integer domain label ({e})") from None


def load_clinc(data_dir: Path, *, seq_len: int = 15, **_: object) -> TaskData:
    root = data_dir / "clinc_oos"
    tr_text, tr_y, tr_names = read_clinc_csv(root / "train.csv")
    te_text, te_y, _names = read_clinc_csv(root / "test.csv")
    names: dict[int, str] = {}
    for y, n in zip(tr_y, tr_names):
        names.setdefault(y, n)
    label_names = [names.get(i, str(i)) for i in range(max(names) + 1)]
    tr_tok, te_tok = tokenize(tr_text, "clinc"), tokenize(te_text, "clinc")
    vocab = Vocab.fit(tr_tok, tokenizer="clinc", seq_len=seq_len)
    return TaskData(
        task="clinc",
        io_type="M:1",
        x_train=vocab.encode_tokens(tr_tok),
        y_train=torch.tensor(tr_y),
        x_test=vocab.encode_tokens(te_tok),
        y_test=torch.tensor(te_y),
        vocab=vocab,
        label_names=label_names,
        notes=["Clinc OOS in-scope, 10 domain labels; vocabulary fitted on the training split"],
    )
