"""RQ1 for classifiers: cost of decomposition — train what is missing, decompose, evaluate,
tabulate beside the paper's Table II. Each (model, config) result is cached as JSON keyed by the
model's hash and the config hash, so an interrupted run resumes where it stopped. The grid's run
directories (``<runs>/<task>-<cell><depth>``) are trained here and read by every later stage."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from rnnmod import RnnmodError, Run, load_run, load_task, preset, save_run
from rnnmod.composition.evaluate import evaluate_bank
from rnnmod.data.base import TaskData
from rnnmod.decomposition import decompose
from rnnmod.storage import read_json, write_json
from rnnmod.training import TrainConfig, train_classifier

from .freshness import current_rows
from .paper import raw_rq1, table2_delta
from .result_cache import cache_file
from .tables import Col, group_by, markdown_table, num, table, write_markdown, write_tables


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


def run_dir(runs_dir: Path | str, task: str, cell: str, depth: int) -> Path:
    """Where the grid keeps the run of a task, cell and depth."""
    return Path(runs_dir) / f"{task}-{cell}{depth}"


def ensure_run(
    task: str, cell: str, depth: int, data: TaskData, opts: RQ1Options | ModelGrid
) -> Path:
    """The run of the grid, trained (and saved) first when it is missing (``opts``: where runs
    are kept, and the training's epochs, seed and progress bar)."""
    path = run_dir(opts.runs_dir, task, cell, depth)
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


@dataclass
class ModelGrid:
    """One task's models, cells × depths, trained where missing: what the retention curves
    (``reproduce budget``, ``reproduce learned-curve``) sweep."""

    task: str = "clinc"
    cells: list[str] = field(default_factory=lambda: ["lstm", "gru", "rnn"])
    depths: list[int] = field(default_factory=lambda: [1, 2])
    runs_dir: Path = Path("runs")
    results_dir: Path = Path("results")
    data_dir: Path | None = None
    epochs: int | None = None
    seed: int = 0
    progress: bool = True

    def runs(self, data: TaskData, desc: str) -> Iterator[Run]:
        """Every run of the grid (trained first where missing), with a progress bar."""
        combos = [(c, d) for c in self.cells for d in self.depths]
        for cell, depth in tqdm(combos, desc=desc, disable=not self.progress, unit="model"):
            run = load_run(ensure_run(self.task, cell, depth, data, self))
            if run.vocab.tokens != data.vocab.tokens:
                raise RnnmodError(
                    f"{run.path} was trained with another vocabulary than the data give"
                )
            yield run


def scratch_config(model_cfg, epochs: int | None, seed: int) -> TrainConfig:
    """Training of a baseline of a model's architecture (cell, depth, hidden) from scratch, as
    reuse and replace compare composed modules with; ``epochs`` None: the task's."""
    return TrainConfig(
        cell=model_cfg.cell,
        depth=model_cfg.depth,
        epochs=epochs,
        seed=seed,
        hidden=model_cfg.hidden,
        progress=False,
    )


def trained_run(runs_dir: Path | str, task: str, cell: str, depth: int) -> Run:
    """A run the grid must have trained already (reuse, replace and inter read them)."""
    path = run_dir(runs_dir, task, cell, depth)
    if not (path / "metrics.json").is_file():
        raise RnnmodError(
            f"{path} is missing: train it first (rnnmod reproduce rq1 --tasks {task} --cells {cell} --depths {depth})"
        )
    return load_run(path)


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
        run = checked_run(ensure_run(task, cell, depth, data, opts), data)
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
CELL_ORDER = ["lstm", "gru", "rnn", "rnn-relu"]  # the tables' order of cell kinds


# The per-task steps of the grid, shared by run_rq1 (in this process) and the tasks of
# task_graph.py (process pool, Ray): one function per artifact, each a no-op when cached.


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
    return cache_file(opts.results_dir / "rq1" / "cache", f"{sha}:{cfg.hash()}:{opts.max_test}")


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
    cells = {c: i for i, c in enumerate(CELL_ORDER)}
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


def summarize(rows: list[dict]) -> list[dict]:
    """Mean / median / worst Δ per task × preset × mode."""
    out = []
    for (task, pname, mode), rs in group_by(rows, ("task", "preset", "mode")).items():
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
    write_tables(results_dir, "rq1", rows, CSV_FIELDS, render_markdown(rows, wall_seconds),
                 round_floats=6)  # fmt: skip
    summary = summarize(rows)
    write_json(results_dir / "rq1_summary.json", summary)
    write_markdown(results_dir / "rq1_summary.md", render_summary(summary))


SUMMARY_COLUMNS = [
    Col("task", "{task}"),
    Col("preset", "{preset}"),
    Col("mode", "{mode}"),
    Col("models", "{n_models}"),
    Col("mean Δ pp", "{mean_delta_pp:+.2f}"),
    Col("median Δ pp", "{median_delta_pp:+.2f}"),
    Col("worst Δ pp", "{worst_delta_pp:+.2f}"),
    Col("paper mean Δ pp", lambda s: num(s["paper_mean_delta_pp"])),
    Col("JI legacy", "{mean_jaccard_legacy:.3f}"),
    Col("JI mask", "{mean_jaccard_mask:.3f}"),
]


def render_summary(summary: list[dict]) -> list[str]:
    """Mean / median / worst Δ per task, preset and mode, beside the paper's mean."""
    return table(SUMMARY_COLUMNS, summary)


MODEL_COLUMNS = [
    Col("task", "{task}"),
    Col("model", "{cell}-{depth}"),
    Col("monolithic (ours)", "{monolithic:.4f}"),
    Col("monolithic (paper)", lambda r: num(r.get("paper_monolithic"), ".4f")),
    Col("preset", "{preset}"),
    Col("mode", "{mode}"),
    Col("composed", "{composed:.4f}"),
    Col("JI legacy", "{jaccard_legacy:.3f}"),
    Col("JI mask", "{jaccard_mask:.3f}"),
    Col("paper JI", lambda r: num(r.get("paper_jaccard"), ".3f")),
    Col("retained", "{retained_units:.3f}"),
]


def delta_grid(rows: list[dict], models: list[tuple[str, int]], key: str) -> list[str]:
    """One line per task × preset × mode, one column per model: **our Δ** (the paper's Δ), then
    the mean and worst of ours; ``key`` names our Δ."""
    body = []
    for (task, pname, mode), rs in sorted(group_by(rows, ("task", "preset", "mode")).items()):
        cells = []
        for c, d in models:
            r = next((x for x in rs if x["cell"] == c and x["depth"] == d), None)
            cells.append("" if r is None else f"**{r[key]:+.2f}** ({num(r.get('paper_delta_pp'))})")
        ds = [x[key] for x in rs]
        body.append([task, pname, mode, *cells, f"{statistics.fmean(ds):+.2f}", f"{min(ds):+.2f}"])
    head = ["task", "preset", "mode", *(f"{c}-{d}" for c, d in models), "mean", "worst"]
    return markdown_table(head, body)


def render_markdown(rows: list[dict], wall_seconds: float | None = None) -> list[str]:
    models = sorted(
        {(r["cell"], r["depth"]) for r in rows},
        key=lambda m: (CELL_ORDER.index(m[0]) if m[0] in CELL_ORDER else 9, m[1]),
    )
    lines = [
        "# RQ1 — cost of decomposition (Δ = composed − monolithic accuracy, percentage points)",
        "",
        "Each cell: **ours** (paper's Table II). Paper cells exist for LSTM/GRU/Vanilla (`rnn`); `rnn-relu` has none.",
        "",
        *delta_grid(rows, models, "delta_pp"),
    ]
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
            *delta_grid(legacy, models, "delta_pp_legacy"),
        ]
    lines += ["", "## Monolithic accuracy and Jaccard", "", *table(MODEL_COLUMNS, rows)]
    notes = sorted({n for r in rows for n in r.get("notes", [])})
    if notes:
        lines += ["", "## Data notes", ""] + [f"- {n}" for n in notes]
    if wall_seconds is not None:
        lines += [
            "",
            f"Wall time of this invocation: {wall_seconds:.0f} s (cached results are reused, so a resumed run is shorter).",
        ]
    return lines
