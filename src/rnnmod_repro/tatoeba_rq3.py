"""RQ3 intra replace for the Tatoeba translators (paper-method §11.1, the enc–dec row of Table
IV): among the depths of a family, the model with the lowest average BLEU is *faulty*, the one
with the highest *best*; for each target language l the faulty model's language modules are
composed with module l taken from the best model, and the composed model's average BLEU is
compared with the faulty model's (monolithic) average BLEU.

A translation module routes each sentence by its target language (§8), so the composed model's
BLEU of a language is the BLEU of the module that translates into it: after replacing l it is the
best model's module l on l and the faulty model's modules elsewhere. Each family therefore needs
one evaluation of the faulty model, of its modules and of the best model's modules; every
replacement is assembled from those per-language scores (sacreBLEU and the paper's BLEU-1).
Cached per (faulty model, best model, decomposition config, test size) under
``results/rq3/cache/tatoeba``; the report ``results/rq3_tatoeba.{csv,md}`` holds every cached
family (the newest per cell and mode).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from tqdm.auto import tqdm

from rnnmod import RnnmodError, Run, load_run, preset
from rnnmod.kinds.translator import N_POSITIVE
from rnnmod.storage import write_json
from rnnmod.translation.data import data_for_run, test_pairs
from rnnmod.translation.decode import Route, bleu_report

from .freshness import latest_rows
from .language_modules import decompose_languages
from .paper import TATOEBA_REPLACE
from .result_cache import cached_json
from .tables import Col, flat_fields, group_by, table, write_tables
from .tatoeba_rq1 import TatoebaRQ1Options


def _mean(per: dict[str, dict], metric: str) -> float:
    return statistics.fmean(v[metric] for v in per.values())


def family_scores(faulty: Run, best: Run, mode: str, opts: TatoebaRQ1Options) -> dict:
    """Per-language BLEU of the faulty model, of its modules and of the best model's modules."""
    cfg = preset("default", mode=mode, n_positive=N_POSITIVE)
    langs = list(faulty.langs)
    if sorted(best.langs) != sorted(langs):
        raise RnnmodError(f"{faulty.path} and {best.path} translate into different languages")
    test = test_pairs(faulty, opts.data_dir, langs, opts.test_per_lang)
    out = {"langs": langs, "n_test": len(test)}
    whole = Route(faulty.model, faulty.vocab, faulty.target_vocab, None)
    out["faulty_monolithic"] = bleu_report(lambda _lang: whole, test)["per_language"]
    for name, run in (("faulty_modules", faulty), ("best_modules", best)):
        mods = decompose_languages(run, data_for_run(run, opts.data_dir), cfg)
        routes = {m.lang: m.route for m in mods}
        out[name] = bleu_report(routes.__getitem__, test)["per_language"]
    return out


def replace_rows(cell: str, scores: dict, faulty: Run, best: Run, mode: str) -> list[dict]:
    """One row per replaced language: the composed model's average (sacreBLEU and BLEU-1) minus
    the faulty model's average."""
    mono = scores["faulty_monolithic"]
    # run → model hash: the report drops the rows once either run is retrained
    models = {str(faulty.path): faulty.model_sha256(), str(best.path): best.model_sha256()}
    rows = []
    for lang in scores["langs"]:
        per = {
            x: scores["best_modules" if x == lang else "faulty_modules"][x] for x in scores["langs"]
        }
        row = {
            "task": "tatoeba",
            "io_type": "enc-dec",
            "cell": cell,
            "mode": mode,
            "preset": "default",
            "faulty_depth": faulty.model.cfg.depth,
            "best_depth": best.model.cfg.depth,
            "class": lang,
            "faulty_bleu": _mean(mono, "bleu"),
            "faulty_modules_bleu": _mean(scores["faulty_modules"], "bleu"),
            "composed_bleu": _mean(per, "bleu"),
            "replaced_lang_bleu_before": scores["faulty_modules"][lang]["bleu"],
            "replaced_lang_bleu_after": scores["best_modules"][lang]["bleu"],
            "faulty_bleu1_legacy": _mean(mono, "bleu1_legacy"),
            "composed_bleu1_legacy": _mean(per, "bleu1_legacy"),
            "n_test": scores["n_test"],
            "faulty_run": str(faulty.path),
            "best_run": str(best.path),
            "models": dict(models),
        }
        row["delta"] = row["composed_bleu"] - row["faulty_bleu"]
        row["delta_bleu1_legacy_points"] = 100 * (
            row["composed_bleu1_legacy"] - row["faulty_bleu1_legacy"]
        )
        rows.append(row)
    return rows


