"""``results/report.md`` and ``results/report.html`` from the result CSVs, with figures.

Reads whatever exists of ``rq1.csv``, ``rq2.csv``, ``rq3.csv``, the inter rows
(``rq2_inter.csv``, ``rq3_inter.csv``), ``d1.csv``, the translators' ``rq1_tatoeba.csv`` and
``rq3_tatoeba.csv``, the scenarios' ``scenario_*.json`` and the learned masks' curve
(``learned_curve.csv``, beside ``budget.csv``'s rank and paper-rule points) under the results folder (every row
a measured result written by ``rnnmod reproduce``), draws the figures with matplotlib (the
``plot`` extra) into ``results/figures/``, and writes one Markdown page and one self-contained
HTML page (figures inlined) with the paper's numbers beside ours. Nothing here computes a
result: it only presents the CSVs.
"""

from __future__ import annotations

import base64
import csv
import html
import statistics
from pathlib import Path

from rnnmod import RnnmodError
from rnnmod.storage import write_bytes_atomic

from . import learned_curve
from .paper import TATOEBA_REPLACE, paper_rows
from .reuse_replace_summary import summarize, summary_columns
from .tables import MISSING, Col, group_by, markdown_table, num

TASK_NOTES = {
    "mathqa": "MathQA: only the test split exists here, re-split 80/20.",
    "emotions": "emotions (SemEval-2018 E-c) substitutes for the paper's toxic comments.",
    "brown": "Brown: RQ1 and RQ2 evaluated on a seeded 3,000 of the 14,335 test sentences, RQ3 on all (docs/results.md).",
}


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            try:
                r[k] = float(v) if v not in ("", None) and k not in ("depth",) else v
            except ValueError:
                pass
    return rows


# -- tables: (title, header, rows of strings, note) ------------------------------------------


def rq1_table(rows: list[dict]) -> tuple:
    body = []
    for (task, preset, mode), rs in group_by(rows, ("task", "preset", "mode")).items():
        ds = [r["delta_pp"] for r in rs]
        paper = [r["paper_delta_pp"] for r in rs if r.get("paper_delta_pp") not in ("", None)]
        body.append(
            [
                task,
                preset,
                mode,
                str(len(rs)),
                num(statistics.fmean(ds)),
                num(statistics.median(ds)),
                num(min(ds)),
                num(statistics.fmean(paper)) if paper else "—",
            ]
        )
    head = ["task", "preset", "mode", "models", "mean Δ", "median Δ", "worst Δ", "paper mean Δ"]
    return (
        "RQ1 — cost of decomposition (Table II)",
        head,
        body,
        "Δ = composed − monolithic accuracy, pp.",
    )


def rq23_table(rows: list[dict], title: str, note: str) -> tuple:
    """Intra or inter reuse/replace rows, summarised as `rnnmod reproduce` summarises them."""
    table_name = "table3_reuse.csv" if "reuse" in title.lower() else "table4_replace.csv"
    summary = summarize(rows, table_name)
    # inter and replace rows carry the composed rule and the other rule's Δ beside
    ruled = any(s["rule"] or s["beside_rule"] for s in summary)
    return (title, *_cells(summary_columns(ruled), summary), note)


D1_COLUMNS = [
    Col("task", "{task}"),
    Col("cell", "{cell}"),
    Col("depth", "{depth}"),
    Col("constant prediction", "{constant_class}"),
    Col("Δ reproduced (pp)", lambda r: num(r["delta_pp_legacy_d1"])),
]


def d1_table(rows: list[dict]) -> tuple:
    return (
        "D1 — the authors' rolled many-output evaluator (modules with zeroed weights)",
        *_cells(D1_COLUMNS, rows),
        "The paper's rolled 1:N / M:N losses of −15 … −95 pp come from this defect (docs/results.md).",
    )


def _translator_groups(rows: list[dict], keys: tuple[str, ...]):
    """Translator rows per group of ``keys`` (ordered by the groups' text): the group's key, its
    rows and their formatted statistics — languages, mean, median and worst Δ BLEU, mean Δ
    BLEU-1 points."""
    for key, rs in sorted(group_by(rows, keys).items(), key=lambda kv: str(kv[0])):
        ds = [r["delta"] for r in rs]
        stats = {
            "n": str(len(rs)),
            "mean": num(statistics.fmean(ds)),
            "median": num(statistics.median(ds)),
            "worst": num(min(ds)),
            "bleu1": num(statistics.fmean(r["delta_bleu1_legacy_points"] for r in rs)),
        }
        yield key, rs, stats


