"""Data of a translation run (same pairs, subset and vocabularies as in training) and BLEU of
a module set against its source models (paper-method §8: composition routes each sentence to
its language's module; "composed BLEU" of a language = BLEU of that language's module)."""

from __future__ import annotations

import time
from pathlib import Path

from ..data.base import default_data_dir
from ..data.generic import Pair, TranslationPairs
from ..data.tatoeba import load_tatoeba_pairs
from .data import TranslationData, build_translation_data, test_by_language
from .decode import bleu_report
from .runs import TranslationRun
from .store import Translator

TEST_PER_LANG = 500  # the authors evaluate 500 test pairs per language


def pairs_for(opts: dict, data_dir: Path | str | None) -> TranslationPairs:
    """The run's pairs: ``data_options`` name the Tatoeba folder, files and languages (or the
    scenario whose line-level split the run was trained on)."""
    if opts.get("split") == "lines":
        from ..experiments.scenarios import scenario_pairs

        return scenario_pairs(opts, data_dir)
    return load_tatoeba_pairs(
        data_dir or default_data_dir(),
        opts.get("langs", ["fr", "de", "it"]),
        opts.get("split_seed", 19),
        subdir=opts.get("subdir", "main"),
        source=opts.get("source", "en"),
        suffix=opts.get("suffix", "_train"),
    )


def data_for_run(run: TranslationRun, data_dir: Path | str | None) -> TranslationData:
    opts = run.config.get("data_options", {})
    return build_translation_data(
        pairs_for(opts, data_dir),
        max_train=opts.get("max_train"),
        seed=opts.get("subset_seed", 0),
        vocabs=(run.vocab, run.target_vocab),
        task=run.task,
    )


def test_pairs(
    run: TranslationRun, data_dir: Path | str | None, langs: list[str], n: int | None
) -> list[Pair]:
    return test_by_language(pairs_for(run.config.get("data_options", {}), data_dir).test, langs, n)


def evaluate_translator(
    tr: Translator, data_dir: Path | str | None, test_per_lang: int | None = TEST_PER_LANG
) -> dict:
    """Per language: BLEU of the module (composed) and of its whole source model (monolithic);
    each language is tested on its source's test split."""
    assert tr.modules is not None
    start = time.perf_counter()
    by_source: dict[int, tuple[TranslationRun, list[str]]] = {}
    for lang, mod in tr.modules.items():
        by_source.setdefault(id(mod.run), (mod.run, []))[1].append(lang)
    test: list[Pair] = []
    for run, langs in by_source.values():
        test += test_pairs(run, data_dir, langs, test_per_lang)
    mono = bleu_report(tr.monolithic_route, test)
    comp = bleu_report(tr.route, test)
    per = {}
    for lang in tr.langs:
        m, c = mono["per_language"].get(lang), comp["per_language"].get(lang)
        if m is None:
            continue
        per[lang] = {
            "monolithic": m["bleu"],
            "composed": c["bleu"],
            "delta": round(c["bleu"] - m["bleu"], 4),
            "monolithic_bleu1_legacy": m["bleu1_legacy"],
            "composed_bleu1_legacy": c["bleu1_legacy"],
            "retained_units": round(tr.modules[lang].retained(), 6),
            "n_test": m["n"],
        }
    man = tr.manifest or {}
    first = next(iter(tr.modules.values())).run
    return {
        "task": first.task,
        "io_type": "enc-dec",
        "cell": first.model.cfg.cell,
        "depth": first.model.cfg.depth,
        "mode": man.get("mode"),
        "preset": (man.get("config") or {}).get("preset"),
        "metric": "BLEU (sacreBLEU on normalised text); *_bleu1_legacy = the paper's BLEU-1",
        "monolithic": mono["bleu"],
        "composed": comp["bleu"],
        "delta": round(comp["bleu"] - mono["bleu"], 4),
        "delta_pp": round(comp["bleu"] - mono["bleu"], 4),
        "monolithic_bleu1_legacy": mono["bleu1_legacy"],
        "composed_bleu1_legacy": comp["bleu1_legacy"],
        "per_language": per,
        "retained_units": round(sum(v["retained_units"] for v in per.values()) / len(per), 6),
        "n_modules": len(tr.modules),
        "n_test": len(test),
        "decode_sentences_per_second": {
            "monolithic": mono["sentences_per_second"],
            "composed": comp["sentences_per_second"],
        },
        "seconds": round(time.perf_counter() - start, 3),
    }
