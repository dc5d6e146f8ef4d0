"""Intra reuse of every class pair (the composed side of RQ2's protocol) for several module sets.

For each module set and every pair of classes c1 < c2: the 2-module model (modules c1 and c2,
the most confident wins) on the test examples labelled c1 or c2. Prints and writes the mean,
minimum and per-pair accuracies, so module sets of one model (the paper's rule, learned masks,
a rank budget) can be set side by side (docs/budget.md).

    .venv/bin/python scripts/reuse_pairs.py mods/lstm1-rule mods/lstm1-learned --out results/reuse_pairs.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch


def pair_accuracies(path: Path) -> dict:
    import rnnmod
    from rnnmod.kinds import kind_of
    from rnnmod.modules.module import vote

    ms = rnnmod.load(path)
    bank, run = next(iter(ms.banks.values())), next(iter(ms.sources.values()))
    data = kind_of(run).load_data(run, None)
    y = data.y_test
    scores = bank.scores(run.model.eval(), data.x_test)  # [K, N], every module once
    out = {}
    for a, b in itertools.combinations(range(len(bank)), 2):
        c1, c2 = bank.class_index[a], bank.class_index[b]
        on = (y == c1) | (y == c2)
        pred = vote(scores[[a, b]][:, on], [c1, c2])
        out[f"{run.label_names[c1]}|{run.label_names[c2]}"] = float((pred == y[on]).float().mean())
    acc = torch.tensor(list(out.values()))
    return {
        "module_set": str(path),
        "retained_units": float(bank.retained_fraction().mean()),
        "pairs": len(out),
        "mean": float(acc.mean()),
        "min": float(acc.min()),
        "per_pair": out,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("sets", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=None, help="JSON file for every pair")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    res = [pair_accuracies(s) for s in args.sets]
    for r in res:
        print(
            f"{r['module_set']}: retained {r['retained_units']:.3f}, {r['pairs']} pairs, "
            f"mean {100 * r['mean']:.2f} %, min {100 * r['min']:.2f} %"
        )
    if args.out:
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