def tatoeba_rq1_table(rows: list[dict]) -> tuple:
    body = []
    rows = [{**r, "recipe": r.get("recipe") or "paper"} for r in rows]  # rows before recipes
    for (recipe, cell, depth, preset, mode), rs, st in _translator_groups(
        rows, ("recipe", "cell", "depth", "preset", "mode")
    ):
        paper = [
            r["paper_delta_bleu1_points"]
            for r in rs
            if r.get("paper_delta_bleu1_points") not in ("", None)
        ]
        paper_mean = num(statistics.fmean(paper)) if paper else MISSING
        body.append(
            [
                recipe,
                f"{cell}-{depth}",
                num(statistics.fmean(float(r["monolithic"]) for r in rs), ".2f"),
                preset,
                mode,
                st["n"],
                st["mean"],
                st["worst"],
                st["bleu1"],
                paper_mean,
            ]
        )
    return (
        "RQ1 — encoder–decoder (Tatoeba, Table II enc–dec rows)",
        ["recipe", "model", "BLEU mono", "preset", "mode", "languages", "mean Δ BLEU", "worst Δ BLEU", "mean Δ BLEU-1 pts", "paper Δ BLEU-1 pts"],
        body,
        "Per target-language module vs its model; sacreBLEU on normalised text and the paper's BLEU-1 (points). Recipes: paper = small subsampled translators, reference = every training pair within a time limit (docs/translation.md).",
    )  # fmt: skip


def tatoeba_rq3_table(rows: list[dict]) -> tuple:
    body = []
    for (cell, mode), rs, st in _translator_groups(rows, ("cell", "mode")):
        pm = TATOEBA_REPLACE.get(str(cell))
        depths = f"{int(rs[0]['faulty_depth'])} ← {int(rs[0]['best_depth'])}"
        paper = MISSING if pm is None else f"{pm[0]:+.2f} / {pm[1]:+.2f}"
        body.append(
            [str(cell), mode, depths, st["n"], st["mean"], st["median"], st["bleu1"], paper]
        )
    return (
        "RQ3 — translation replace (Table IV enc–dec row)",
        ["cell", "mode", "faulty ← best depth", "languages", "mean Δ BLEU", "median Δ BLEU", "mean Δ BLEU-1 pts", "paper mean / median"],
        body,
        "The worst-average-BLEU depth's language modules with one language's module from the best depth; Δ of the average BLEU over languages.",
    )  # fmt: skip


def scenario_table(results: Path) -> tuple | None:
    """Table V from ``scenario_*.json`` (average legacy BLEU-1 ×100, the paper's unit)."""
    import json

    paper = {r["Scenario"]: r for r in paper_rows("table5_scenarios.csv")}
    names = {"add-language": "Add Ukrainian", "fix-language": "Update Estonian-English translation"}
    body = []
    for name, title in names.items():
        f = results / f"scenario_{name}.json"
        if not f.is_file():
            continue
        rows = json.loads(f.read_text(encoding="utf-8"))["rows"]
        ours = [rows[k]["bleu1_legacy"] * 100 for k in
                ("retrained on all languages", "composed, solution 1", "composed, solution 2")]  # fmt: skip
        sacre = [rows[k]["bleu"] for k in ("retrained on all languages", "composed, solution 1", "composed, solution 2")]  # fmt: skip
        pr = paper.get(title, {})
        body.append(
            [name, *(f"{v:.2f}" for v in ours), *(f"{v:.2f}" for v in sacre),
             *(str(pr.get(k, "—")) for k in ("TMA", "MA1", "MA2"))]
        )  # fmt: skip
    if not body:
        return None
    return (
        "Scenarios (Table V)",
        ["scenario", "retrained BLEU-1", "solution 1 BLEU-1", "solution 2 BLEU-1", "retrained BLEU", "solution 1 BLEU", "solution 2 BLEU", "paper TMA", "paper MA1", "paper MA2"],
        body,
        "Average over the scenario's languages of the paper's BLEU-1 (×100) and sacreBLEU; small translators (docs/results.md, Scenarios).",
    )  # fmt: skip


