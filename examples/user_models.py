"""Eight recurrent models written the way tutorials and projects write them, trained on Clinc
(10 domains, M:1) and Brown (POS tagging, M:N), handed to ``rnnmod.from_torch`` unchanged, then
decomposed rolled and unrolled and evaluated as composed models.

    RNNMOD_DATA=../shared/data python examples/user_models.py --out results/user_models.json

Each model keeps its own data pipeline: the rows are padded with id 0 after the text (as
``pad_sequence`` does) or before it (Keras-style, as ``rnnmod.load_task`` gives them); the
re-padded data travel with each run (``save_model_run`` writes them as ``data.safetensors``),
so the runs work from the CLI too. Nothing below knows rnnmod except the block at the end of
``main``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

import rnnmod

EMBED, HIDDEN = 50, 64


# --- the users' models (no change for rnnmod) ------------------------------------------------


class LastStateLSTM(nn.Module):
    """Embedding → LSTM → Linear on h_n[-1]."""

    def __init__(self, vocab, classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab, EMBED, padding_idx=0)
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.fc = nn.Linear(HIDDEN, classes)

    def forward(self, ids):
        _, (h_n, _) = self.lstm(self.embedding(ids))
        return self.fc(h_n[-1])


class BiLSTMMaxPoolMLP(nn.Module):
    """Bidirectional LSTM, max-pooling over time, a two-layer MLP head with dropout."""

    def __init__(self, vocab, classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab, EMBED, padding_idx=0)
        self.encoder = nn.LSTM(EMBED, HIDDEN, batch_first=True, bidirectional=True)
        self.classifier = nn.Sequential(
            nn.Linear(2 * HIDDEN, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, classes)
        )

    def forward(self, ids):
        out, _ = self.encoder(self.embedding(ids))
        return self.classifier(out.max(dim=1).values)


class PackedGRU(nn.Module):
    """A GRU over packed sequences: forward(ids, lengths)."""

    def __init__(self, vocab, classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab, EMBED, padding_idx=0)
        self.gru = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.out = nn.Linear(HIDDEN, classes)

    def forward(self, ids, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, h = self.gru(packed)
        return self.out(h[-1])


class LSTMTagger(nn.Module):
    """PyTorch's sequence-models tutorial tagger: log_softmax over the tags, NLLLoss."""

    def __init__(self, vocab, tags):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, EMBED)
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.hidden2tag = nn.Linear(HIDDEN, tags)

    def forward(self, sentence):
        lstm_out, _ = self.lstm(self.word_embeddings(sentence))
        return torch.log_softmax(self.hidden2tag(lstm_out), dim=-1)


class FrozenMeanPoolLSTM(nn.Module):
    """Frozen pretrained embedding, 2-layer LSTM with dropout, mean over the real tokens."""

    def __init__(self, pretrained, classes):
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(pretrained, freeze=True, padding_idx=0)
        self.lstm = nn.LSTM(
            pretrained.shape[1], HIDDEN, num_layers=2, dropout=0.3, batch_first=True
        )
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(HIDDEN, classes)

    def forward(self, ids):
        out, _ = self.lstm(self.embedding(ids))
        mask = (ids != 0).unsqueeze(-1).float()
        return self.head(self.drop((out * mask).sum(1) / mask.sum(1).clamp(min=1)))


class ReluRNN(nn.Module):
    """A ReLU Elman network on the last step."""

    def __init__(self, vocab, classes):
        super().__init__()
        self.emb = nn.Embedding(vocab, EMBED)
        self.rnn = nn.RNN(EMBED, HIDDEN, nonlinearity="relu", batch_first=True)
        self.fc = nn.Linear(HIDDEN, classes)

    def forward(self, x):
        out, _ = self.rnn(self.emb(x))
        return self.fc(out[:, -1, :])


class BiGRUTagger(nn.Module):
    """A 2-layer bidirectional GRU tagger."""

    def __init__(self, vocab, tags):
        super().__init__()
        self.emb = nn.Embedding(vocab, EMBED, padding_idx=0)
        self.rnn = nn.GRU(EMBED, HIDDEN, num_layers=2, bidirectional=True, batch_first=True)
        self.proj = nn.Linear(2 * HIDDEN, tags)

    def forward(self, ids):
        return self.proj(self.rnn(self.emb(ids))[0])


class NLLClassifier(nn.Module):
    """A GRU classifier returning log-probabilities, trained with NLLLoss."""

    def __init__(self, vocab, classes):
        super().__init__()
        self.emb = nn.Embedding(vocab, EMBED)
        self.gru = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.lin = nn.Linear(HIDDEN, classes)

    def forward(self, ids):
        out, _ = self.gru(self.emb(ids))
        return nn.functional.log_softmax(self.lin(out[:, -1]), dim=-1)


# name → (task, padding side, model factory(data, pretrained), loss, epochs)
MODELS = {
    "last-state-lstm": (
        "clinc",
        "pre",
        lambda d, p: LastStateLSTM(d.vocab.size, d.n_classes),
        "ce",
        4,
    ),
    "bilstm-maxpool-mlp": (
        "clinc",
        "post",
        lambda d, p: BiLSTMMaxPoolMLP(d.vocab.size, d.n_classes),
        "ce",
        4,
    ),
    "packed-gru": ("clinc", "post", lambda d, p: PackedGRU(d.vocab.size, d.n_classes), "ce", 4),
    "log-softmax-tagger": (
        "brown",
        "pre",
        lambda d, p: LSTMTagger(d.vocab.size, d.n_classes),
        "nll",
        2,
    ),
    "frozen-meanpool-lstm2": (
        "clinc",
        "post",
        lambda d, p: FrozenMeanPoolLSTM(p, d.n_classes),
        "ce",
        6,
    ),
    "relu-rnn": ("clinc", "pre", lambda d, p: ReluRNN(d.vocab.size, d.n_classes), "ce", 6),
    "bigru2-tagger": (
        "brown",
        "post",
        lambda d, p: BiGRUTagger(d.vocab.size, d.n_classes),
        "ce",
        2,
    ),
    "nll-classifier": (
        "clinc",
        "pre",
        lambda d, p: NLLClassifier(d.vocab.size, d.n_classes),
        "nll",
        4,
    ),
}


