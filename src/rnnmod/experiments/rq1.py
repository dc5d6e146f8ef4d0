"""RQ1: cost of decomposition — train what is missing, decompose, evaluate, tabulate beside the
paper's Table II. Each (model, config) result is cached as JSON keyed by the model's hash and the
config hash, so an interrupted run resumes where it stopped."""

from __future__ import annotations

import hashlib
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..composition.evaluate import evaluate_bank
from ..data import load_task
from ..data.base import TaskData
from ..decomposition import decompose, preset
from ..errors import RnnmodError
from ..runs import Run, load_run, save_run
from ..storage import read_json, write_bytes_atomic, write_csv, write_json
from ..training import TrainConfig, train_classifier
from .freshness import current_rows
from .paper import raw_rq1, table2_delta


@dataclass
class RQ1Options:
    tasks: list[str]
    cells: list[str]
    depths: list[int]
    modes: list[str] = field(default_factory=lambda: ["rolled", "unrolled"])
    presets: list[str] = field(default_factory=lambda: ["default", "paper"])
    runs_dir: Path = Path("runs")
    results_dir: Path = Path("results")
    data_dir: Path | None = None
    epochs: int | None = None
    seed: int = 0
    progress: bool = True
    max_test: int | None = None  # evaluate on a seeded random subset of the test split


def _ensure_run(task: str, cell: str, depth: int, data: TaskData, opts: RQ1Options) -> Path:
    path = opts.runs_dir / f"{task}-{cell}{depth}"
    if (path / "metrics.json").is_file():
        return path
    model, metrics = train_classifier(
        data,
        TrainConfig(
            cell=cell, depth=depth, epochs=opts.epochs, seed=opts.seed, progress=opts.progress
        ),
    )
    cfg = {
        "task": task,
        "io_type": data.io_type,
        "cell": cell,
        "depth": depth,
        "seed": opts.seed,
        "pad_label": data.pad_label,
        "data_options": {},
        "limit": None,
    }
    save_run(path, model, cfg, data.vocab, data.label_names, metrics, overwrite=True)
    return path


def run_rq1(opts: RQ1Options) -> list[dict]:
    """Run (or resume) the RQ1 grid; returns one row per model × preset × mode."""
    rows: list[dict] = []
    start = time.perf_counter()
    combos = [(t, c, d) for t in opts.tasks for c in opts.cells for d in opts.depths]
    bar = tqdm(combos, desc="rq1", disable=not opts.progress, unit="model")
    datasets: dict[str, TaskData] = {}
    for task, cell, depth in bar:
        bar.set_postfix_str(f"{task} {cell}-{depth}")
        if task not in datasets:
            datasets[task] = rq1_data(task, opts)
        data = datasets[task]
        run = checked_run(_ensure_run(task, cell, depth, data, opts), data)
        for pname, mode in rq1_settings(run.io_type, opts):
            rows.append(rq1_row(run, data, pname, mode, opts))
    opts.results_dir.mkdir(parents=True, exist_ok=True)
    all_rows = collect_cached_rows(opts.results_dir)
    write_reports(all_rows, opts.results_dir, wall_seconds=time.perf_counter() - start)
    return rows


PAPER_DATASET = {
    "emotions": "toxic (Jigsaw) — a different dataset",
    "brown": "brown",
    "clinc": "clinc",
    "mathqa": "mathqa (full train split)",
}


# The per-task steps of the grid, shared by run_rq1 (in this process) and the task executors of
# experiments/tasks.py (process pool, Ray): one function per artifact, each a no-op when cached.


def rq1_data(task: str, opts: RQ1Options) -> TaskData:
    """The task's data; with ``max_test``, a seeded random subset of the test split."""
    return load_task(task, opts.data_dir).limit_test(opts.max_test, opts.seed)


def checked_run(path: Path, data: TaskData) -> Run:
    run = load_run(path)
    if run.vocab.tokens != data.vocab.tokens:
        raise RnnmodError(
            f"{run.path} was trained with another vocabulary than the {data.task} data now give; delete it to retrain"
        )
    return run


def rq1_settings(io_type: str, opts: RQ1Options) -> list[tuple[str, str]]:
    """(preset, mode) pairs evaluated for a model of ``io_type``."""
    return [
        (pname, mode)
        for pname in opts.presets
        for mode in opts.modes
        if not (io_type == "1:1" and mode == "unrolled")  # one time step: same as rolled (N/A)
    ]


def rq1_cache_file(sha: str, pname: str, mode: str, opts: RQ1Options) -> Path:
    cfg = preset(pname, mode=mode)
    key = hashlib.sha256(f"{sha}:{cfg.hash()}:{opts.max_test}".encode()).hexdigest()[:20]
    return opts.results_dir / "rq1" / "cache" / f"{key}.json"


