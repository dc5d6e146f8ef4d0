"""A classifier's learned budget with part of the validation split held back to confirm the
chosen checkpoint (``LearnedOptions.confirm_frac``): retained units, validation and test Δ.

The library never reads the test split while learning; this script scores the chosen masks on
it afterwards, for docs/budget.md.

    .venv/bin/python scripts/learned_confirmation.py RUN [RUN ...] [--frac 0.5] [--budget 1]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import torch

from rnnmod import load_run, preset
from rnnmod.decomposition.learned import (
    ClassifierObjective,
    composed_accuracy,
    learned_masks,
    monolithic_accuracy,
)
from rnnmod.kinds import kind_of


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--frac", type=float, default=0.5, help="share of validation that confirms")
    p.add_argument("--budget", type=float, default=1.0, help="tolerance in pp (default 1)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--removed-units", default="dead", choices=("dead", "linear", "auto"),
        help="what removed units become (default dead: the measurements in docs/budget.md)",
    )  # fmt: skip
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    for path in args.runs:
        t0 = time.perf_counter()
        run = load_run(path)
        kind = kind_of(run)
        data = kind.load_data(run, None)
        bank = kind.decompose(run, data, preset("default"), progress=False).bank
        steps, budget_defaults = ClassifierObjective.defaults(budget=True)
        opts = replace(budget_defaults, confirm_frac=args.frac, removed_units=args.removed_units)
        got, s = learned_masks(
            run.model, data, bank, tolerance_pp=args.budget, steps=steps, seed=0, options=opts
        )
        x, y, pad = data.x_test, data.y_test, data.pad_label
        mono = monolithic_accuracy(run.model, got, x, y, pad)
        comp = composed_accuracy(run.model, got, x, y, pad)
        row = {
            "run": path,
            "retained": s["retained_mean"],
            "chosen": s["chosen"],
            "confirmation": s.get("confirmation"),
            "val_monolithic": s["val_monolithic"],
            "test_monolithic": round(mono, 6),
            "test_composed": round(comp, 6),
            "delta_pp": round(100 * (comp - mono), 2),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
