"""The authors' 1.1 ratio rule past the cap vs stopping at the cap, on one model (docs/method.md).

Usage: RNNMOD_DATA=../shared/data python scripts/ratio_rule_brown_lstm4.py [RUN] [--max-test N]
Prints, per mode and rule, the composed − monolithic accuracy (real tokens, pp) and the fraction
of units each layer keeps on average over modules (and steps).
"""

from __future__ import annotations

import argparse
import os

import torch

from rnnmod.data import load_task
from rnnmod.decomposition import decompose, preset
from rnnmod.metrics.accuracy import accuracy
from rnnmod.modules import vote
from rnnmod.nn.zoo import predict_logits
from rnnmod.runs import load_run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", nargs="?", default="runs/rq1/brown-lstm4")
    ap.add_argument("--max-test", type=int, default=3000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = load_run(args.run)
    data = load_task(run.task, os.environ.get("RNNMOD_DATA")).limit_test(args.max_test, 0)
    mono = accuracy(predict_logits(run.model, data.x_test).argmax(-1), data.y_test, data.pad_label)
    for mode in ("rolled", "unrolled"):
        for ratio in (1.1, 0.0):
            cfg = preset("default", mode=mode, ratio_rule=ratio)
            bank = decompose(run.model, data, cfg, progress=False).bank
            pred = vote(bank.scores(run.model, data.x_test), bank.class_index)
            delta = 100 * (accuracy(pred, data.y_test, data.pad_label) - mono)
            kept = [round(m.float().mean().item(), 3) for m in bank.unit_masks]
            print(f"{mode:8s} ratio_rule={ratio}: delta {delta:+.2f} pp, kept per layer {kept}")


if __name__ == "__main__":
    main()
