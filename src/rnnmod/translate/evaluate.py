"""Data of a translation run (same pairs, subset and vocabularies as in training) and BLEU of
a module set against its source models (paper-method §8: composition routes each sentence to
its language's module; "composed BLEU" of a language = BLEU of that language's module)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..data.base import default_data_dir
from ..data.generic import Pair, TranslationPairs
from ..data.tatoeba import load_tatoeba_pairs
from ..nn.cells import N_GATES
from ..nn.seq2seq import Seq2Seq
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


@torch.no_grad()
def module_jaccard(model: Seq2Seq, masks: list[torch.Tensor]) -> tuple[float, float]:
    """(legacy, mask) Jaccard of a language module (§9) over the parts it changes: the decoder's
    recurrent layers and the output layer (encoder and embeddings are the model's). Legacy: the
    authors' value-based index over the decoder input kernels and the output layer; mask: kept
    parameter positions / all positions. Unrolled modules: mean over decoder steps."""
    from ..metrics.jaccard import _value_jaccard

    g, h = N_GATES[model.cfg.cell], model.cfg.hidden
    kernels = [w.weight_ih.detach() for w in model.decoder_weights()]
    head = model.head.weight.detach()
    a = np.concatenate([k.numpy().ravel() for k in kernels] + [head.numpy().ravel()])
    a_values = np.unique(a)
    v_out, inp0 = head.shape[0], model.cfg.embed_dim
    steps = max(m.shape[0] for m in masks)
    legacy, positional = [], []
    total = sum(g * h * ((inp0 if i == 0 else h) + h + 2) for i in range(len(masks)))
    total += v_out * h + v_out
    seen: dict[bytes, float] = {}  # steps with the same masks share the (costly) value index
    for s in range(steps):
        keeps = [m[min(s, m.shape[0] - 1)] for m in masks]
        key = b"".join(k.numpy().tobytes() for k in keeps)
        if key not in seen:
            parts = [
                (k * keep.repeat(g).unsqueeze(1)).numpy().ravel()
                for k, keep in zip(kernels, keeps, strict=True)
            ]
            parts.append((head * keeps[-1].unsqueeze(0)).numpy().ravel())
            seen[key] = _value_jaccard(a, np.concatenate(parts), a_values)
        legacy.append(seen[key])
        kept, prev = 0.0, float(inp0)
        for keep in keeps:
            rows = g * float(keep.sum())
            kept += rows * prev + rows * float(keep.sum()) + 2 * rows
            prev = float(keep.sum())
        kept += v_out * prev + v_out
        positional.append(kept / total)
    return float(np.mean(legacy)), float(np.mean(positional))


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
        mod = tr.modules[lang]
        ji_legacy, ji_mask = module_jaccard(mod.run.model, mod.masks)
        per[lang] = {
            "jaccard_legacy": round(ji_legacy, 6),
            "jaccard_mask": round(ji_mask, 6),
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
        "jaccard_legacy": round(sum(v["jaccard_legacy"] for v in per.values()) / len(per), 6),
        "jaccard_mask": round(sum(v["jaccard_mask"] for v in per.values()) / len(per), 6),
        "n_modules": len(tr.modules),
        "n_test": len(test),
        "decode_sentences_per_second": {
            "monolithic": mono["sentences_per_second"],
            "composed": comp["sentences_per_second"],
        },
        "seconds": round(time.perf_counter() - start, 3),
    }