def run_tatoeba_rq3(opts: TatoebaRQ1Options) -> list[dict]:
    """Every cell family of ``opts`` over ``opts.depths`` (the trained translators), each mode."""
    cache = opts.results_dir / "rq3" / "cache" / "tatoeba"
    start = time.perf_counter()
    rows: list[dict] = []
    for cell in tqdm(opts.cells, desc="rq3 tatoeba", disable=not opts.progress, unit="family"):
        runs = []
        for d in opts.depths:
            path = opts.runs_dir / f"tatoeba-{cell}{d}"
            if not (path / "metrics.json").is_file():
                raise RnnmodError(
                    f"{path} is missing: train it first (rnnmod reproduce rq1 --tasks tatoeba)"
                )
            run = load_run(path)
            assert run.target_vocab is not None
            runs.append(run)
        if len(runs) < 2:
            raise RnnmodError(
                "translation replace needs at least two depths of a family (--depths 1,2)"
            )
        # the authors' choice: lowest / highest average BLEU of the monolithic models
        avg = [_mean(r.metrics["per_language"], "bleu") for r in runs]
        faulty, best = runs[avg.index(min(avg))], runs[avg.index(max(avg))]
        for mode in opts.modes:
            cfg = preset("default", mode=mode, n_positive=N_POSITIVE)
            key = ":".join(
                [faulty.model_sha256(), best.model_sha256(), cfg.hash(), str(opts.test_per_lang)]
            )
            f, got = cached_json(cache, key)
            got = got or {}
            if "rows" not in got:
                scores = got or family_scores(faulty, best, mode, opts)
                got = {"scores": scores, "rows": replace_rows(cell, scores, faulty, best, mode)}
                write_json(f, got)
            rows += got["rows"]
    write_reports(collect_cached(cache), opts.results_dir, time.perf_counter() - start)
    return rows


def collect_cached(cache: Path) -> list[dict]:
    """Every cached family's rows, earlier invocations' too (the newest per cell, mode and
    language), minus rows of a run that has been retrained since."""
    rows = latest_rows(cache, ("cell", "mode", "class"), rows_of=lambda got: got.get("rows", []))
    return sorted(rows, key=lambda r: (r["cell"], r["mode"]))


COLUMNS = [
    Col("cell", "{cell}"),
    Col("mode", "{mode}"),
    Col("faulty / best depth", "{faulty_depth} / {best_depth}"),
    Col("replaced", "{class}"),
    Col("faulty BLEU", "{faulty_bleu:.2f}", True),
    Col("faulty modules", "{faulty_modules_bleu:.2f}", True),
    Col("composed", "{composed_bleu:.2f}", True),
    Col("Δ BLEU", "{delta:+.2f}", True),
    Col(
        "language BLEU before → after",
        "{replaced_lang_bleu_before:.2f} → {replaced_lang_bleu_after:.2f}",
    ),
    Col("Δ BLEU-1 pts", "{delta_bleu1_legacy_points:+.2f}", True),
]
SUMMARY_COLUMNS = [
    Col("cell", "{cell}"),
    Col("mode", "{mode}"),
    Col("n", "{n}", True),
    Col("mean Δ BLEU", "{mean_delta:+.2f}", True),
    Col("median Δ BLEU", "{median_delta:+.2f}", True),
    Col("mean Δ BLEU-1 pts", "{mean_delta_bleu1:+.2f}", True),
    Col("paper mean / median", "{paper}"),
]


def summarize(rows: list[dict]) -> list[dict]:
    """Mean and median Δ per cell and mode, beside the paper's Table IV enc-dec cell."""
    out = []
    for (cell, mode), rs in group_by(rows, ("cell", "mode")).items():
        ds = [r["delta"] for r in rs]
        pm = TATOEBA_REPLACE.get(cell)
        out.append(
            {
                "cell": cell,
                "mode": mode,
                "n": len(rs),
                "mean_delta": statistics.fmean(ds),
                "median_delta": statistics.median(ds),
                "mean_delta_bleu1": statistics.fmean(r["delta_bleu1_legacy_points"] for r in rs),
                "paper": "—" if pm is None else f"{pm[0]:+.2f} / {pm[1]:+.2f}",
            }
        )
    return out


def write_reports(rows: list[dict], results_dir: Path, wall_seconds: float) -> None:
    lines = [
        "# RQ3 — translation replace (Tatoeba, the enc–dec row of Table IV)",
        "",
        "Faulty = the family's depth with the lowest average monolithic BLEU, best = the highest; "
        "for each target language the faulty model's modules with that language's module taken "
        "from the best model. Δ = composed − faulty monolithic average BLEU (sacreBLEU 0-100; "
        "BLEU-1 = the paper's legacy unigram BLEU, Δ in points ×100). Paper: Table IV enc-dec "
        "(BLEU, mean / median).",
        "",
        *table(COLUMNS, rows),
        "",
        *table(SUMMARY_COLUMNS, summarize(rows)),
        "",
        f"Wall time of this invocation: {wall_seconds:.0f} s (cached families reused).",
    ]
    write_tables(results_dir, "rq3_tatoeba", rows, flat_fields(rows), lines)
