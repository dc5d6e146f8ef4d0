"""One module per target language (paper-method §6.1, §6.7, §8), on the generic engine.

Positives of language l: training pairs into l; negatives: pairs into the other languages,
drawn in proportion (the paper: 1,000 positives and 500 per other language, so by default
``n_negative = n_positive · (L − 1) / 2``). The unmodified model is observed once, teacher-forced,
over the union of all samples; only the **decoder** recurrent layers are observed and masked.
Rolled: one mask per decoder layer, statistics pooled over decoder steps; unrolled: one mask per
decoder layer and step. Statistics and the removal rule are :func:`select_units`, as for the
classifiers. There is no head to channel: a module is the whole model with decoder units removed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from ..decomposition.config import DecompositionConfig
from ..decomposition.decomposer import select_units
from ..decomposition.observe import drop_padding, selection_grid
from ..decomposition.sampling import ClassSamples, sample_one_output
from .data import TranslationData
from .runs import TranslationRun
from .store import LangModule

N_POSITIVE = 1000  # the authors' encoder-decoder sample size


@dataclass
class TranslationDecomposition:
    modules: list[LangModule]
    config: DecompositionConfig
    samples: ClassSamples | None
    timings: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def negatives_for(n_positive: int, n_langs: int) -> int:
    return math.ceil(n_positive * (n_langs - 1) / 2)


def decompose_translator(
    run: TranslationRun, data: TranslationData, cfg: DecompositionConfig
) -> TranslationDecomposition:
    cfg.validate()
    if cfg.gate_strategy != "hidden-state":
        raise ValueError("translation modules support the hidden-state strategy only")
    model = run.model
    langs = run.langs
    depth, hidden, steps = model.cfg.depth, model.cfg.hidden, model.steps
    s_groups = 1 if cfg.mode == "rolled" else steps
    timings: dict[str, float] = {}
    if len(langs) == 1:  # a single-language model: no negatives, nothing removed (§6.1)
        keep = [torch.ones(s_groups, hidden, dtype=torch.bool) for _ in range(depth)]
        w = "a single-language model has no negatives: the module keeps every unit"
        info = {"n_positive": 0, "n_negative": 0, "warnings": [w]}
        return TranslationDecomposition(
            [LangModule(langs[0], run, keep, info)], cfg, None, timings, [f"{langs[0]}: {w}"]
        )
    t0 = time.perf_counter()
    n_neg = (
        cfg.n_negative if cfg.n_negative is not None else negatives_for(cfg.n_positive, len(langs))
    )
    samples = sample_one_output(
        data.lang_train, len(langs), cfg.n_positive, n_neg, cfg.sampling, cfg.seed
    )
    timings["sample"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    src, tin = data.src_train[samples.union], data.tgt_in[samples.union]
    states = model.record_decoder(src, tin)
    timings["observe"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    # "last" (the classifiers' paper preset) has no meaning here: the authors pool every step
    observe = "all" if cfg.observe_steps == "all" else "tokens"
    pos = selection_grid(samples.pos, steps, cfg.mode, observe)
    neg = selection_grid(samples.neg, steps, cfg.mode, observe)
    if observe == "tokens":
        tokens = tin != 0
        pos = (drop_padding(pos[0], pos[1], tokens), pos[1])
        neg = (drop_padding(neg[0], neg[1], tokens), neg[1])
    removed, _ = select_units(states, pos, neg, model.cfg.cell, cfg, cfg.max_remove)
    timings["statistics"] = time.perf_counter() - t0

    modules, warnings = [], []
    for k, lang in enumerate(langs):
        w = []
        if samples.n_pos[k] < samples.wanted_pos:
            w.append(f"only {samples.n_pos[k]} positive examples (wanted {samples.wanted_pos})")
        warnings += [f"language {lang!r}: {x}" for x in w]
        info = {"n_positive": samples.n_pos[k], "n_negative": samples.n_neg[k], "warnings": w}
        modules.append(LangModule(lang, run, [~r[k] for r in removed], info))
    return TranslationDecomposition(modules, cfg, samples, timings, warnings)
