"""The learned masks' retention–accuracy curve beside the rank method's and the paper's rule
(docs/budget.md, "The curve"): ``rnnmod reproduce learned-curve``.

Per model, the budget's learner (its default schedule) runs without stopping — tolerance 100 pp,
the target falling to ``floor`` — and every ``every`` steps its binarised masks are scored as a
composed model on the validation split (what ``--budget`` chooses on) and, here only, on the test
split, twice: with the removed units dead and with their linear fill (``--removed-units
linear``, where the model takes one). The masks are learned for dead units either way, so one
run gives both curves. Where the model takes a fill, a second run learns the masks with their
fill (``--removed-units learned``, the default of ``--budget``; its 1,200-step schedule, the
target falling to ``floor``) and each of its checkpoints is scored with its own fill. The rank method's fixed fractions and the paper rule's point come from
``budget.csv`` (``rnnmod reproduce budget`` on the same runs). Writes ``learned_curve.csv``,
``learned_curve.md`` (per model: the smallest point of each method within 1 pp) and
``learned_curve.png``; each model's rows are cached by its hash and the settings.

``weights_retained`` is ``cost_relative`` (rnnmod.metrics.cost: a module's recurrent and head
multiply–accumulates over the monolithic model's, each weight used once per step), the number
to set beside SeaM's and MwT's retained-weight fractions.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from rnnmod import load_task, preset
from rnnmod.decomposition import decompose
from rnnmod.decomposition.budget import validation_split
from rnnmod.decomposition.learned import learned_masks
from rnnmod.decomposition.mask_objective import (
    ClassifierObjective,
    composed_accuracy,
    monolithic_accuracy,
)
from rnnmod.metrics.cost import composed_cost
from rnnmod.modules.fill import fill_unsupported
from rnnmod.storage import write_json

from .result_cache import cached_json
from .rq1_cost import ModelGrid
from .tables import Col, num, table, write_tables

TOLERANCE_PP = 1.0  # the summary's reading: the smallest point within this many pp

CSV_FIELDS = [
    "task", "cell", "depth", "method", "step", "retained_units", "weights_retained",
    "cost_vs_monolithic", "val_monolithic", "val_accuracy", "val_delta_pp", "monolithic",
    "composed", "delta_pp",
]  # fmt: skip

DEAD, FILLED = "learned, dead units", "learned, linear fill"
LEARNED_FILL = "learned, learned fill"  # the masks of a run of their own (the default of --budget)


@dataclass
class CurveOptions(ModelGrid):
    depths: list[int] = field(default_factory=lambda: [1])
    steps: int | None = None  # None: the budget's default schedule
    floor: float = 0.05
    every: int = 50


def model_curve(run, data, opts: CurveOptions) -> list[dict]:
    """Every checkpoint of one model's learned masks, scored dead and (where the model takes
    one) with the linear fill, on the validation and the test split; where it takes one, also
    every checkpoint of a second run that learns the masks with their fill (``--removed-units
    learned``, its budget schedule: 1,200 steps), each scored with its own fill."""
    model = run.model.eval()
    dec = decompose(model, data, preset("default", seed=opts.seed), progress=False)
    pad = None if model.one_output else data.pad_label
    x_val, y_val, _ = validation_split(data, 0.1, opts.seed)
    ref = {
        "val": monolithic_accuracy(model, dec.bank, x_val, y_val, pad),
        "test": monolithic_accuracy(model, dec.bank, data.x_test, data.y_test, pad),
    }
    removed = "dead" if fill_unsupported(model, dec.bank.unit_masks) else "linear"
    base = {"task": run.task, "cell": model.cfg.cell, "depth": model.cfg.depth}
    rows: list[dict] = []

    def seen(point: dict, bank) -> None:
        banks = {DEAD: replace(bank, unit_fills=None)}
        if removed == "linear":
            banks[FILLED] = bank
        score(point, banks)

    def seen_learned(point: dict, bank) -> None:
        score(point, {LEARNED_FILL: bank})

    def score(point: dict, banks: dict) -> None:
        cost = composed_cost(model, next(iter(banks.values())))  # the same masks: the same MACs
        for method, b in banks.items():
            val = composed_accuracy(model, b, x_val, y_val, pad)
            test = composed_accuracy(model, b, data.x_test, data.y_test, pad)
            rows.append(
                {
                    **base,
                    "method": method,
                    "step": point["step"],
                    "retained_units": point["retained"],
                    "weights_retained": cost["cost_relative"],
                    "cost_vs_monolithic": cost["cost_vs_monolithic"],
                    "val_monolithic": ref["val"],
                    "val_accuracy": val,
                    "val_delta_pp": 100 * (val - ref["val"]),
                    "monolithic": ref["test"],
                    "composed": test,
                    "delta_pp": 100 * (test - ref["test"]),
                }
            )

    def learn(fill: str, on_checkpoint) -> None:
        """One run of the budget's schedule for ``fill`` (dead, linear, learned), never stopping."""
        _, defaults = ClassifierObjective.defaults(budget=True, removed_units=fill)
        learned_masks(
            model,
            data,
            dec.bank,
            tolerance_pp=100.0,
            steps=opts.steps,
            seed=opts.seed,
            options=replace(
                defaults, floor=opts.floor, check_every=opts.every, patience=10**9, dense_below=1.0
            ),
            on_checkpoint=on_checkpoint,
            removed_units=fill,
            progress=opts.progress,
        )

    learn(removed, seen)
    if removed == "linear":
        learn("learned", seen_learned)
    return rows


