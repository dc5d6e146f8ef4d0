"""RQ1 for the encoder–decoder rows of Table II (the Tatoeba translators): train what is missing, decompose per target
language (rolled and unrolled), compare the composed BLEU with the monolithic one. Results are
cached per (model, config, test size) under ``results/rq1/cache/tatoeba`` and written to
``results/rq1_tatoeba.{csv,md}`` beside the paper's Δ (BLEU-1 points)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

import rnnmod
from rnnmod import RnnmodError, load_run, preset, save_run
from rnnmod.kinds.translator import N_POSITIVE, TRANSLATOR
from rnnmod.storage import read_json, write_json
from rnnmod.translation.data import (
    TranslationData,
    data_for_run,
)
from rnnmod.translation.train import Seq2SeqTrainConfig, train_seq2seq

from .freshness import latest_rows
from .language_modules import as_moduleset, decompose_languages
from .paper import table2_delta_row
from .recipes import RECIPES
from .result_cache import cached_json
from .tables import MISSING, Col, num, table, write_tables

# Affordable defaults on a 2-core CPU (docs/translation.md): a seeded 24,000-pair subset of the
# 106,564 training pairs, 3 epochs, 8,000-word vocabularies, 256 units.
TRAIN_DEFAULTS = {"max_train": 24000, "epochs": 3, "max_vocab": 8000}


@dataclass
class TatoebaRQ1Options:
    cells: list[str]
    depths: list[int]
    modes: list[str] = field(default_factory=lambda: ["rolled", "unrolled"])
    presets: list[str] = field(default_factory=lambda: ["default"])
    runs_dir: Path = Path("runs")
    results_dir: Path = Path("results")
    data_dir: Path | None = None
    epochs: int | None = None
    test_per_lang: int = 500
    seed: int = 0
    progress: bool = True
    recipe: str = "paper"  # .recipes.RECIPES
    time_limit: float | None = None  # minutes of training per model (reference recipe)


def _recipe_settings(opts: TatoebaRQ1Options) -> dict:
    """What a run is trained with: the paper recipe's affordable subset on the paper's split, or
    a recipe of :data:`RECIPES` (every training pair, the line split, the time limit)."""
    if opts.recipe not in RECIPES:
        raise RnnmodError(f"unknown recipe {opts.recipe!r}; expected one of {', '.join(RECIPES)}")
    if opts.recipe == "paper":
        if opts.time_limit is not None:
            raise RnnmodError(
                "--time-limit is for --recipe reference or attention (the paper recipe is epochs)"
            )
        return {
            "epochs": opts.epochs or TRAIN_DEFAULTS["epochs"],
            "limit": TRAIN_DEFAULTS["max_train"],
            "max_vocab": TRAIN_DEFAULTS["max_vocab"],
            "split": "paper",  # the paper's split of the shuffled pairs (paper-method §3.6)
        }
    r = dict(RECIPES[opts.recipe])
    for k in ("max_train_per_lang", "test_per_lang"):  # the scenarios' settings
        r.pop(k)
    if opts.epochs:
        r["epochs"] = opts.epochs
    return r | {"split": "lines", "time_limit": opts.time_limit}


def _check_settings(path: Path, want: dict) -> None:
    """A reused run must have been trained as asked (epochs and time limit are in its metrics)."""
    m = read_json(path / "metrics.json")
    got = {"epochs": m.get("epochs"), "time_limit": m.get("time_limit_minutes")}
    asked = {"epochs": want["epochs"], "time_limit": want["time_limit"]}
    if got != asked:
        raise RnnmodError(
            f"{path} was trained with {got}, not {asked}: give another --runs-dir or delete it"
        )


def ensure_run(cell: str, depth: int, opts: TatoebaRQ1Options) -> Path:
    """The run of (cell, depth) under ``runs_dir``, trained when missing; a paper-recipe run is
    reused as it is (runs trained by hand included), another recipe's only if trained alike."""
    settings = _recipe_settings(opts)
    name = (
        f"tatoeba-{cell}{depth}"
        if opts.recipe == "paper"
        else f"tatoeba-{opts.recipe}-{cell}{depth}"
    )
    path = opts.runs_dir / name
    if (path / "metrics.json").is_file():
        if opts.recipe != "paper":
            _check_settings(path, settings)
        return path
    rnnmod.train(
        "tatoeba",
        out=path,
        overwrite=True,
        cell=cell,
        depth=depth,
        seed=opts.seed,
        data_dir=opts.data_dir,
        progress=opts.progress,
        test_per_lang=opts.test_per_lang,
        **settings,
    )
    return path


def train_translator(
    path: Path, data: TranslationData, tc: Seq2SeqTrainConfig, config: dict
) -> Path:
    """Train a translator on ``data`` and save it as the run directory ``path`` (replaced)."""
    model, metrics = train_seq2seq(data, tc)
    save_run(
        path,
        model,
        config,
        data.src_vocab,
        data.langs,
        metrics,
        target_vocab=data.tgt_vocab,
        overwrite=True,
    )
    return path