def rq1_row(run: Run, data: TaskData, pname: str, mode: str, opts: RQ1Options) -> dict:
    """One RQ1 row (decompose + evaluate), read from its cache file when it was computed."""
    sha = run.model_sha256()
    f = rq1_cache_file(sha, pname, mode, opts)
    if f.is_file():
        return read_json(f)
    cfg = preset(pname, mode=mode)
    cell, depth = run.model.cfg.cell, run.model.cfg.depth
    t0 = time.perf_counter()
    dec = decompose(run.model, data, cfg, progress=False)
    dt = time.perf_counter() - t0
    row = evaluate_bank(run, dec.bank, data, output=cfg.module_output)
    paper = raw_rq1(run.io_type, cell, depth) or {}
    row.update(
        preset=pname,
        mode=mode,
        decompose_seconds=round(dt, 3),
        paper_delta_pp=table2_delta(run.io_type, mode, cell, depth),
        paper_monolithic=paper.get("MMA"),
        paper_jaccard=paper.get(f"JI {mode}"),
        train_seconds=run.metrics.get("train_seconds"),
        init=run.metrics.get("init", "torch"),  # runs trained before the Keras init default
        run=str(run.path),
        model_sha256=sha,
        paper_dataset=PAPER_DATASET.get(run.task, run.task),
    )
    write_json(f, row)
    return row


def collect_cached_rows(results_dir: Path) -> list[dict]:
    """Every cached result whose run directory still holds the model it was computed on, so
    that separate invocations (e.g. one per task) merge into one report."""
    files = sorted((results_dir / "rq1" / "cache").glob("*.json"), key=lambda f: f.stat().st_mtime)
    rows = current_rows([r for r in map(read_json, files) if r.get("run")])
    latest = {(r["task"], r["cell"], r["depth"], r["preset"], r["mode"], r["run"]): r for r in rows}
    rows = list(latest.values())  # one row per model and setting: the newest result
    order = {t: i for i, t in enumerate(["mathqa", "emotions", "toxic", "clinc", "brown"])}
    cells = {c: i for i, c in enumerate(["lstm", "gru", "rnn", "rnn-relu"])}
    rows.sort(
        key=lambda r: (
            order.get(r["task"], 9),
            r["preset"],
            r["mode"],
            cells.get(r["cell"], 9),
            r["depth"],
        )
    )
    return rows


CSV_FIELDS = [
    "task", "io_type", "cell", "depth", "preset", "mode", "monolithic", "composed", "delta_pp",
    "paper_delta_pp", "paper_monolithic", "jaccard_legacy", "jaccard_mask", "paper_jaccard",
    "retained_units", "n_modules", "n_test", "decompose_seconds", "seconds", "train_seconds", "init",
    "monolithic_legacy", "composed_legacy", "delta_pp_legacy", "padding_module", "paper_dataset",
]  # fmt: skip


def _fmt(v: float | None, spec: str = "+.2f") -> str:
    return "—" if v is None else format(v, spec)


