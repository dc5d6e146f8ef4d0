"""The retention–accuracy curve (docs/budget.md): composed test accuracy of modules with a fixed
removal fraction per layer (5 % … 95 %), of the ordinary 5 %-cap rule, and of budgeted modules.

Per model the statistics are computed once (one ordinary decomposition, whose concern statistic
ranks the units) and reused for every fraction and budget; each model's rows are cached as JSON
keyed by the model's hash and the settings, so an interrupted sweep resumes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from rnnmod import load_task, preset
from rnnmod.composition.evaluate import evaluate_bank
from rnnmod.decomposition import decompose
from rnnmod.decomposition.budget import Ranking, budget_search, validation_split
from rnnmod.storage import write_json

from .result_cache import cached_json
from .rq1_cost import ModelGrid
from .tables import Col, table, write_tables

FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
BUDGETS = ((1.0, "ovr"), (1.0, "vote"), (0.2, "vote"))


@dataclass
class BudgetOptions(ModelGrid):
    mode: str = "rolled"
    fractions: tuple[float, ...] = FRACTIONS
    budgets: tuple[tuple[float, str], ...] = BUDGETS


CSV_FIELDS = [
    "task", "cell", "depth", "mode", "setting", "removal_fraction", "tolerance_pp", "metric",
    "retained_units", "retained_min", "retained_max", "retained_per_layer", "monolithic",
    "composed", "delta_pp", "cost_relative", "cost_vs_monolithic", "val_unpruned", "val_budgeted",
    "search_seconds", "search_passes", "eval_seconds", "n_test",
]  # fmt: skip


def _row(run, bank, data, output: str, **extra) -> dict:
    t0 = time.perf_counter()
    res = evaluate_bank(run, bank, data, output=output)
    retained = bank.retained_fraction()
    row = {
        "task": run.task,
        "cell": run.model.cfg.cell,
        "depth": run.model.cfg.depth,
        "retained_units": float(retained.mean()),
        "retained_min": float(retained.min()),
        "retained_max": float(retained.max()),
        "retained_per_layer": " ".join(f"{x:.4f}" for x in res["retained_per_layer"]),
        "eval_seconds": round(time.perf_counter() - t0, 3),
    }
    for k in ("monolithic", "composed", "delta_pp", "cost_relative", "cost_vs_monolithic"):
        row[k] = res[k]
    row["n_test"] = res["n_test"]
    row.update(extra)
    return row


def model_rows(run, data, opts: BudgetOptions) -> list[dict]:
    """Every row of one model: the 5 %-cap rule, each fixed fraction, each budget."""
    cfg = preset("default", mode=opts.mode, seed=opts.seed)
    dec = decompose(run.model, data, cfg, progress=False)
    ranking = Ranking.of(dec, run.model.cfg.cell)  # statistics once, reused below
    out = cfg.module_output
    common = {"mode": opts.mode}
    rows = [_row(run, dec.bank, data, out, setting="rule-5%", removal_fraction=None, **common)]
    for f in opts.fractions:
        bank = ranking.fraction_bank(dec.bank, f)
        rows.append(_row(run, bank, data, out, setting="fixed", removal_fraction=f, **common))
    x_val, y_val, _source = validation_split(data, 0.1, opts.seed)
    pad = None if run.model.one_output else data.pad_label
    for tol, metric in opts.budgets:
        t0 = time.perf_counter()
        res = budget_search(
            run.model,
            dec.bank,
            ranking,
            x_val,
            y_val,
            tolerance_pp=tol,
            pad=pad,
            metric=metric,
            output=out,
        )
        dt = time.perf_counter() - t0
        rows.append(
            _row(
                run,
                res.bank,
                data,
                out,
                setting="budget",
                removal_fraction=None,
                tolerance_pp=tol,
                metric=metric,
                val_unpruned=float(res.reference.mean()),
                val_budgeted=float(res.final.mean()),
                search_seconds=round(dt, 3),
                search_passes=res.summary["fused_passes"],
                **common,
            )
        )
    return rows


def run_budget(opts: BudgetOptions) -> list[dict]:
    """Run (or resume) the sweep; writes results/budget.{csv,md,png}. Returns every row."""
    cache = opts.results_dir / "budget" / "cache"
    data = load_task(opts.task, opts.data_dir)
    if data.x_val is None:
        data.notes.append("validation: a seeded 10 % of the training split (no validation split)")
    settings = json.dumps(
        [opts.mode, list(opts.fractions), [list(b) for b in opts.budgets], opts.seed, 1]
    )
    rows: list[dict] = []
    start = time.perf_counter()
    for run in opts.runs(data, "budget"):
        f, got = cached_json(cache, f"{run.model_sha256()}:{settings}")
        if got is not None:
            rows += got
            continue
        t0 = time.perf_counter()
        model_result = model_rows(run, data, opts)
        for r in model_result:
            r["model_seconds"] = round(time.perf_counter() - t0, 1)
        write_json(f, model_result)
        rows += model_result
    write_reports(rows, opts.results_dir, time.perf_counter() - start)
    return rows


def write_reports(rows: list[dict], results_dir: Path, wall_seconds: float) -> None:
    write_tables(results_dir, "budget", rows, CSV_FIELDS, render_markdown(rows, wall_seconds),
                 round_floats=6)  # fmt: skip
    try:
        plot(rows, results_dir / "budget.png")
    except ImportError:
        print("rnnmod: matplotlib is not installed (pip install 'rnnmod[plot]'): no figure")


def _label(r: dict) -> str:
    if r["setting"] == "fixed":
        return f"fixed {r['removal_fraction']:.0%}"
    if r["setting"] == "budget":
        return f"budget {r['tolerance_pp']:g} pp ({r['metric']})"
    return "5 % cap rule (paper)"


def _validation(r: dict) -> str:
    if r.get("val_unpruned") is None:
        return ""
    return f"{r['val_unpruned']:.4f} → {r['val_budgeted']:.4f}"


COLUMNS = [
    Col("model", "{cell}-{depth}"),
    Col("setting", _label),
    Col("retained (mean, min–max)", "{retained_units:.1%} ({retained_min:.0%}–{retained_max:.0%})"),
    Col("per layer", "{retained_per_layer}"),
    Col("composed", "{composed:.4f}"),
    Col("Δ pp", "{delta_pp:+.2f}"),
    Col("cost", "{cost_relative:.1%}"),
    Col("val (unpruned → budgeted)", _validation),
]


def render_markdown(rows: list[dict], wall_seconds: float) -> list[str]:
    return [
        "# Retention–accuracy curve (Δ = composed − monolithic test accuracy, pp)",
        "",
        "Cost = MACs of the composed model / (modules × monolithic MACs) (docs/budget.md).",
        "",
        *table(COLUMNS, rows),
        "",
        f"Wall time of this invocation: {wall_seconds:.0f} s (cached models reused).",
    ]


CELL_COLORS = {"lstm": "tab:blue", "gru": "tab:orange", "rnn": "tab:green", "rnn-relu": "tab:red"}


def plot(rows: list[dict], path: Path) -> None:
    """Composed Δ vs mean retained fraction: one line per cell kind (solid depth 1, dashed
    depth 2, …), budgeted modules as markers, the paper's 5 % rule as a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = ["-", "--", ":", "-."]
    markers = {"ovr": "o", "vote": "s"}
    for ax, zoom in zip(axes, (False, True)):
        models = sorted({(r["cell"], r["depth"]) for r in rows})
        for cell, depth in models:
            rs = [r for r in rows if r["cell"] == cell and r["depth"] == depth]
            color = CELL_COLORS.get(cell, "black")
            fixed = sorted(
                (r for r in rs if r["setting"] == "fixed"), key=lambda r: r["retained_units"]
            )
            ax.plot(
                [r["retained_units"] for r in fixed],
                [r["delta_pp"] for r in fixed],
                styles[(depth - 1) % 4],
                color=color,
                marker=".",
                label=f"{cell}-{depth} fixed fraction",
            )
            for r in rs:
                if r["setting"] == "rule-5%":
                    ax.plot(
                        r["retained_units"], r["delta_pp"], "*", color=color, ms=13, mec="black"
                    )
                elif r["setting"] == "budget":
                    ax.plot(
                        r["retained_units"],
                        r["delta_pp"],
                        markers.get(r["metric"], "D"),
                        color=color,
                        ms=8 if r["tolerance_pp"] >= 1 else 6,
                        mec="black" if r["tolerance_pp"] >= 1 else color,
                        mew=1 if r["tolerance_pp"] >= 1 else 2,
                        mfc=color if r["tolerance_pp"] >= 1 else "white",
                    )
        ax.axhline(-1, color="gray", lw=0.8, ls=":")
        ax.axvline(0.5, color="gray", lw=0.8, ls=":")
        ax.set_xlabel("mean retained fraction of hidden units per module")
        ax.set_ylabel("composed Δ (pp) on the test split")
        if zoom:
            ax.set_ylim(-8, 1)
            ax.set_xlim(0.3, 1.0)
            ax.set_title("zoom: target = left of 0.5, above −1 pp")
        else:
            ax.set_title("retention–accuracy curve")
        ax.grid(alpha=0.3)
    from matplotlib.lines import Line2D

    extra = [
        Line2D(
            [], [], marker="*", ls="", color="gray", mec="black", ms=12, label="paper 5 % cap rule"
        ),
        Line2D([], [], marker="o", ls="", color="gray", mec="black", label="budget 1 pp (ovr)"),
        Line2D([], [], marker="s", ls="", color="gray", mec="black", label="budget 1 pp (vote)"),
        Line2D([], [], marker="s", ls="", mfc="white", mec="black", label="budget 0.2 pp (vote)"),
    ]
    handles, _ = axes[0].get_legend_handles_labels()
    axes[0].legend(handles=handles + extra, fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
