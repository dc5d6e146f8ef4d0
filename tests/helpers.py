"""Tiny synthetic tasks and models for fast, exact tests."""

from __future__ import annotations

import torch

from rnnmod.data.base import TaskData
from rnnmod.data.vocab import Vocab
from rnnmod.nn.zoo import SeqClassifier, build_classifier


def tiny_data(
    io_type: str = "M:1",
    n: int = 60,
    n_classes: int = 4,
    seq_len: int = 6,
    vocab: int = 12,
    seed: int = 0,
) -> TaskData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, vocab, (n, seq_len), generator=g)
    x[: n // 3, :2] = 0  # some pre-padding
    y = torch.arange(n) % n_classes
    voc = Vocab(
        tokens=["<pad>", "<unk>"] + [f"w{i}" for i in range(vocab - 2)],
        tokenizer="whitespace",
        seq_len=seq_len,
    )
    return TaskData(
        "tiny", io_type, x, y, x.clone(), y.clone(), voc, [f"c{i}" for i in range(n_classes)]
    )


def tiny_model(
    cell: str = "lstm",
    depth: int = 1,
    io_type: str = "M:1",
    n_classes: int = 4,
    seq_len: int = 6,
    vocab: int = 12,
    hidden: int = 8,
    seed: int = 0,
) -> SeqClassifier:
    torch.manual_seed(seed)
    m = build_classifier(
        io_type=io_type,
        cell=cell,
        depth=depth,
        vocab_size=vocab,
        embed_dim=5,
        hidden=hidden,
        n_classes=n_classes,
        seq_len=seq_len,
    )
    return m.eval()
