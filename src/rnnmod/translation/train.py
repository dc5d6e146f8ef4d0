"""Teacher-forced training of the encoder–decoder (Adam lr 1e-3, ε 1e-7; batch 64 as the
authors' Chollet-derived pipeline), loss over real decoder steps only."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..choices import LR_DECAYS, PRECISIONS
from ..errors import RnnmodError
from ..nn.seq2seq import ADAPTIVE_CUTOFFS, Seq2Seq, Seq2SeqConfig
from .data import SRC_LEN, TGT_LEN, TranslationData, encode_targets, test_by_language
from .decode import Route, bleu_report


@dataclass
class Seq2SeqTrainConfig:
    cell: str = "lstm"
    depth: int = 1
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    hidden: int = 256
    embed_dim: int = 128
    test_per_lang: int | None = 500
    progress: bool = True
    output_layer: str = "softmax"  # the decoder's output layer: softmax (the paper's) or adaptive
    bucket: bool = False  # batches of pairs of similar target length (see epoch_batches)
    attention: str = "none"  # or "luong", "bahdanau" (rnnmod.nn.attention)
    # early stopping: after each epoch the validation loss is measured; training stops after
    # this many epochs without improvement and keeps the best epoch's weights (None: off)
    patience: int | None = None
    val_pairs: int = 3000  # validation pairs scored per epoch (the first of the split)
    label_smoothing: float = 0.0  # training loss only (Seq2Seq.loss); validation loss is plain
    dropout: float = 0.0  # Seq2SeqConfig.dropout: embeddings and the output layer's input
    # wall-clock budget in minutes: training stops at the first batch past it, the partial
    # epoch is validated like a whole one, and the best validated weights are kept (None: off)
    time_limit_minutes: float | None = None
    # gradients rescaled to at most this global L2 norm before each step (None: off)
    clip_norm: float | None = None
    # learning rate over the run: "none" (constant) or "linear" (falls to 0 at the end of the
    # run: the last epoch's last batch, or the time limit if that comes first; see lr_factor)
    lr_decay: str = "none"
    bidirectional: bool = False  # Seq2SeqConfig.bidirectional: the encoder reads both ways
    # training arithmetic: "fp32", or "bf16" — the training passes under bfloat16 autocast
    # (weights, Adam's state, validation and test stay float32)
    precision: str = "fp32"

    def check(self) -> None:
        """Refuse a schedule, precision or time limit the trainer cannot run (one line each);
        the translator kind calls it before loading data, the trainer again for its callers."""
        if self.lr_decay not in LR_DECAYS:
            raise RnnmodError(
                f"--lr-decay must be one of {', '.join(LR_DECAYS)}, got {self.lr_decay!r}"
            )
        if self.precision not in PRECISIONS:
            raise RnnmodError(
                f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if self.time_limit_minutes is not None and not self.time_limit_minutes > 0:
            raise RnnmodError(
                f"--time-limit must be positive minutes, got {self.time_limit_minutes}"
            )


def lr_factor(
    decay: str, batches_done: int, total_batches: int, elapsed: float, limit: float | None
) -> float:
    """The learning rate's factor before the next step. ``linear`` follows the run's progress,
    the larger of its batches done and its wall time spent (with a time limit), so a
    time-limited run ends at a learning rate near 0 whichever budget ends it — the schedule
    that makes the most of a fixed budget (Li et al., "Budgeted training", ICLR 2020)."""
    if decay == "none":
        return 1.0
    progress = batches_done / max(total_batches, 1)
    if limit is not None:
        progress = max(progress, elapsed / limit)
    return max(0.0, 1.0 - progress)


BUCKET_WINDOW = 50  # batches whose pairs are sorted by target length together


def epoch_batches(tgt_out: Tensor, bs: int, gen: torch.Generator, bucket: bool) -> list[Tensor]:
    """One epoch's batches of row indices: a seeded shuffle cut into batches, or — bucketed — the
    shuffle sorted by target length within windows of :data:`BUCKET_WINDOW` batches, cut, and
    the batches shuffled again (packed layers then run fewer, fuller steps per batch)."""
    perm = torch.randperm(len(tgt_out), generator=gen)
    if not bucket:
        return list(perm.split(bs))
    lengths = (tgt_out != 0).sum(1)
    batches = []
    for window in perm.split(bs * BUCKET_WINDOW):
        ordered = window[torch.argsort(lengths[window], stable=True)]
        batches += list(ordered.split(bs))
    order = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in order]


#: an adaptive softmax needs more target words than this (its first cluster's cutoff, + 1)
ADAPTIVE_MIN_WORDS = ADAPTIVE_CUTOFFS[0] + 1


def build_seq2seq(data: TranslationData, tc: Seq2SeqTrainConfig) -> Seq2Seq:
    if tc.output_layer == "adaptive" and data.tgt_vocab.size <= ADAPTIVE_MIN_WORDS:
        raise RnnmodError(
            f"--output-layer adaptive needs more than {ADAPTIVE_MIN_WORDS} target words; "
            f"this vocabulary has {data.tgt_vocab.size}: use the default softmax"
        )
    cfg = Seq2SeqConfig(
        cell=tc.cell,
        depth=tc.depth,
        src_vocab_size=data.src_vocab.size,
        tgt_vocab_size=data.tgt_vocab.size,
        embed_dim=tc.embed_dim,
        hidden=tc.hidden,
        src_len=SRC_LEN,
        tgt_len=TGT_LEN,
        output_layer=tc.output_layer,
        attention=tc.attention,
        dropout=tc.dropout,
        bidirectional=tc.bidirectional,
    )
    try:
        cfg.validate()
    except ValueError as e:  # a model the options cannot build: one line, not a traceback
        raise RnnmodError(str(e)) from None
    return Seq2Seq(cfg)


@torch.no_grad()
def validation_loss(model: Seq2Seq, data: TranslationData, n: int, batch: int = 512) -> float:
    """Mean cross-entropy per target token of the first ``n`` validation pairs."""
    pairs = data.val[:n]
    src = data.src_vocab.encode_texts([p.source for p in pairs])
    tgt = encode_targets(data.tgt_vocab, pairs)
    model.eval()
    total, tokens = 0.0, 0
    for i in range(0, len(pairs), batch):
        s, t = src[i : i + batch], tgt[i : i + batch]
        k = int((t[:, :-1] != 0).sum())
        total += float(model.loss(s, t[:, :-1], t[:, 1:])) * k
        tokens += k
    return total / max(tokens, 1)


def make_optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam(ε 1e-7) as one fused kernel over every parameter: the same update as the loop
    implementation, without its dozen passes over the two embedding tables per step (the
    unfused update took 16 % of a training step of the paper's translator, docs/translation.md)."""
    return torch.optim.Adam(model.parameters(), lr=lr, eps=1e-7, fused=True)


