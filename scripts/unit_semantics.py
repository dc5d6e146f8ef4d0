"""Dead units vs the original tool's edits (``--unit-semantics``) on one classifier run
(docs/method.md, "What a removed unit is").

Usage: RNNMOD_DATA=../shared/data python scripts/unit_semantics.py RUN [--preset paper]

RUN is a run directory: one trained here (``rnnmod train --task clinc --legacy-vocab``) or one of
the original tool's models imported with ``rnnmod import-keras … --legacy-vocab --semantics
paper``. Per mode and unit semantics it prints the composed accuracy on the test split, how many
composed predictions the two semantics disagree on, and the seconds the fused bank takes to score
the test split (one thread). The masks are the same for both semantics: only what a removed unit
is differs.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from rnnmod.decomposition import decompose, preset
from rnnmod.kinds import kind_of
from rnnmod.modules import vote
from rnnmod.runs import load_run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--preset", default="paper", choices=("paper", "default"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = load_run(args.run)
    data = kind_of(run).load_data(run, os.environ.get("RNNMOD_DATA"))
    with torch.no_grad():
        mono = run.model(data.x_test).argmax(-1)
    out = {"run": args.run, "n_test": len(data.y_test)}
    out["monolithic"] = round(float((mono == data.y_test).float().mean()), 4)
    for mode in ("unrolled", "rolled"):
        preds = {}
        for semantics in ("dead", "legacy-edits"):
            cfg = preset(args.preset, mode=mode, unit_semantics=semantics)
            bank = decompose(run.model, data, cfg, progress=False).bank
            start = time.perf_counter()
            scores = bank.scores(run.model, data.x_test)
            seconds = time.perf_counter() - start
            preds[semantics] = vote(scores, bank.class_index)
            out[f"{mode} {semantics}"] = {
                "composed": round(float((preds[semantics] == data.y_test).float().mean()), 4),
                "score_seconds": round(seconds, 2),
            }
        out[f"{mode} predictions changed"] = int((preds["dead"] != preds["legacy-edits"]).sum())
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