def run_tatoeba_rq1(opts: TatoebaRQ1Options) -> list[dict]:
    cache = opts.results_dir / "rq1" / "cache" / "tatoeba"  # git-ignored, beside the others
    rows = []
    start = time.perf_counter()
    combos = [(c, d) for c in opts.cells for d in opts.depths]
    for cell, depth in tqdm(combos, desc="rq1 tatoeba", disable=not opts.progress, unit="model"):
        run = load_run(ensure_run(cell, depth, opts))
        assert run.target_vocab is not None
        sha = run.model_sha256()
        data = None
        for pname in opts.presets:
            for mode in opts.modes:
                cfg = preset(pname, mode=mode, n_positive=N_POSITIVE)
                key = f"{sha}:{cfg.hash()}:{opts.test_per_lang}"
                f, got = cached_json(cache, key)
                if got is not None:
                    rows += got
                    continue
                data = data or data_for_run(run, opts.data_dir)
                t0 = time.perf_counter()
                mods = decompose_languages(run, data, cfg)
                dt = time.perf_counter() - t0
                res = TRANSLATOR.evaluate(
                    as_moduleset(mods, {"mode": mode}),
                    opts.data_dir,
                    test_per_lang=opts.test_per_lang,
                )
                new = []
                for lang, v in res["per_language"].items():
                    row = {
                        "task": "tatoeba",
                        "recipe": opts.recipe,
                        "pair": f"en-{lang}",
                        "cell": cell,
                        "depth": depth,
                        "preset": pname,
                        "mode": mode,
                        **v,
                        "delta_bleu1_legacy_points": round(
                            100 * (v["composed_bleu1_legacy"] - v["monolithic_bleu1_legacy"]), 4
                        ),
                        "paper_delta_bleu1_points": table2_delta_row(
                            f"Tatoeba EN-{lang.upper()}", mode, cell, depth
                        ),
                        "decompose_seconds": round(dt, 3),
                        "train_seconds": run.metrics.get("train_seconds"),
                        "epochs_run": run.metrics.get("epochs_run"),
                        "run": str(run.path),
                        "model_sha256": sha,
                    }
                    new.append(row)
                write_json(f, new)
                rows += new
    write_reports(collect_cached(cache), opts.results_dir, time.perf_counter() - start)
    return rows


ROW_KEY = ("task", "recipe", "pair", "cell", "depth", "preset", "mode")


def collect_cached(cache: Path) -> list[dict]:
    """Every cached row, earlier invocations' too (the newest per model, preset, mode and
    language), minus rows of a run that has been retrained since: the report covers everything
    measured so far, as the classifiers' RQ1 report does."""
    out = [{"recipe": "paper"} | r for r in latest_rows(cache, ROW_KEY)]  # rows before recipes
    order = ("recipe", "cell", "depth", "preset", "mode", "pair")
    return sorted(out, key=lambda r: tuple(r[k] for k in order))


FIELDS = [
    "task", "recipe", "pair", "cell", "depth", "preset", "mode", "monolithic", "composed", "delta",
    "monolithic_bleu1_legacy", "composed_bleu1_legacy", "delta_bleu1_legacy_points",
    "paper_delta_bleu1_points", "retained_units", "jaccard_legacy", "jaccard_mask", "n_test",
    "decompose_seconds", "train_seconds", "epochs_run",
]  # fmt: skip


COLUMNS = [
    Col("recipe", "{recipe}"),
    Col("model", "{cell}-{depth}"),
    Col("preset", "{preset}"),
    Col("mode", "{mode}"),
    Col("pair", "{pair}"),
    Col("BLEU mono", "{monolithic:.2f}"),
    Col("BLEU composed", "{composed:.2f}"),
    Col("Δ BLEU", "{delta:+.2f}"),
    Col(
        "Δ 95 % CI",
        lambda r: "[{:+.2f}, {:+.2f}]".format(*r["delta_ci95"]) if r.get("delta_ci95") else MISSING,
    ),
    Col("BLEU-1 mono", "{monolithic_bleu1_legacy:.4f}"),
    Col("BLEU-1 composed", "{composed_bleu1_legacy:.4f}"),
    Col("Δ BLEU-1 pts", "{delta_bleu1_legacy_points:+.2f}"),
    Col("paper Δ BLEU-1 pts", lambda r: num(r.get("paper_delta_bleu1_points"))),
    Col("retained", "{retained_units:.3f}"),
    Col("epochs", lambda r: num(r.get("epochs_run"), ".0f")),
]


def write_reports(rows: list[dict], results_dir: Path, wall_seconds: float) -> None:
    lines = [
        "# RQ1 — encoder–decoder (Tatoeba), composed vs monolithic BLEU",
        "",
        "BLEU = sacreBLEU corpus BLEU on normalised text (0-100); BLEU-1 = the paper's legacy "
        "unigram BLEU, Δ in points (×100) beside the paper's Table II Δ; Δ 95 % CI = paired "
        "bootstrap interval of Δ BLEU (sacreBLEU statistics). Recipes (docs/translation.md): "
        "paper = the authors' at an affordable scale (24,000 pairs, 3 epochs, the paper's "
        "split); reference = every training pair, adaptive softmax, early stopping, the line "
        "split, trained for at most the time limit each.",
        "",
        *table(COLUMNS, rows),
        "",
        f"Wall time of this invocation: {wall_seconds:.0f} s (cached rows reused).",
    ]
    write_tables(results_dir, "rq1_tatoeba", rows, FIELDS, lines)
