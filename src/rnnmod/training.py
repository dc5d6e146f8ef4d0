"""Seeded training loop for the classification zoo (paper-method §2.2 optimiser and batch sizes)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .data.base import TASKS, TaskData
from .errors import RnnmodError
from .metrics.accuracy import accuracy
from .nn.zoo import INITS, ClassifierConfig, SeqClassifier, keras_initialise, predict_logits


@dataclass
class TrainConfig:
    cell: str = "lstm"
    depth: int = 1
    epochs: int | None = None
    batch_size: int | None = None
    lr: float = 1e-3
    seed: int = 0
    # None: the task's (TaskSpec.hidden / TaskSpec.embed_dim)
    hidden: int | None = None
    embed_dim: int | None = None
    progress: bool = True
    # "keras": the paper's Keras default initialisers (nn.zoo.keras_initialise); "torch": PyTorch's
    init: str = "keras"
    # the model's structure beyond the paper's (ClassifierConfig fields: bidirectional, padding,
    # readout, pool_steps, head_hidden, head_activation); empty: the paper's shape
    shape: dict = field(default_factory=dict)


def build_for(data: TaskData, tc: TrainConfig) -> SeqClassifier:
    spec = TASKS[data.task] if data.task in TASKS else TASKS["text-classification"]
    try:
        cfg = _config(data, tc, spec)
    except ValueError as e:  # a structure the task's shape cannot take (e.g. pooling a tagger)
        raise RnnmodError(str(e)) from None
    return fresh_model(cfg, tc.init)


def _config(data: TaskData, tc: TrainConfig, spec) -> ClassifierConfig:
    cfg = ClassifierConfig(
        io_type=data.io_type,
        cell=tc.cell,
        depth=tc.depth,
        vocab_size=data.vocab.size,
        embed_dim=tc.embed_dim or spec.embed_dim,
        hidden=tc.hidden or spec.hidden,
        n_classes=data.n_classes,
        seq_len=data.x_train.shape[1],
        out_steps=data.out_steps,
        **tc.shape,
    )
    cfg.validate()
    return cfg


def fresh_model(cfg: ClassifierConfig, init: str = "keras") -> SeqClassifier:
    """A new classifier initialised the paper's way (``keras``) or PyTorch's (``torch``)."""
    if init not in INITS:
        raise RnnmodError(f"unknown init {init!r}; expected one of {', '.join(INITS)}")
    model = SeqClassifier(cfg)
    if init == "keras":
        keras_initialise(model)
    return model


def evaluate_model(model: SeqClassifier, data: TaskData) -> float:
    pred = predict_logits(model, data.x_test).argmax(-1)
    return accuracy(pred, data.y_test, pad_label=data.pad_label)


def train_classifier(
    data: TaskData, tc: TrainConfig, model: SeqClassifier | None = None
) -> tuple[SeqClassifier, dict]:
    """Adam(lr 1e-3, eps 1e-7), cross-entropy over every output position, seeded shuffling.
    ``model`` continues training a given model (fine-tuning) instead of a fresh one."""
    spec = TASKS.get(data.task, TASKS["text-classification"])
    epochs = tc.epochs or spec.epochs
    bs = tc.batch_size or spec.batch_size
    torch.manual_seed(tc.seed)
    fresh = model is None
    model = build_for(data, tc) if fresh else model
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(tc.seed)
    n = len(data.x_train)
    start = time.perf_counter()
    bar = tqdm(
        total=epochs * ((n + bs - 1) // bs),
        desc=f"train {data.task} {tc.cell}-{tc.depth}",
        disable=not tc.progress,
        unit="batch",
    )
    for _epoch in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            logits = model(data.x_train[idx])
            y = data.y_train[idx]
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    train_s = time.perf_counter() - start
    acc = evaluate_model(model, data)
    metrics = {
        "test_accuracy": acc,
        "metric": "accuracy" if data.pad_label is None else "accuracy (padding positions excluded)",
        "train_seconds": round(train_s, 2),
        "epochs": epochs,
        "batch_size": bs,
        "init": tc.init if fresh else "given model",
        "n_train": n,
        "n_test": len(data.x_test),
        "notes": data.notes,
    }
    return model, metrics
