"""Translator training in float32 against bfloat16 autocast (``rnnmod train --precision bf16``).

The attention recipe of docs/translation.md (LSTM-1, 256 units, 256-d embeddings, Bahdanau
attention, a bidirectional encoder, dropout 0.2, adaptive softmax, length-bucketed batches of
128, fused Adam) on Tatoeba training pairs, the same batches in both precisions, interleaved
in rounds (the machine is shared); medians of target tokens per wall-second, their ratio, and
the training loss after the last batch of each (the same batches from the same initial weights).

    .venv/bin/python benchmarks/seq2seq_precision.py --threads 1 --batches 30
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import result_header, write_result  # noqa: E402
from seq2seq_training import load_data, parse_args, run_config  # noqa: E402

RECIPE = {"attention": "bahdanau", "bidirectional": True, "embed_dim": 256, "dropout": 0.2}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__, rounds=2, max_vocab=30000)
    data = load_data(args)
    seen: dict[str, list[dict]] = {"fp32": [], "bf16": []}
    for _ in range(args.rounds):
        for name in seen:
            row = run_config(data, name, "adaptive", 128, True, True, args.batches,
                             bf16=name == "bf16", **RECIPE)  # fmt: skip
            seen[name].append(row)
    rows = {
        name: {
            "target_tokens_per_wall_second": round(
                statistics.median(r["tokens"] / r["wall"] for r in runs), 1
            ),
            "target_tokens_per_cpu_second": round(
                statistics.median(r["tokens"] / r["cpu"] for r in runs), 1
            ),
            "last_loss": runs[0]["last_loss"],
        }
        for name, runs in seen.items()
    }
    speedup = (
        rows["bf16"]["target_tokens_per_wall_second"]
        / rows["fp32"]["target_tokens_per_wall_second"]
    )
    for name, row in rows.items():
        print(f"{name}: {row}")
    print(f"bf16 / fp32 (wall): {speedup:.2f}")
    result = result_header("seq2seq_precision", argv)
    result |= {
        "model": "LSTM-1 + Bahdanau, bidirectional encoder, 256 units, 256-d embeddings",
        "threads": args.threads,
        "n_train_pairs": len(data.src_train),
        "tgt_vocab": data.tgt_vocab.size,
        "batches_per_measurement": args.batches,
        "rounds": args.rounds,
        "rows": rows,
        "bf16_speedup_wall": round(speedup, 3),
    }
    print(write_result(args.out, f"seq2seq_precision_t{args.threads}", result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
