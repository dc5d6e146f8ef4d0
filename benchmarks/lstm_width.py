"""How efficient torch's native LSTM kernel is at the widths compact modules have.

One ``nn.LSTM`` per width (input 50 — Clinc's embedding —, batch 256, 15 steps), inference, the
mean of ``--calls`` calls after a warm-up; picoseconds per multiply–accumulate
(4 · H · (in + H) per example and step). The compact bank runs each module as such a layer, so
its wall time over the MAC model's ratio follows this efficiency (docs/budget.md).

    .venv/bin/python benchmarks/lstm_width.py --threads 1
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, per_call, result_header, write_result  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--widths", default="24,28,31,32,36,40,48,64,100")
    p.add_argument("--input", type=int, default=50)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--calls", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    x = torch.randn(args.batch, args.steps, args.input, generator=torch.Generator().manual_seed(0))
    rows = []
    for h in (int(w) for w in args.widths.split(",")):
        layer = torch.nn.LSTM(args.input, h, batch_first=True).eval()
        with torch.no_grad():
            call = functools.partial(layer, x)
            per_call(call, 5)  # warm-up
            sec = per_call(call, args.calls)
        macs = 4 * h * (args.input + h) * args.batch * args.steps
        rows.append({"hidden": h, "ms_per_call": round(sec * 1e3, 3),
                     "ps_per_mac": round(sec * 1e12 / macs, 2)})  # fmt: skip
        print(f"{h:4d} units: {sec * 1e3:7.3f} ms  {sec * 1e12 / macs:6.2f} ps/MAC")
    result = {**result_header("lstm_width", argv), "rows": rows}
    print(write_result(args.out, "lstm_width", result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
