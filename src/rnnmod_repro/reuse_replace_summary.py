"""The summary of reuse and replace rows (intra and inter) and the ``rq2``/``rq3`` reports: mean,
median and worst Δ per group beside the paper's Table III/IV cell — one summary behind
``rq2.md``, ``rq3.md`` and the report's reuse/replace tables; and :func:`run_and_report`, the
loop over tasks RQ2 and RQ3 share, which ends by rewriting their report."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from rnnmod.data.base import TaskData

from .freshness import latest_rows
from .intra_models import CALIBRATION_EXAMPLES, REPLACE_RULES, RQ23Options, eval_data
from .paper import paper_cell
from .tables import MISSING, Col, flat_fields, num, table, write_tables

IO_ORDER = ("1:1", "M:1", "1:N", "M:N")
PAPER_TABLE = {"rq2": "table3_reuse.csv", "rq3": "table4_replace.csv"}
ROW_KEY = {
    "rq2": ("task", "cell", "depth", "mode", "preset", "class_1", "class_2", "baseline_kind"),
    "rq3": ("task", "cell", "mode", "preset", "class"),
}


def collect_cached(results_dir: Path, name: str) -> list[dict]:
    """Every cached row of earlier invocations too (the newest per key), so reports cover all
    tasks run so far, not just this invocation's."""
    return latest_rows(results_dir / name / "cache", ROW_KEY[name])


def _beside(r: dict) -> tuple[str, float] | None:
    """A replace row's Δ under the rule beside its headline (rule name, Δ), if it has one."""
    for rule in REPLACE_RULES:
        v = r.get(f"delta_pp_{rule}_rule")
        if v not in (None, ""):  # (rows read back from a CSV hold every column, some empty)
            return rule, float(v)
    return None


def baseline_label(rows: list[dict]) -> str:
    """What the rows' Δ is measured against, with the baseline's epochs: "scratch, 10 ep"
    (a grid's baselines may be trained for fewer epochs than the paper's to save CPU time)."""
    kinds = sorted({str(r.get("baseline_kind")) for r in rows if r.get("baseline_kind")})
    if not kinds:
        return ""
    epochs = sorted(
        {int(r["baseline_epochs"]) for r in rows if r.get("baseline_epochs") not in (None, "")}
    )
    return "/".join(kinds) + (f", {'/'.join(map(str, epochs))} ep" if epochs else "")


def _io_rank(io: str) -> int:
    return IO_ORDER.index(io) if io in IO_ORDER else len(IO_ORDER)  # inter ("M:1-M:N") last


def summarize(rows: list[dict], table: str) -> list[dict]:
    """Mean, median and worst Δ per (type, I/O, task, cell, mode, baseline, rule), the rule
    beside's mean and the paper's cell: the one summary behind rq2.md, rq3.md and the report."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["type"], r["io_type"], r["task"], r["cell"], r["mode"], r.get("baseline_kind"))
        groups.setdefault((*key, r.get("rule") or ""), []).append(r)
    out = []
    for (kind, io, task, cell, mode, _base, rule), rs in sorted(
        groups.items(),
        key=lambda kv: (_io_rank(kv[0][1]), kv[0][1], kv[0][2], kv[0][3], str(kv[0][5]), kv[0][6]),
    ):
        ds = [r["delta_pp"] for r in rs]
        beside = [b for b in map(_beside, rs) if b is not None]
        pm, pmed = paper_cell(table, io, cell)
        out.append(
            {
                "type": kind,
                "io_type": io,
                "task": task,
                "cell": cell,
                "mode": mode,
                "baseline": baseline_label(rs),
                "rule": rule,
                "n": len(ds),
                "mean_delta_pp": statistics.fmean(ds),
                "median_delta_pp": statistics.median(ds),
                "worst_delta_pp": min(ds),
                "beside_rule": "/".join(sorted({b[0] for b in beside})),
                "mean_delta_beside_pp": statistics.fmean(b[1] for b in beside) if beside else None,
                "paper_mean": pm,
                "paper_median": pmed,
            }
        )
    return out


def summary_columns(ruled: bool = True) -> list[Col]:
    """The columns of a summary table; ``ruled``: with the decision rule and the other rule's
    mean (inter and replace rows carry them)."""
    cols = [
        Col("I/O", "{io_type}"),
        Col("task", "{task}"),
        Col("cell", "{cell}"),
        Col("mode", "{mode}"),
        Col("baseline", lambda s: s["baseline"] or MISSING),
        Col("rule", lambda s: s["rule"] or MISSING),
        Col("n", "{n}", True),
        Col("mean Δ", lambda s: num(s["mean_delta_pp"]), True),
        Col("median Δ", lambda s: num(s["median_delta_pp"]), True),
        Col("worst Δ", lambda s: num(s["worst_delta_pp"]), True),
        Col("mean Δ, other rule", _other_rule, True),
        Col("paper mean", lambda s: num(s["paper_mean"]), True),
        Col("paper median", lambda s: num(s["paper_median"]), True),
    ]
    return cols if ruled else [c for c in cols if c.head not in ("rule", "mean Δ, other rule")]


def _other_rule(s: dict) -> str:
    if not s["beside_rule"]:
        return MISSING
    return f"{num(s['mean_delta_beside_pp'])} ({s['beside_rule']})"


def write_report(rows: list[dict], results_dir: Path, name: str, table_name: str) -> None:
    """``<name>.csv`` (every row; the run path stays in the cache for the freshness check, not in
    the shareable table) and ``<name>.md`` (the summary beside the paper's ``table_name``)."""
    what = "intra reuse (Table III)" if name == "rq2" else "intra replace (Table IV)"
    lines = [
        f"# {name.upper()}: {what}",
        "",
        "Δ in percentage points; paper = the published table cell for the same I/O type and cell.",
        "Emotions (1:N) substitutes for the paper's toxic comments; MathQA is re-split from its test split.",
    ]
    if name == "rq3":
        lines.append(
            "Rule: `calibrated` — the modules' log-odds through per-module affine maps fitted on "
            f"up to {CALIBRATION_EXAMPLES} seeded examples of the split in the rows' "
            "`calibration_split` (a replaced set mixes two models); "
            "`paper` — each module votes with its confidence (§11.1). Both are measured on every row."
        )
    lines += ["", *table(summary_columns(), summarize(rows, table_name))]
    write_tables(results_dir, name, rows, flat_fields(rows, skip=("run",)), lines)


def report_cached(results_dir: Path, name: str) -> None:
    """Rewrite the ``rq2`` or ``rq3`` report from every cached row."""
    write_report(collect_cached(results_dir, name), results_dir, name, PAPER_TABLE[name])


def run_and_report(
    opts: RQ23Options, name: str, task_rows: Callable[[str, TaskData, Path], list[dict]]
) -> list[dict]:
    """The rows of every task of ``opts`` (``task_rows(task, data, cache)``, the task's
    evaluation data and the cache folder of ``name``), then the ``name`` report rewritten from
    every cached row."""
    cache = opts.results_dir / name / "cache"
    rows = [r for task in opts.tasks for r in task_rows(task, eval_data(task, opts), cache)]
    report_cached(opts.results_dir, name)
    return rows