def learned_table(curve: list[dict], rank: list[dict]) -> tuple:
    """Modules that shrink: per model, the smallest learned, rank and paper-rule points within
    1 pp (``rnnmod reproduce learned-curve``)."""
    head, body = _cells(learned_curve.SUMMARY_COLUMNS, learned_curve.summary_rows(curve, rank))
    return (learned_curve.TITLE, head, body, learned_curve.NOTE)


# -- figures ---------------------------------------------------------------------------------


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RnnmodError(
            "the report's figures need matplotlib: pip install 'rnnmod[plot]'"
        ) from None
    return plt


def figures(
    results: Path, rq1: list[dict], rq3: list[dict], curve: list[dict], rank: list[dict]
) -> list[tuple[str, Path]]:
    """Δ per model (RQ1), accuracy vs retained units (RQ1), per-class replace gains (RQ3), the
    learned masks' retention–accuracy curves."""
    plt = _plt()
    out_dir = results / "figures"
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    default = [r for r in rq1 if r.get("preset") == "default"]
    if default:
        tasks = sorted({r["task"] for r in default})
        fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            for j, mode in enumerate(("rolled", "unrolled")):
                rs = sorted(
                    (r for r in default if r["task"] == task and r["mode"] == mode),
                    key=lambda r: (r["cell"], int(r["depth"])),
                )
                if not rs:
                    continue
                xs = [i + 0.4 * j for i in range(len(rs))]
                ax.bar(xs, [r["delta_pp"] for r in rs], width=0.4, label=f"ours, {mode}")
                paper = [
                    (x, r["paper_delta_pp"]) for x, r in zip(xs, rs) if r["paper_delta_pp"] != ""
                ]
                if paper:
                    ax.scatter(*zip(*paper), marker="_", s=120, color="k", zorder=3,
                               label="paper" if j == 0 else None)  # fmt: skip
                ax.set_xticks(range(len(rs)), [f"{r['cell']}{r['depth']}" for r in rs],
                              rotation=90, fontsize=7)  # fmt: skip
            ours = [r["delta_pp"] for r in default if r["task"] == task]
            low = min(ours) - 1
            if ax.get_ylim()[0] < low:  # the paper's rolled D1 losses would flatten our bars
                ax.set_ylim(low, max(max(ours), 0) + 0.5)
                ax.text(0.02, 0.02, "paper values below the axis: see D1", transform=ax.transAxes,
                        fontsize=6)  # fmt: skip
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_title(task)
            ax.set_ylabel("Δ composed − monolithic (pp)")
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        made.append(
            (
                "RQ1: Δ per model (default preset), paper's Δ as black ticks",
                _save(fig, out_dir / "rq1_delta.png", plt),
            )
        )
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for task in tasks:
            rs = [r for r in default if r["task"] == task]
            ax.scatter(
                [r["retained_units"] for r in rs], [r["delta_pp"] for r in rs], label=task, s=14
            )
        ax.set_xlabel("retained units (mean over modules)")
        ax.set_ylabel("Δ (pp)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        made.append(
            ("RQ1: accuracy cost vs retained units", _save(fig, out_dir / "rq1_retained.png", plt))
        )
    if rq3:
        fams = group_by(rq3, ("task", "cell"))
        fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(fams) + 2), 3.6))
        for i, (_key, rs) in enumerate(sorted(fams.items())):
            gains = [100 * (r["composed"] - r["faulty_composed"]) for r in rs]
            ax.scatter([i] * len(gains), gains, s=12)
        ax.set_xticks(range(len(fams)), [f"{t}\n{c}" for t, c in sorted(fams)], fontsize=7)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylabel("gain of one replacement (pp)")
        fig.tight_layout()
        made.append(
            (
                "RQ3: per-class gain of replacing one module of the faulty model by the best model's",
                _save(fig, out_dir / "rq3_gains.png", plt),
            )
        )
    if curve:
        path = out_dir / "learned_curve.png"
        learned_curve.plot(curve, rank, path)
        made.append(
            (
                "Modules that shrink: composed Δ on test vs retained units, learned masks "
                "(dead units, linear fill) beside the rank method and the paper's rule",
                path,
            )
        )
    return made


def _save(fig, path: Path, plt) -> Path:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


# -- rendering -------------------------------------------------------------------------------


def _cells(cols: list[Col], rows: list) -> tuple[list[str], list[list[str]]]:
    """The header and the cells of a table of ``rows`` (the Markdown and HTML pages share them)."""
    return [c.head for c in cols], [[c.text(r) for c in cols] for r in rows]