def run_learned_curve(opts: CurveOptions) -> list[dict]:
    """Run (or resume) the curves; writes results/learned_curve.{csv,md,png}. Returns every row."""
    data = load_task(opts.task, opts.data_dir)
    settings = json.dumps([opts.steps, opts.floor, opts.every, opts.seed, 2])
    cache = opts.results_dir / "learned_curve" / "cache"
    rows: list[dict] = []
    for run in opts.runs(data, "learned curve"):
        f, got = cached_json(cache, f"{run.model_sha256()}:{settings}")
        if got is None:
            got = model_curve(run, data, opts)
            write_json(f, got)
        rows += got
    rank = read_budget_rows(opts.results_dir / "budget.csv")
    write_tables(
        opts.results_dir,
        "learned_curve",
        rows,
        CSV_FIELDS,
        render_markdown(summary_rows(rows, rank)),
        round_floats=6,
    )
    try:
        plot(rows, rank, opts.results_dir / "learned_curve.png")
    except ImportError:
        print("rnnmod: matplotlib is not installed (pip install 'rnnmod[plot]'): no figure")
    return rows


def read_budget_rows(path: Path) -> list[dict]:
    """The rank method's fixed fractions and the paper rule (``reproduce budget``), rolled."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        out = []
        for r in csv.DictReader(f):
            if r["mode"] != "rolled" or r["setting"] not in ("fixed", "rule-5%"):
                continue
            out.append(
                {
                    "task": r["task"],
                    "cell": r["cell"],
                    "depth": int(r["depth"]),
                    "method": "paper rule" if r["setting"] == "rule-5%" else "rank, fixed fraction",
                    "retained_units": float(r["retained_units"]),
                    "weights_retained": float(r["cost_relative"]),
                    "cost_vs_monolithic": float(r["cost_vs_monolithic"]),
                    "delta_pp": float(r["delta_pp"]),
                }
            )
    return out


def _model(r: dict) -> tuple[str, str, int]:
    return r["task"], r["cell"], int(r["depth"])


def _of(rows: list[dict], model: tuple, method: str | None = None) -> list[dict]:
    """The rows of one model (and method)."""
    return [r for r in rows if _model(r) == model and method in (None, r["method"])]


def _smallest(points: list[dict], key: str) -> dict | None:
    ok = [p for p in points if float(p[key]) >= -TOLERANCE_PP]
    return min(ok, key=lambda p: float(p["retained_units"])) if ok else None


def summary_rows(curve: list[dict], rank: list[dict]) -> list[dict]:
    """Per model and method: the paper rule's point, the smallest fixed fraction within 1 pp on
    test, and the smallest learned checkpoint within 1 pp on validation (what a budget that never
    holds would choose) and on test (the curve's best case, read on the split the library never
    chooses on)."""
    out = []
    for key in dict.fromkeys(_model(r) for r in curve):
        task, cell, depth = key
        model = f"{task} {cell.upper()}-{depth}"
        for r in _of(rank, key, "paper rule"):
            out.append({"model": model, "method": "paper rule", "reading": "—", "point": r})
        out.append({"model": model, "method": "rank, fixed fraction", "reading": "test",
                    "point": _smallest(_of(rank, key, "rank, fixed fraction"), "delta_pp")})  # fmt: skip
        for method in (DEAD, FILLED, LEARNED_FILL):
            pts = _of(curve, key, method)
            if not pts:
                continue
            for reading, delta in (("validation", "val_delta_pp"), ("test", "delta_pp")):
                out.append({"model": model, "method": method, "reading": reading,
                            "point": _smallest(pts, delta)})  # fmt: skip
    return out


def _cell(key: str, spec: str):
    """A summary column: the point's ``key`` formatted with ``spec`` (missing: no point, or a
    rank row, which has no validation reading)."""
    return lambda r: num(None if r["point"] is None else r["point"].get(key), spec)


SUMMARY_COLUMNS = [
    Col("model", "{model}"),
    Col("method", "{method}"),
    Col("within 1 pp on", "{reading}"),
    Col("retained units", _cell("retained_units", ".1%"), right=True),
    Col("weights retained", _cell("weights_retained", ".1%"), right=True),
    Col("cost_vs_monolithic", _cell("cost_vs_monolithic", ".2f"), right=True),
    Col("Δ pp validation", _cell("val_delta_pp", "+.2f"), right=True),
    Col("Δ pp test", _cell("delta_pp", "+.2f"), right=True),
]


TITLE = "Learned masks: retention–accuracy, beside the rank method and the paper's rule"
NOTE = (
    "Per model and method, the smallest point within 1 pp of the monolithic model "
    "(Δ = composed − monolithic accuracy, pp): on validation — what a budget that never holds "
    "would choose — and on test, the curve's best case, read on the split the library never "
    "chooses on; the rank method's fixed fractions are read on test. `rnnmod decompose --budget "
    "1pp` holds its target on a miss and chooses on validation (docs/budget.md). Every point: "
    "learned_curve.csv."
)


def render_markdown(summary: list[dict]) -> list[str]:
    return [f"# {TITLE}", "", NOTE, "", *table(SUMMARY_COLUMNS, summary)]


def plot(curve: list[dict], rank: list[dict], path: Path) -> None:
    """One panel per model: composed Δ on test vs retained units for each learned curve, the
    rank method's fixed fractions and the paper rule's point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(_model(r) for r in curve))
    cols = min(3, len(models))
    rows = -(-len(models) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(models) :]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, models, strict=False):
        task, cell, depth = key
        pts = _of(curve, key)
        for method in dict.fromkeys(r["method"] for r in pts):
            c = [r for r in pts if r["method"] == method]
            ax.plot([float(r["retained_units"]) for r in c], [float(r["delta_pp"]) for r in c],
                    "o-", ms=3, label=f"{method} (test)")  # fmt: skip
        theirs = _of(rank, key)
        fixed = sorted((r for r in theirs if r["method"] != "paper rule"),
                       key=lambda r: r["retained_units"])  # fmt: skip
        if fixed:
            ax.plot([r["retained_units"] for r in fixed], [r["delta_pp"] for r in fixed], "s--",
                    ms=3, label="rank, fixed fraction")  # fmt: skip
        for r in theirs:
            if r["method"] == "paper rule":
                ax.plot([r["retained_units"]], [r["delta_pp"]], "k*", ms=9, label="paper rule")
        ax.axhline(-TOLERANCE_PP, color="grey", lw=0.8, ls=":")
        ax.axvline(0.2, color="grey", lw=0.8, ls=":")
        ax.set_title(f"{task} {cell.upper()}-{depth}")
        ax.set_xlabel("retained units (mean over modules)")
        ax.set_ylabel("composed − monolithic, test (pp)")
        ax.set_ylim(-15, 1.5)
        ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
