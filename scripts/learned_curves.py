"""Retention–accuracy curves of learned masks beside the rank method and the paper's rule.

For each run: the ordinary decomposition, then learned masks with a budget that never stops
(tolerance 100 pp) down to ``--floor``; at every checkpoint the composed model is scored on the
validation split (what ``--budget`` chooses on) and, here only, on the test split. The rank
method's fixed-fraction points and the paper rule's point come from ``results/budget.csv`` (the
same runs, `reproduce budget`). ``--removed-units dead,linear`` (default): a curve with dead
removed units for every run and one with the linear fill (``--removed-units linear``) for GRU
runs. Writes ``results/learned_curve.csv`` and ``.png``.

``weights_retained`` is the composed model's MACs per module over the monolithic model's
(rnnmod.metrics.cost: recurrent and head weights, each used once per step), the number to set
beside SeaM's and MwT's retained-weight fractions.

    .venv/bin/python scripts/learned_curves.py runs/rq1/clinc-lstm1 runs/rq1/clinc-gru1 --threads 1
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def curve_for(
    run_dir: Path, steps: int, floor: float, every: int, seed: int, removed: str
) -> list[dict]:
    import rnnmod
    from rnnmod.decomposition.config import DecompositionConfig
    from rnnmod.decomposition.learned import ClassifierObjective, composed_accuracy, learned_masks
    from rnnmod.kinds import kind_of
    from rnnmod.metrics.cost import composed_cost
    from rnnmod.nn.zoo import predict_logits

    run = rnnmod.load(run_dir)
    kind = kind_of(run)
    data = kind.load_data(run, None)
    model = run.model.eval()
    dec = kind.decompose(run, data, DecompositionConfig(seed=seed), progress=False)
    mono = float((predict_logits(model, data.x_test).argmax(-1) == data.y_test).float().mean())
    rows: list[dict] = []

    def seen(point: dict, bank) -> None:
        test = composed_accuracy(model, bank, data.x_test, data.y_test)
        cost = composed_cost(model, bank)
        rows.append(
            {
                "run": run_dir.name,
                "cell": model.cfg.cell,
                "depth": model.cfg.depth,
                "method": f"learned, {'linear fill' if removed == 'linear' else 'dead units'}",
                "step": point["step"],
                "retained_units": point["retained"],
                "weights_retained": round(cost["cost_relative"], 6),
                "cost_vs_monolithic": round(cost["cost_vs_monolithic"], 6),
                "val_accuracy": point["val_accuracy"],
                "monolithic": round(mono, 6),
                "composed": round(test, 6),
                "delta_pp": round(100 * (test - mono), 3),
            }
        )
        print(
            f"{run_dir.name} {point['retained']:.3f} val {point['val_accuracy']:.4f} "
            f"test Δ {100 * (test - mono):+.2f} pp",
            flush=True,
        )

    _, budget_defaults = ClassifierObjective.defaults(budget=True)  # the budget's schedule
    opts = replace(budget_defaults, floor=floor, check_every=every, patience=10**9, dense_below=1.0)
    learned_masks(
        model,
        data,
        dec.bank,
        tolerance_pp=100.0,
        steps=steps,
        seed=seed,
        options=opts,
        on_checkpoint=seen,
        removed_units=removed,
    )
    return rows


def _cell(run_dir: Path) -> str:
    import rnnmod

    return rnnmod.load(run_dir).model.cfg.cell


def rank_rows(budget_csv: Path, cell: str, depth: int) -> list[dict]:
    """The rank method's fixed fractions and the paper rule from `reproduce budget`."""
    if not budget_csv.exists():
        return []
    out = []
    with budget_csv.open() as f:
        for r in csv.DictReader(f):
            if (r["task"], r["cell"], r["depth"], r["mode"]) != (
                "clinc",
                cell,
                str(depth),
                "rolled",
            ):
                continue
            if r["setting"] not in ("fixed", "rule-5%"):
                continue
            out.append(
                {
                    "method": "paper rule" if r["setting"] == "rule-5%" else "rank",
                    "retained_units": float(r["retained_units"]),
                    "weights_retained": float(r["cost_relative"]),
                    "delta_pp": float(r["delta_pp"]),
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("runs", nargs="*", type=Path)
    p.add_argument("--steps", type=int, default=1600, help="the budget's default")
    p.add_argument("--floor", type=float, default=0.05)
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--removed-units",
        default="dead,linear",
        help="what removed units become, one curve each (linear: GRU models only)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "results" / "learned_curve")
    p.add_argument("--plot-only", action="store_true", help="redraw the figure from OUT.csv")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.plot_only:
        with args.out.with_suffix(".csv").open() as f:
            rows = [
                dict(r, depth=int(r["depth"]), retained_units=float(r["retained_units"]),
                     delta_pp=float(r["delta_pp"]))
                for r in csv.DictReader(f)
            ]  # fmt: skip
    else:
        rows = [
            r
            for run in args.runs
            for removed in args.removed_units.split(",")
            if removed == "dead" or _cell(run) == "gru"
            for r in curve_for(run, args.steps, args.floor, args.every, args.seed, removed)
        ]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.with_suffix(".csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["run"] for r in rows))
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        mine = [r for r in rows if r["run"] == name]
        for method in dict.fromkeys(r["method"] for r in mine):
            curve = [r for r in mine if r["method"] == method]
            ax.plot(
                [r["retained_units"] for r in curve],
                [r["delta_pp"] for r in curve],
                "o-",
                label=f"{method} (test)",
                ms=3,
            )
        ranks = rank_rows(ROOT / "results" / "budget.csv", mine[0]["cell"], mine[0]["depth"])
        fixed = sorted(
            (r for r in ranks if r["method"] == "rank"), key=lambda r: r["retained_units"]
        )
        if fixed:
            ax.plot(
                [r["retained_units"] for r in fixed],
                [r["delta_pp"] for r in fixed],
                "s--",
                label="rank, fixed fraction",
                ms=3,
            )
        for r in ranks:
            if r["method"] == "paper rule":
                ax.plot([r["retained_units"]], [r["delta_pp"]], "k*", ms=9, label="paper rule")
        ax.axhline(-1, color="grey", lw=0.8, ls=":")
        ax.set_title(f"Clinc {mine[0]['cell'].upper()}-{mine[0]['depth']} ({name})")
        ax.set_xlabel("retained units")
        ax.set_ylabel("composed − monolithic (pp)")
        ax.set_ylim(-15, 1)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"), dpi=120)
    print(args.out.with_suffix(".csv"), args.out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