def call(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """The user's model on ids, with lengths when its forward takes them."""
    if isinstance(model, PackedGRU):
        return model(ids, (ids != 0).sum(1).clamp(min=1))
    return model(ids)


def fit(model: nn.Module, x, y, epochs: int, loss: str, pad_label, seed: int = 0) -> float:
    torch.manual_seed(seed)
    crit = nn.NLLLoss if loss == "nll" else nn.CrossEntropyLoss
    criterion = crit(ignore_index=-100 if pad_label is None else pad_label)
    opt = torch.optim.Adam((p for p in model.parameters() if p.requires_grad), lr=2e-3)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x)).split(64):
            out = call(model, x[idx])
            target = y[idx]
            opt.zero_grad()
            criterion(out.reshape(-1, out.shape[-1]), target.reshape(-1)).backward()
            opt.step()
    model.eval()
    return time.perf_counter() - start


def repad(data, side: str):
    """The task's rows padded on ``side`` (ids and, for taggers, the labels alike)."""
    if side == data.vocab.padding:
        return data

    def move(x, y):
        key = (x == 0).to(torch.int8)
        order = torch.argsort(key if side == "post" else -key, dim=1, stable=True)
        return x.gather(1, order), (y.gather(1, order) if y.dim() == 2 else y)

    x_train, y_train = move(data.x_train, data.y_train)
    x_test, y_test = move(data.x_test, data.y_test)
    val = {}
    if data.x_val is not None:
        val = dict(zip(("x_val", "y_val"), move(data.x_val, data.y_val), strict=True))
    return replace(
        data,
        task=f"{data.task}-{side}",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        vocab=replace(data.vocab, padding=side),
        **val,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--work", default="runs/user-models", help="runs and module sets go here")
    ap.add_argument("--out", default="results/user_models.json")
    ap.add_argument("--only", nargs="*", help="model names (default: all eight)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    tasks = {t: rnnmod.load_task(t, args.data_dir) for t in ("clinc", "brown")}
    pretrained = None
    rows = []
    for name, (task, side, make, loss, epochs) in MODELS.items():
        if args.only and name not in args.only:
            continue
        data = repad(tasks[task], side)
        if name == "frozen-meanpool-lstm2":  # "pretrained": the first model's trained embedding
            if pretrained is None:
                first = LastStateLSTM(data.vocab.size, data.n_classes)
                fit(first, tasks["clinc"].x_train, tasks["clinc"].y_train, 4, "ce", None)
                pretrained = first.embedding.weight.detach().clone()
        torch.manual_seed(0)
        model = make(data, pretrained)
        train_s = fit(model, data.x_train, data.y_train, epochs, loss, data.pad_label)

        # --- rnnmod from here on -----------------------------------------------------------
        adapted = rnnmod.from_torch(model, vocab=data.vocab, sample=data.x_test)
        with torch.no_grad():
            theirs = torch.log_softmax(call(model, data.x_test), -1)
            ours = torch.log_softmax(adapted(data.x_test), -1)
        agree = float((theirs.argmax(-1) == ours.argmax(-1)).float().mean())
        run_dir, metrics = rnnmod.save_model_run(work / name, adapted, data, overwrite=True)
        row = {
            "model": name,
            "task": task,
            "padding": side,
            "structure": adapted.cfg.extensions() or ["zoo shape"],
            "cfg": {
                k: getattr(adapted.cfg, k)
                for k in (
                    "io_type",
                    "cell",
                    "depth",
                    "bidirectional",
                    "padding",
                    "readout",
                    "pool_steps",
                    "head_hidden",
                    "head_activation",
                )
            },
            "train_seconds": round(train_s, 1),
            "test_accuracy": metrics["test_accuracy"],
            "agreement": agree,
            "max_abs_log_softmax_diff": float((theirs - ours).abs().max()),
        }
        for mode in ("rolled", "unrolled"):
            t0 = time.perf_counter()
            dec = rnnmod.decompose(run_dir, rnnmod.preset("default", mode=mode))
            mods = rnnmod.save_modules(dec, work / f"{name}-{mode}", overwrite=True)
            res = rnnmod.evaluate(mods)
            row[mode] = {
                k: res[k]
                for k in (
                    "monolithic",
                    "composed",
                    "delta_pp",
                    "retained_units",
                    "cost_vs_monolithic",
                    "jaccard_mask",
                )
                if k in res
            } | {"seconds": round(time.perf_counter() - t0, 1), "warnings": dec.warnings}
        rows.append(row)
        print(
            f"{name:22s} {task:5s} agree {agree:.4f} (max |Δ| {row['max_abs_log_softmax_diff']:.1e}) "
            f"acc {row['test_accuracy']:.4f} rolled Δ {row['rolled']['delta_pp']:+.2f} pp "
            f"({row['rolled']['retained_units']:.1%}) unrolled Δ {row['unrolled']['delta_pp']:+.2f} pp "
            f"({row['unrolled']['retained_units']:.1%})",
            flush=True,
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
