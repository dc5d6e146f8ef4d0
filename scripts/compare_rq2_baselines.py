"""Brown RQ2 pairs measured against two baseline settings, side by side, per cell.

    python scripts/compare_rq2_baselines.py results/rq2_brown_2epochs.csv results/rq2.csv

Prints, per cell, over the pairs both files hold: mean/median/worst Δ (pp) of the second file,
mean Δ of the first, and the mean scratch and composed accuracies of each (docs/results.md, RQ2).
"""

from __future__ import annotations

import csv
import statistics as st
import sys


def brown_rows(path: str) -> dict[tuple, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["task"] == "brown"]
    return {(r["cell"], r["class_1"], r["class_2"]): r for r in rows}


def main(first: str, second: str) -> None:
    a, b = brown_rows(first), brown_rows(second)
    shared = [k for k in b if k in a]

    def mean(rows: dict, keys: list, col: str) -> float:
        return st.fmean(float(rows[k][col]) for k in keys)

    for cell in sorted({k[0] for k in shared}):
        ks = [k for k in shared if k[0] == cell]
        d = [float(b[k]["delta_pp"]) for k in ks]
        print(
            f"{cell}: {len(ks)} pairs, Δ {st.fmean(d):+.2f} (median {st.median(d):+.2f}, worst "
            f"{min(d):+.2f}) vs {mean(a, ks, 'delta_pp'):+.2f}; scratch "
            f"{mean(b, ks, 'baseline'):.4f} vs {mean(a, ks, 'baseline'):.4f}; composed "
            f"{mean(b, ks, 'composed'):.4f} vs {mean(a, ks, 'composed'):.4f}"
        )
    print(
        f"all: {len(shared)} pairs, Δ {mean(b, shared, 'delta_pp'):+.2f} vs "
        f"{mean(a, shared, 'delta_pp'):+.2f}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
