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
    pad_label, out_steps = None, 1
    if io_type in ("1:N", "M:N"):  # label 0 = padding; labels on pre-padded positions are 0
        steps = seq_len
        y = 1 + torch.randint(0, n_classes - 1, (n, steps), generator=g)
        if io_type == "M:N":
            y[x == 0] = 0
        else:
            y[: n // 2, :3] = 0
        pad_label, out_steps = 0, steps
    voc = Vocab(
        tokens=["<pad>", "<unk>"] + [f"w{i}" for i in range(vocab - 2)],
        tokenizer="whitespace",
        seq_len=seq_len,
    )
    names = [f"c{i}" for i in range(n_classes)]
    return TaskData("tiny", io_type, x, y, x.clone(), y.clone(), voc, names, out_steps, pad_label)


def tiny_model(
    cell: str = "lstm",
    depth: int = 1,
    io_type: str = "M:1",
    n_classes: int = 4,
    seq_len: int = 6,
    vocab: int = 12,
    hidden: int = 8,
    seed: int = 0,
    **shape,
) -> SeqClassifier:
    """``shape``: the users' structures (``bidirectional``, ``padding``, ``readout``,
    ``pool_steps``, ``head_hidden``, ``head_activation``)."""
    torch.manual_seed(seed)
    out_steps = seq_len if io_type in ("1:N", "M:N") else 1
    m = build_classifier(
        out_steps=out_steps,
        io_type=io_type,
        cell=cell,
        depth=depth,
        vocab_size=vocab,
        embed_dim=5,
        hidden=hidden,
        n_classes=n_classes,
        seq_len=seq_len,
        **shape,
    )
    return m.eval()


def saved_tiny_run(root, cell: str = "gru", depth: int = 2):
    """A tiny M:1 model saved as a run directory under ``root`` and loaded back, with its data."""
    from rnnmod.runs import load_run, save_run

    model, data = tiny_model(cell, depth=depth), tiny_data()
    config = {"task": "tiny", "io_type": "M:1", "cell": cell, "depth": depth}
    run_dir = save_run(
        root / "run", model, config, data.vocab, data.label_names, {"test_accuracy": 0.5}
    )
    return load_run(run_dir), data


def fit_tiny(model, data: TaskData, *, steps: int = 150, lr: float = 0.02):
    """Train a tiny model on its tiny data (seeded Adam, full batch; taggers per position), so
    that what is decomposed or saved has learned something. Returns it in eval mode."""
    torch.manual_seed(0)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        out = model(data.x_train)
        out = out.transpose(1, 2) if out.dim() == 3 else out  # [B, C, T] for per-position labels
        torch.nn.functional.cross_entropy(out, data.y_train).backward()
        opt.step()
    return model.eval()