def _md_table(t: tuple) -> str:
    title, head, body, note = t
    return "\n".join([f"## {title}", "", *markdown_table(head, body), "", note, ""])


def _html_table(t: tuple) -> str:
    title, head, body, note = t
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body
    )
    return (
        f"<h2>{html.escape(title)}</h2><table><thead><tr>{th}</tr></thead>"
        f"<tbody>{trs}</tbody></table><p class=note>{html.escape(note)}</p>"
    )


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:14px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:13px}
img{max-width:100%;border:1px solid #eee}"""


CSV_NAMES = ("rq1", "rq2", "rq3", "rq2_inter", "rq3_inter", "d1", "rq1_tatoeba", "rq3_tatoeba")
#: the reuse and replace tables of the report, in its order: result CSV → (title, note)
REUSE_REPLACE_TABLES = {
    "rq2": ("RQ2 — intra reuse (Table III)",
            "Composed 2-class model vs the same architecture trained on the two classes; Δ in pp."),
    "rq3": ("RQ3 — intra replace (Table IV)",
            "Faulty (worst-depth) model with one module replaced by the best depth's; Δ vs the faulty model's accuracy, pp. Rule: calibrated = per-module affine maps of the log-odds fitted on the task's validation split where it has one (Clinc), else on training examples; the paper's vote beside."),
    "rq2_inter": ("RQ2 — inter reuse (Table III, Inter rows)",
                  "A one-output module with a many-output module (rule: calibrated = per-module affine maps of the log-odds fitted on the new problem's training examples; the paper's odds rule beside) vs a model trained from scratch on the 2-class problem; Δ in pp (docs/results.md)."),
    "rq3_inter": ("RQ3 — inter replace (Table IV, Inter rows)",
                  "A one-output model's module replaced by a many-output model's module (calibrated rule; the paper's raw rule beside) vs a model trained from scratch; Δ in pp."),
}  # fmt: skip


def build_report(results: Path) -> tuple[Path, Path]:
    """Write results/report.md and results/report.html; returns their paths."""
    results = Path(results)
    found = {name: _read(results / f"{name}.csv") for name in CSV_NAMES}
    rq1, rq2, rq3 = found["rq1"], found["rq2"], found["rq3"]
    if not (rq1 or rq2 or rq3):
        raise RnnmodError(f"{results} holds no results yet: run `rnnmod reproduce all` first")
    tables = [rq1_table(rq1)] if rq1 else []
    for name, (title, note) in REUSE_REPLACE_TABLES.items():
        if found[name]:
            tables.append(rq23_table(found[name], title, note))
    for name, table_of in (("d1", d1_table), ("rq1_tatoeba", tatoeba_rq1_table),
                           ("rq3_tatoeba", tatoeba_rq3_table)):  # fmt: skip
        if found[name]:
            tables.append(table_of(found[name]))
    scen = scenario_table(results)
    if scen:
        tables.append(scen)
    curve = _read(results / "learned_curve.csv")
    rank = learned_curve.read_budget_rows(results / "budget.csv")
    if curve:
        tables.append(learned_table(curve, rank))
    figs = figures(results, rq1, rq3, curve, rank)
    tasks = sorted({r["task"] for r in rq1 + rq2 + rq3})
    notes = [TASK_NOTES[t] for t in tasks if t in TASK_NOTES]
    md = ["# rnnmod — reproduction report", "", *[f"* {n}" for n in notes], ""]
    md += [_md_table(t) for t in tables]
    md += [f"![{cap}](figures/{p.name})\n\n*{cap}*\n" for cap, p in figs]
    md_path, html_path = results / "report.md", results / "report.html"
    write_bytes_atomic(md_path, "\n".join(md).encode())
    body = "".join(_html_table(t) for t in tables)
    for cap, p in figs:
        b64 = base64.b64encode(p.read_bytes()).decode()
        body += f'<figure><img alt="{html.escape(cap)}" src="data:image/png;base64,{b64}"><figcaption>{html.escape(cap)}</figcaption></figure>'
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>rnnmod report</title>"
        f"<style>{CSS}</style></head><body><h1>rnnmod — reproduction report</h1><ul>"
        + "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        + f"</ul>{body}</body></html>"
    )
    write_bytes_atomic(html_path, page.encode())
    return md_path, html_path