def summarize(rows: list[dict]) -> list[dict]:
    """Mean / median / worst Δ per task × preset × mode."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["task"], r["preset"], r["mode"]), []).append(r)
    out = []
    for (task, pname, mode), rs in groups.items():
        ds = [r["delta_pp"] for r in rs]
        paper = [r["paper_delta_pp"] for r in rs if r.get("paper_delta_pp") is not None]
        out.append(
            {
                "task": task,
                "preset": pname,
                "mode": mode,
                "n_models": len(rs),
                "mean_delta_pp": statistics.fmean(ds),
                "median_delta_pp": statistics.median(ds),
                "worst_delta_pp": min(ds),
                "paper_mean_delta_pp": statistics.fmean(paper) if paper else None,
                "mean_jaccard_legacy": statistics.fmean(r["jaccard_legacy"] for r in rs),
                "mean_jaccard_mask": statistics.fmean(r["jaccard_mask"] for r in rs),
            }
        )
    return out


def write_reports(rows: list[dict], results_dir: Path, wall_seconds: float | None = None) -> None:
    write_csv(results_dir / "rq1.csv", rows, CSV_FIELDS, round_floats=6)
    write_bytes_atomic(results_dir / "rq1.md", render_markdown(rows, wall_seconds).encode())
    summary = summarize(rows)
    write_json(results_dir / "rq1_summary.json", summary)
    write_bytes_atomic(results_dir / "rq1_summary.md", render_summary(summary).encode())


def render_summary(summary: list[dict]) -> str:
    """Mean / median / worst Δ per task, preset and mode, beside the paper's mean."""
    lines = [
        "| task | preset | mode | models | mean Δ pp | median Δ pp | worst Δ pp | paper mean Δ pp | JI legacy | JI mask |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['task']} | {s['preset']} | {s['mode']} | {s['n_models']} | {s['mean_delta_pp']:+.2f} | "
            f"{s['median_delta_pp']:+.2f} | {s['worst_delta_pp']:+.2f} | {_fmt(s['paper_mean_delta_pp'])} | "
            f"{s['mean_jaccard_legacy']:.3f} | {s['mean_jaccard_mask']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def render_markdown(rows: list[dict], wall_seconds: float | None = None) -> str:
    lines = [
        "# RQ1 — cost of decomposition (Δ = composed − monolithic accuracy, percentage points)",
        "",
    ]
    lines.append(
        "Each cell: **ours** (paper's Table II). Paper cells exist for LSTM/GRU/Vanilla (`rnn`); `rnn-relu` has none."
    )
    lines.append("")
    by_table: dict[tuple, list[dict]] = {}
    for r in rows:
        by_table.setdefault((r["task"], r["preset"], r["mode"]), []).append(r)
    models = sorted(
        {(r["cell"], r["depth"]) for r in rows},
        key=lambda m: (
            ["lstm", "gru", "rnn", "rnn-relu"].index(m[0])
            if m[0] in ("lstm", "gru", "rnn", "rnn-relu")
            else 9,
            m[1],
        ),
    )
    head = (
        "| task | preset | mode | "
        + " | ".join(f"{c}-{d}" for c, d in models)
        + " | mean | worst |"
    )
    lines += [head, "|" + "---|" * (len(models) + 5)]
    for (task, pname, mode), rs in sorted(by_table.items()):
        cells = []
        for c, d in models:
            r = next((x for x in rs if x["cell"] == c and x["depth"] == d), None)
            cells.append(
                "" if r is None else f"**{r['delta_pp']:+.2f}** ({_fmt(r.get('paper_delta_pp'))})"
            )
        ds = [x["delta_pp"] for x in rs]
        lines.append(
            f"| {task} | {pname} | {mode} | "
            + " | ".join(cells)
            + f" | {statistics.fmean(ds):+.2f} | {min(ds):+.2f} |"
        )
    legacy = [r for r in rows if r.get("delta_pp_legacy") is not None]
    if legacy:
        lines += [
            "",
            "### Many-output models with the paper's accuracy (padding positions counted)",
            "",
            "Same modules; accuracy over every position including padding, as in the paper's Table II. "
            "With the `default` preset there is no padding module, so padding positions are always wrong "
            "for both the composed model and the (restricted) monolithic model.",
            "",
            head,
            "|" + "---|" * (len(models) + 5),
        ]
        by_legacy: dict[tuple, list[dict]] = {}
        for r in legacy:
            by_legacy.setdefault((r["task"], r["preset"], r["mode"]), []).append(r)
        for (task, pname, mode), rs in sorted(by_legacy.items()):
            cells = []
            for c, d in models:
                r = next((x for x in rs if x["cell"] == c and x["depth"] == d), None)
                cells.append(
                    ""
                    if r is None
                    else f"**{r['delta_pp_legacy']:+.2f}** ({_fmt(r.get('paper_delta_pp'))})"
                )
            ds = [x["delta_pp_legacy"] for x in rs]
            lines.append(
                f"| {task} | {pname} | {mode} | "
                + " | ".join(cells)
                + f" | {statistics.fmean(ds):+.2f} | {min(ds):+.2f} |"
            )
    lines += [
        "",
        "## Monolithic accuracy and Jaccard",
        "",
        "| task | model | monolithic (ours) | monolithic (paper) | preset | mode | composed | JI legacy | JI mask | paper JI | retained |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['cell']}-{r['depth']} | {r['monolithic']:.4f} | {_fmt(r.get('paper_monolithic'), '.4f')} | {r['preset']} | {r['mode']} | {r['composed']:.4f} | {r['jaccard_legacy']:.3f} | {r['jaccard_mask']:.3f} | {_fmt(r.get('paper_jaccard'), '.3f')} | {r['retained_units']:.3f} |"
        )
    notes = sorted({n for r in rows for n in r.get("notes", [])})
    if notes:
        lines += ["", "## Data notes", ""] + [f"- {n}" for n in notes]
    if wall_seconds is not None:
        lines += [
            "",
            f"Wall time of this invocation: {wall_seconds:.0f} s (cached results are reused, so a resumed run is shorter).",
        ]
    return "\n".join(lines) + "\n"


def parse_depths(s: str) -> list[int]:
    out: list[int] = []
    for part in s.split(","):
        a, _, b = part.partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            raise RnnmodError(f"invalid depth list {s!r}; use e.g. 1-4 or 1,3") from None
        out += list(range(lo, hi + 1))
    if not out or any(not 1 <= d <= 4 for d in out):
        raise RnnmodError(f"depths must be within 1-4, got {s!r}")
    return out
