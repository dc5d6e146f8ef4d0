"""The inter reports ``rq2_inter`` and ``rq3_inter``: every combo's row (CSV) and their summary per
model pair and pooled over cells beside the paper's Inter cells (Markdown)."""

from __future__ import annotations

import statistics
from pathlib import Path

from .freshness import latest_rows
from .paper import paper_cell
from .tables import Col, flat_fields, num, table, write_tables

ROW_KEY = (
    "io_type",
    "task",
    "cell",
    "depth",
    "mode",
    "preset",
    "class",
    "class_1",
    "class_2",
    "replacement",
    "test_cap",
    "seed",
)
GRID = {("reuse", "1:1-1:N"): 72, ("reuse", "M:1-M:N"): 120}
GRID.update({("replace", p): n for (_, p), n in GRID.items()})
PAPER_OVERALL = {("reuse", "1:1-1:N"): -6.22, ("reuse", "M:1-M:N"): -3.25}
PAPER_OVERALL.update({("replace", "1:1-1:N"): -4.64, ("replace", "M:1-M:N"): -9.81})


def collect_inter(results_dir: Path, name: str) -> list[dict]:
    return latest_rows(results_dir / name / "rows", ROW_KEY)


def _paper_rule_deltas(rows: list[dict]) -> list[float]:
    return [r["delta_pp_paper_rule"] for r in rows if "delta_pp_paper_rule" in r]


def summarize_inter(rows: list[dict], rq: str) -> list[dict]:
    table_name = "table3_reuse.csv" if rq == "reuse" else "table4_replace.csv"
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["io_type"], r["task"], r["cell"], r["depth"], r["mode"], r.get("rule", "?"))
        groups.setdefault(key, []).append(r)
    out = []
    for (io, task, cell, depth, mode, rule), rs in sorted(groups.items()):
        ds = [r["delta_pp"] for r in rs]
        legacy = _paper_rule_deltas(rs)
        pm, pmed = paper_cell(table_name, io, cell)
        secs = statistics.fmean(r["combo_seconds"] for r in rs)
        out.append(
            {
                "io_type": io,
                "task": task,
                "cell": cell,
                "depth": depth,
                "mode": mode,
                "rule": rule,
                "n": len(ds),
                "grid": GRID[(rq, io)],
                "mean_composed": statistics.fmean(r["composed"] for r in rs),
                "mean_baseline": statistics.fmean(r["baseline"] for r in rs),
                "mean_delta_pp": statistics.fmean(ds),
                "median_delta_pp": statistics.median(ds),
                "worst_delta_pp": min(ds),
                "mean_delta_paper_rule_pp": statistics.fmean(legacy) if legacy else None,
                "paper_mean": pm,
                "paper_median": pmed,
                "seconds_per_combo": secs,
            }
        )
    return out


def pooled_summary(rows: list[dict], rq: str) -> list[dict]:
    """Per I/O pair over every cell (the paper's text quotes these pooled means), with the
    full grid's size and the hours it would take at the measured speed."""
    out = []
    for io in sorted({r["io_type"] for r in rows}):
        rs = [r for r in rows if r["io_type"] == io]
        ds = [r["delta_pp"] for r in rs]
        legacy = _paper_rule_deltas(rs)
        full = 3 * GRID[(rq, io)]
        hours = full * statistics.fmean(r["combo_seconds"] for r in rs) / 3600
        out.append(
            {
                "io_type": io,
                "n": len(ds),
                "mean_delta_pp": statistics.fmean(ds),
                "median_delta_pp": statistics.median(ds),
                "mean_delta_paper_rule_pp": statistics.fmean(legacy) if legacy else None,
                "paper_pooled_mean": PAPER_OVERALL[(rq, io)],
                "full_grid": full,
                "hours": hours,
            }
        )
    return out


def _delta(key: str, head: str) -> Col:
    return Col(head, lambda s: num(s[key]), True)


SUMMARY_COLUMNS = [
    Col("I/O", "{io_type}"),
    Col("tasks", "{task}"),
    Col("cell", "{cell}"),
    Col("depth", "{depth}", True),
    Col("mode", "{mode}"),
    Col("rule", "{rule}"),
    Col("n / grid", "{n} / {grid}", True),
    Col("composed", "{mean_composed:.4f}", True),
    Col("baseline", "{mean_baseline:.4f}", True),
    _delta("mean_delta_pp", "mean Δ"),
    _delta("median_delta_pp", "median Δ"),
    _delta("worst_delta_pp", "worst Δ"),
    _delta("mean_delta_paper_rule_pp", "mean Δ paper's rule"),
    _delta("paper_mean", "paper mean"),
    _delta("paper_median", "paper median"),
    Col("s / combo", "{seconds_per_combo:.0f}", True),
]
POOLED_COLUMNS = [
    Col("I/O", "{io_type}"),
    Col("n", "{n}", True),
    _delta("mean_delta_pp", "mean Δ"),
    _delta("median_delta_pp", "median Δ"),
    _delta("mean_delta_paper_rule_pp", "mean Δ paper's rule"),
    _delta("paper_pooled_mean", "paper pooled mean"),
    Col("full grid (3 families)", "{full_grid}", True),
    Col("est. hours at this speed", "{hours:.1f}", True),
]


def write_inter_report(rows: list[dict], results_dir: Path, name: str) -> None:
    rq = "reuse" if name == "rq2_inter" else "replace"
    ordered = sorted(rows, key=lambda r: tuple(str(r.get(k)) for k in ROW_KEY))
    what = (
        "inter reuse (Table III, Inter rows)"
        if rq == "reuse"
        else "inter replace (Table IV, Inter rows)"
    )
    lines = [
        f"# {name.upper().replace('_', ' ')}: {what}",
        "",
        "Δ = composed − scratch baseline accuracy, percentage points; paper = the published cell "
        "for the same I/O pair and cell family (the paper's combos pool its combined models).",
        "1:N is SemEval-2018 E-c emotions, a SUBSTITUTE for the paper's toxic comments; MathQA is "
        "re-split 80/20 from its official test split (the only one available).",
        "n = combos measured (a seeded subset when n < grid); time = mean seconds per combo "
        "(one scratch training and the lookups), one thread.",
        "",
        "rule = the composed model's decision behind Δ: `calibrated` (ours: per-module affine maps "
        "of the log-odds fitted on the new problem's training examples, rnnmod.modules.calibrate) "
        "or the paper's raw `odds` / `probability` comparison; the paper's rule is always reported "
        "beside it (Δ paper's rule).",
        "",
        *table(SUMMARY_COLUMNS, summarize_inter(rows, rq)),
        "",
        "Pooled over cells (the paper's text quotes these pooled means):",
        "",
        *table(POOLED_COLUMNS, pooled_summary(rows, rq)),
    ]
    write_tables(results_dir, name, ordered, flat_fields(rows), lines)
