"""Translator training throughput: target tokens per CPU-second and per wall-second.

Trains the paper's translator (256 units, 128-d embeddings, one layer by default) on Tatoeba
pairs for a fixed number of batches in each configuration, interleaved in rounds (the machine is
shared), and reports the median of each:

* ``softmax-b64``  — today's default: full softmax over the target vocabulary, batch 64;
* ``adaptive-b64`` — the adaptive softmax output layer (``--output-layer adaptive``), batch 64;
* ``adaptive-b128`` / ``softmax-b128`` — the same at batch 128;
* ``*-bucketed``   — batches of pairs of similar target length (``--bucket``:
  ``rnnmod.translation.train.epoch_batches``);
* ``*-fused``      — the trainer's optimiser (``make_optimizer``: Adam as one fused kernel); the
  other rows keep the loop implementation of Adam the trainer used before, so the first row is
  the implementation the throughput goal is measured against.

Beside the throughput, a FLOP estimate of the same model (forward + backward ≈ 3 × forward;
encoder and decoder steps, the output layer over the whole vocabulary for the softmax) gives
the achieved GFLOP/s.

    .venv/bin/python benchmarks/seq2seq_training.py --threads 1 --batches 30
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, result_header, write_result  # noqa: E402

from rnnmod.translation.data import build_translation_data, pairs_for  # noqa: E402
from rnnmod.translation.train import (  # noqa: E402
    Seq2SeqTrainConfig,
    build_seq2seq,
    epoch_batches,
    make_optimizer,
)


def run_config(
    data,
    name: str,
    layer: str,
    bs: int,
    bucketed: bool,
    fused: bool,
    n_batches: int,
    *,
    bf16: bool = False,
    **overrides: object,
) -> dict:
    """One configuration's training batches; ``overrides`` sets Seq2SeqTrainConfig fields
    (attention, embed_dim, …) and ``bf16`` runs the passes under bfloat16 autocast, as
    ``rnnmod train --precision bf16`` does."""
    tc = Seq2SeqTrainConfig(cell="lstm", depth=1, batch_size=bs, output_layer=layer, **overrides)
    torch.manual_seed(0)
    model = build_seq2seq(data, tc)
    model.train()
    if fused:
        opt = make_optimizer(model, 1e-3)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    src, tin, tout = data.src_train, data.tgt_in, data.tgt_out
    groups = epoch_batches(tout, bs, torch.Generator().manual_seed(0), bucketed)[:n_batches]
    tokens = sum(int((tout[idx] != 0).sum()) for idx in groups)
    src_tokens = sum(int((src[idx] != 0).sum()) for idx in groups)
    wall, cpu = time.perf_counter(), time.process_time()
    for idx in groups:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model.loss(src[idx], tin[idx], tout[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"name": name, "tokens": tokens, "src_tokens": src_tokens, "wall": wall, "cpu": cpu,
            "last_loss": round(float(loss.detach()), 4)}  # fmt: skip


def flops_per_target_token(data, hidden: int, embed: int, src_per_tgt: float) -> dict:
    """Training FLOPs (3 × forward) per target token of the full-softmax model."""
    rnn = 2 * 4 * hidden * (embed + hidden)  # one LSTM step, multiply–adds × 2
    head = 2 * hidden * data.tgt_vocab.size
    return {"recurrent": 3 * rnn * (1 + src_per_tgt), "softmax_head": 3 * head}


def parse_args(argv: list[str] | None, doc: str, rounds: int, max_vocab: int):
    """The options both translator-training benchmarks share."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--batches", type=int, default=30, help="training batches per measurement")
    p.add_argument("--rounds", type=int, default=rounds)
    p.add_argument("--limit", type=int, default=24000, help="training pairs loaded")
    p.add_argument("--max-vocab", type=int, default=max_vocab)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--data-dir", default=os.environ.get("RNNMOD_DATA") or str(ROOT.parent / "shared" / "data")
    )
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    return args


def load_data(args):
    """Tatoeba en→fr/de/it training tensors: ``--limit`` pairs, ``--max-vocab`` words."""
    opts = {"langs": ["fr", "de", "it"], "max_train": args.limit, "max_vocab": args.max_vocab,
            "subset_seed": 0, "subdir": "main", "source": "en", "suffix": "_train",
            "split_seed": 19}  # fmt: skip
    return build_translation_data(
        pairs_for(opts, args.data_dir), max_train=args.limit, max_vocab=args.max_vocab, seed=0
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__, rounds=3, max_vocab=8000)
    data = load_data(args)
    configs = [
        ("softmax-b64", "softmax", 64, False, False),
        ("adaptive-b64", "adaptive", 64, False, False),
        ("softmax-b128", "softmax", 128, False, False),
        ("adaptive-b128", "adaptive", 128, False, False),
        ("adaptive-b128-bucketed", "adaptive", 128, True, False),
        ("softmax-b64-fused", "softmax", 64, False, True),
        ("adaptive-b128-bucketed-fused", "adaptive", 128, True, True),
        ("adaptive-b256-bucketed-fused", "adaptive", 256, True, True),
    ]
    seen: dict[str, list[dict]] = {c[0]: [] for c in configs}
    for _ in range(args.rounds):
        for name, layer, bs, bucketed, fused in configs:
            seen[name].append(run_config(data, name, layer, bs, bucketed, fused, args.batches))
    rows = []
    base = None
    for name, *_ in configs:
        runs = seen[name]
        per_cpu = statistics.median(r["tokens"] / r["cpu"] for r in runs)
        per_wall = statistics.median(r["tokens"] / r["wall"] for r in runs)
        base = base or per_cpu
        rows.append(
            {
                "config": name,
                "target_tokens_per_cpu_second": round(per_cpu, 1),
                "target_tokens_per_wall_second": round(per_wall, 1),
                "vs_softmax_b64_cpu": round(per_cpu / base, 3),
            }
        )
        print(
            f"{name:24s} {per_cpu:8.0f} tok/CPU-s {per_wall:8.0f} tok/wall-s ×{per_cpu / base:.2f}"
        )
    r0 = seen["softmax-b64"][0]
    fl = flops_per_target_token(data, 256, 128, r0["src_tokens"] / r0["tokens"])
    gflops = (fl["recurrent"] + fl["softmax_head"]) * rows[0]["target_tokens_per_cpu_second"] / 1e9
    result = result_header("seq2seq_training", argv)
    result |= {
        "model": "LSTM-1, 256 units, 128-d embeddings",
        "n_train_pairs": len(data.src_train),
        "tgt_vocab": data.tgt_vocab.size,
        "batches_per_measurement": args.batches,
        "rounds": args.rounds,
        "rows": rows,
        "flops_per_target_token": fl,
        "softmax_b64_gflops_per_cpu_second": round(gflops, 2),
    }
    print(write_result(args.out, "seq2seq_training", result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
