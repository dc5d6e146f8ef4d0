"""Ten narrow modules as ten native layers, or packed side by side into fewer, wider ones.

For each cell kind, ten modules of ``--width`` units (input 50 — Clinc's embedding —, batch 256,
15 steps, inference, one thread) run as 10 / 5 / 2 / 1 native layers of ``width · g`` units
(g modules side by side); the median over 7 interleaved rounds of the time over one 100-unit
layer's (the monolithic model's) in the same round. What the compact bank's ``GROUP_WIDTH``
rests on (docs/budget.md).

    .venv/bin/python benchmarks/group_width.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, result_header, write_result  # noqa: E402

LAYERS = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}


def once(layers: list[torch.nn.Module], x: torch.Tensor, reps: int) -> float:
    """Seconds per call of every layer in turn (mean of ``reps``)."""
    t0 = time.perf_counter()
    for _ in range(reps):
        for layer in layers:
            layer(x)
    return (time.perf_counter() - t0) / reps


@torch.no_grad()
def ratios(configs: dict, x: torch.Tensor, rounds: int = 7, reps: int = 10) -> dict:
    """Median over interleaved rounds of each configuration's time over the monolithic layer's
    in the same round (``configs["mono"]``): drift between rounds cancels."""
    for layers in configs.values():
        once(layers, x, 1)  # warm-up
    seen: dict = {name: [] for name in configs}
    for _ in range(rounds):
        for name, layers in configs.items():
            seen[name].append(once(layers, x, reps))
    return {
        name: statistics.median(t / m for t, m in zip(v, seen["mono"], strict=True))
        for name, v in seen.items()
        if name != "mono"
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--widths", default="lstm=22,gru=20,gru=24,gru=32,rnn=28", help="cell=units per module"
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    x = torch.randn(256, 15, 50, generator=torch.Generator().manual_seed(0))
    rows = []
    for item in args.widths.split(","):
        cell, width = item.split("=")
        make = LAYERS[cell]
        configs = {"mono": [make(50, 100, batch_first=True).eval()]}
        for per_layer in (1, 2, 5, 10):
            configs[per_layer] = [make(50, int(width) * per_layer, batch_first=True).eval()
                                  for _ in range(10 // per_layer)]  # fmt: skip
        for per_layer, ratio in ratios(configs, x).items():
            rows.append({"cell": cell, "module_width": int(width), "modules_per_layer": per_layer,
                         "layers": 10 // per_layer, "vs_monolithic_layer": round(ratio, 3)})  # fmt: skip
            print(
                f"{cell} {width}-unit modules, {per_layer} per layer: {ratio:.2f}× the 100-unit layer"
            )
    print(
        write_result(args.out, "group_width", {**result_header("group_width", argv), "rows": rows})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