def train_seq2seq(data: TranslationData, tc: Seq2SeqTrainConfig) -> tuple[Seq2Seq, dict]:
    tc.check()
    torch.manual_seed(tc.seed)
    model = build_seq2seq(data, tc)
    opt = make_optimizer(model, tc.lr)
    gen = torch.Generator().manual_seed(tc.seed)
    src, tin, tout = data.src_train, data.tgt_in, data.tgt_out
    n, bs = len(src), tc.batch_size
    total_batches = tc.epochs * ((n + bs - 1) // bs)
    bar = tqdm(
        total=total_batches,
        desc=f"train {data.task} {tc.cell}-{tc.depth}",
        disable=not tc.progress,
        unit="batch",
    )
    if tc.patience is not None and not data.val:
        raise RnnmodError("early stopping needs validation pairs; this split has none")
    limit = None if tc.time_limit_minutes is None else 60 * tc.time_limit_minutes
    start = time.perf_counter()
    row_tokens = (tout != 0).sum(1)
    epoch_loss, val_loss = [], []
    best_state, best_epoch, stale, tokens, stopped = None, 0, 0, 0, "epochs"
    done = 0
    for epoch in range(tc.epochs):
        model.train()
        total, rows = 0.0, 0
        for idx in epoch_batches(tout, bs, gen, tc.bucket):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=tc.precision == "bf16"):
                loss = model.loss(src[idx], tin[idx], tout[idx], tc.label_smoothing)
            opt.zero_grad()
            loss.backward()
            if tc.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.clip_norm)
            factor = lr_factor(tc.lr_decay, done, total_batches, time.perf_counter() - start, limit)
            for group in opt.param_groups:
                group["lr"] = tc.lr * factor
            opt.step()
            done += 1
            total += float(loss.detach()) * len(idx)
            rows += len(idx)
            tokens += int(row_tokens[idx].sum())
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            if limit is not None and time.perf_counter() - start > limit:
                stopped = "time limit"
                break
        epoch_loss.append(round(total / rows, 4))
        if tc.patience is not None:
            val_loss.append(round(validation_loss(model, data, tc.val_pairs), 4))
            if best_state is None or val_loss[-1] < val_loss[best_epoch]:
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
                best_epoch, stale = epoch, 0
            else:
                stale += 1
                if stale >= tc.patience:
                    stopped = "early stopping"
                    break
        if stopped == "time limit":
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    train_s = time.perf_counter() - start
    model.eval()
    test = test_by_language(data.test, data.langs, tc.test_per_lang)
    route = Route(model, data.src_vocab, data.tgt_vocab)
    report = bleu_report(lambda _lang: route, test)
    metrics = {
        "metric": "BLEU (sacreBLEU on normalised text, 0-100); bleu1_legacy = paper's BLEU-1",
        "test_bleu": report["bleu"],
        "test_bleu1_legacy": report["bleu1_legacy"],
        "per_language": report["per_language"],
        "decode_sentences_per_second": report["sentences_per_second"],
        "train_seconds": round(train_s, 2),
        "epochs": tc.epochs,
        "epochs_run": len(epoch_loss),  # a time limit's partial epoch counts as one
        "stopped_by": stopped,  # epochs | early stopping | time limit
        "time_limit_minutes": tc.time_limit_minutes,
        "epoch_loss": epoch_loss,
        "batch_size": bs,
        "output_layer": tc.output_layer,
        "length_buckets": tc.bucket,
        "attention": tc.attention,
        "lr": tc.lr,
        "label_smoothing": tc.label_smoothing,
        "dropout": tc.dropout,
        "clip_norm": tc.clip_norm,
        "lr_decay": tc.lr_decay,
        "bidirectional_encoder": tc.bidirectional,
        "precision": tc.precision,
        **(
            {"patience": tc.patience, "val_loss": val_loss, "best_epoch": best_epoch + 1}
            if tc.patience is not None
            else {}
        ),
        "target_tokens": tokens,
        "target_tokens_per_second": round(tokens / max(train_s, 1e-9), 1),
        "n_train": n,
        "n_test": len(test),
        "src_vocab": data.src_vocab.size,
        "tgt_vocab": data.tgt_vocab.size,
        "notes": data.notes,
    }
    return model, metrics
