"""The translator kind (encoder–decoder, one module per target language; paper-method §6.1,
§6.7, §8).

Concern: positives of language l are training pairs into l, negatives pairs into the other
languages, drawn in proportion (the paper: 1,000 positives and 500 per other language, so by
default ``n_negative = n_positive · (L − 1) / 2``). The model is observed once, teacher-forced,
over the union of all samples; only the **decoder** recurrent layers are observed and masked
(rolled: one mask per decoder layer, statistics pooled over decoder steps; unrolled: one per
decoder layer and step). There is no head to channel. Composition routes each sentence to its
language's module, so a language's composed BLEU is the BLEU of its module.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from ..data.tatoeba import SPLITS
from ..decomposition import Decomposition, DecompositionConfig
from ..decomposition.decomposer import select_units
from ..decomposition.observe import drop_padding, selection_grid
from ..decomposition.sampling import sample_one_output
from ..errors import RnnmodError
from ..metrics.jaccard import decoder_jaccard
from ..modules.decoder_bank import DecoderMaskBank
from ..modules.store import ModuleSet
from ..runs import Run
from ..translation.bleu import paired_bootstrap
from ..translation.data import (
    PUNCTUATION,
    TranslationData,
    build_translation_data,
    data_for_run,
    pairs_for,
    test_pairs,
)
from ..translation.decode import Decoding, Route, bleu_report, check_lang
from ..translation.mask_learning import TranslatorObjective
from ..translation.train import Seq2SeqTrainConfig, train_seq2seq
from .base import ModelKind, TrainSpec

N_POSITIVE = 1000  # the authors' encoder-decoder sample size
TEST_PER_LANG = 500  # the authors evaluate 500 test pairs per language
_NO_HEAD = "applies to classifiers; a translation module has no head to channel"


def negatives_for(n_positive: int, n_langs: int) -> int:
    return math.ceil(n_positive * (n_langs - 1) / 2)


def routes(source: Run | ModuleSet) -> dict[str, Route]:
    """Per target language, what translates into it: a run's whole model, or a module set's
    language module (its source model with the module's decoder masks)."""
    if isinstance(source, Run):
        r = Route(source.model, source.vocab, source.target_vocab, None)
        return {lang: r for lang in source.langs}
    out = {}
    for lang in source.labels:
        sid, pos = source.locate(lang)
        run = source.sources[sid]
        out[lang] = Route(run.model, run.vocab, run.target_vocab, source.banks[sid].masks[pos])
    return out


def monolithic_routes(ms: ModuleSet) -> dict[str, Route]:
    """Per language, the module's whole source model (what composition is compared against)."""
    return {lang: Route(r.model, r.src_vocab, r.tgt_vocab, None) for lang, r in routes(ms).items()}


def route_for(table: dict[str, Route], what: str):
    def get(lang: str) -> Route:
        check_lang(lang, list(table), what)
        return table[lang]

    return get


class TranslatorKind(ModelKind):
    name = "translator"
    mask_objective = TranslatorObjective
    votes = False
    refused_options = {
        "budget": "with --method rank is not supported for translation models; learned "
        "masks are (--budget TOL, the default method)",
        "gate_strategy": "per-gate: translation modules use the hidden-state strategy",
        "module_output": _NO_HEAD,
        "padding_module": _NO_HEAD,
        "channel": _NO_HEAD,
        "unit_semantics": "is for classifiers: translation modules use dead units",
    }
    option_defaults = {"n_positive": N_POSITIVE}

    def fit(
        self,
        spec: TrainSpec,
        *,
        hidden: int = 256,
        embed_dim: int = 128,
        max_vocab: int = 30000,
        langs: list[str] = ("fr", "de", "it"),
        test_per_lang: int | None = 500,
        output_layer: str = "softmax",
        bucket: bool = False,
        attention: str = "none",
        patience: int | None = None,
        split: str = "lines",
        lr: float | None = None,
        label_smoothing: float | None = None,
        dropout: float | None = None,
        time_limit: float | None = None,
        punctuation: str = "strip",
        clip_norm: float | None = None,
        lr_decay: str | None = None,
        bidirectional: bool = False,
        precision: str | None = None,
    ) -> tuple:
        """English → ``langs`` on Tatoeba's aligned files; ``spec.limit`` caps the training
        pairs (a seeded subset). ``split``: ``lines`` (the aligned lines are split, so no test
        source is seen in training; the default) or ``paper`` (the authors' split of the
        shuffled pairs). ``lr`` (default 1e-3, the paper's) and ``label_smoothing`` (default 0)
        go to the optimiser and the training loss; ``dropout`` (default 0) drops embedding
        outputs and the output layer's input in training; ``time_limit`` (minutes) ends
        training at the first batch past it; ``punctuation`` ``keep`` makes punctuation marks
        tokens of source and target (``strip``, the default, is the paper's preprocessing);
        ``clip_norm`` rescales the gradients to at most that global L2 norm; ``lr_decay``
        ``linear`` lowers the learning rate linearly to 0 over the run (its epochs or its time
        limit, whichever ends it); ``bidirectional`` makes the encoder read both directions;
        ``precision`` ``bf16`` runs training's forward and backward passes in bfloat16 autocast."""
        if split not in SPLITS:
            raise RnnmodError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
        if label_smoothing is not None and not 0 <= label_smoothing < 1:
            raise RnnmodError(f"--label-smoothing must be in [0, 1), got {label_smoothing}")
        if dropout is not None and not 0 <= dropout < 1:
            raise RnnmodError(f"--dropout must be in [0, 1), got {dropout}")
        if lr is not None and not lr > 0:
            raise RnnmodError(f"--lr must be positive, got {lr}")
        if punctuation not in PUNCTUATION:
            raise RnnmodError(
                f"--punctuation must be one of {', '.join(PUNCTUATION)}, got {punctuation!r}"
            )
        if clip_norm is not None and not clip_norm > 0:
            raise RnnmodError(f"--clip-norm must be positive, got {clip_norm}")
        loop = spec.loop() | {"epochs": spec.epochs or 5, "batch_size": spec.batch_size or 64}
        tc = Seq2SeqTrainConfig(
            **loop,
            hidden=hidden,
            embed_dim=embed_dim,
            test_per_lang=test_per_lang,
            output_layer=output_layer,
            bucket=bucket,
            attention=attention,
            patience=patience,
            lr=1e-3 if lr is None else lr,
            label_smoothing=label_smoothing or 0.0,
            dropout=dropout or 0.0,
            time_limit_minutes=time_limit,
            clip_norm=clip_norm,
            lr_decay=lr_decay or "none",
            bidirectional=bidirectional,
            precision=precision or "fp32",
        )
        tc.check()  # before the data load
        opts = {
            "langs": list(langs),
            "max_train": spec.limit,
            "max_vocab": max_vocab,
            "subset_seed": spec.seed,
            "subdir": "main",
            "source": "en",
            "suffix": "_train",
            "split_seed": 19,
            "split": split,
        }
        data = build_translation_data(
            pairs_for(opts, spec.data_dir),
            max_train=spec.limit,
            max_vocab=max_vocab,
            seed=spec.seed,
            tokenizer=PUNCTUATION[punctuation],
        )
        model, metrics = train_seq2seq(data, tc)
        config = {
            **spec.recorded(),
            "task": data.task,
            "data_options": opts,
            "test_per_lang": test_per_lang,
        }
        return model, config, data.src_vocab, data.langs, metrics, data.tgt_vocab

    def load_data(self, run: Run, data_dir: Path | str | None) -> TranslationData:
        return data_for_run(run, data_dir)

    def router(self, source: Run | ModuleSet):
        return route_for(routes(source), str(source.path))

    def decompose(
        self, run: Run, data: TranslationData, cfg: DecompositionConfig, *, progress: bool = False
    ) -> Decomposition:
        cfg.validate()
        if cfg.gate_strategy != "hidden-state":
            raise RnnmodError("translation modules support the hidden-state strategy only")
        if cfg.unit_semantics != "dead":
            raise RnnmodError("translation modules use dead units (unit_semantics 'dead')")
        model, langs = run.model, run.langs
        depth, hidden, steps = model.cfg.depth, model.cfg.hidden, model.steps
        s_groups = 1 if cfg.mode == "rolled" else steps
        timings: dict[str, float] = {}
        if len(langs) == 1:  # a single-language model: no negatives, nothing removed (§6.1)
            keep = [torch.ones(s_groups, hidden, dtype=torch.bool) for _ in range(depth)]
            w = "a single-language model has no negatives: the module keeps every unit"
            info = {"n_positive": 0, "n_negative": 0, "warnings": [w]}
            bank = DecoderMaskBank([0], [keep], [info])
            return Decomposition(bank, cfg, cfg.max_remove, None, timings, [f"{langs[0]}: {w}"])
        t0 = time.perf_counter()
        n_neg = cfg.n_negative
        if n_neg is None:
            n_neg = negatives_for(cfg.n_positive, len(langs))
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
        removed, concern = select_units(states, pos, neg, model.cfg.cell, cfg, cfg.max_remove)
        timings["statistics"] = time.perf_counter() - t0

        masks, info, warnings = [], [], []
        for k, lang in enumerate(langs):
            w = []
            if samples.n_pos[k] < samples.wanted_pos:
                w.append(f"only {samples.n_pos[k]} positive examples (wanted {samples.wanted_pos})")
            warnings += [f"language {lang!r}: {x}" for x in w]
            info.append(
                {"n_positive": samples.n_pos[k], "n_negative": samples.n_neg[k], "warnings": w}
            )
            masks.append([~r[k] for r in removed])
        bank = DecoderMaskBank(list(range(len(langs))), masks, info)
        return Decomposition(bank, cfg, cfg.max_remove, samples, timings, warnings, concern)

    def evaluate(
        self,
        ms: ModuleSet,
        data_dir: Path | str | None,
        *,
        test_per_lang: int | None = TEST_PER_LANG,
        progress: bool = False,
        beam: int = 1,
        no_unk: bool = False,
    ) -> dict:
        """Per language: BLEU of the module (composed) and of its whole source model
        (monolithic); each language is tested on its source's test split. (No progress bar:
        ``progress`` is accepted for a uniform call.) ``no_unk``: never decode ``<unk>``."""
        start = time.perf_counter()
        decoding = Decoding(beam=beam, no_unk=no_unk)  # a bad beam fails before the data load
        test = []
        for sid, run in ms.sources.items():
            langs = [e["label"] for e in ms.entries if e["source"] == sid]
            test += test_pairs(run, data_dir, langs, test_per_lang)
        composed_routes = routes(ms)
        mono = bleu_report(
            route_for(monolithic_routes(ms), str(ms.path)), test, decoding, hypotheses=True
        )
        comp = bleu_report(
            route_for(composed_routes, str(ms.path)), test, decoding, hypotheses=True
        )
        retained = dict(zip(ms.labels, ms.retained_fraction().tolist(), strict=True))
        per = {}
        for lang in ms.labels:
            m, c = mono["per_language"].get(lang), comp["per_language"].get(lang)
            if m is None:
                continue
            r = composed_routes[lang]
            ji_legacy, ji_mask = decoder_jaccard(r.model, r.masks)
            ci = paired_bootstrap(
                m.pop("hypotheses"),
                c.pop("hypotheses"),
                m.pop("references"),
                tokenizer=m.pop("tokenizer"),
            )
            for key in ("references", "tokenizer"):
                c.pop(key)
            per[lang] = {
                "jaccard_legacy": round(ji_legacy, 6),
                "jaccard_mask": round(ji_mask, 6),
                "monolithic": m["bleu"],
                "composed": c["bleu"],
                "delta": round(c["bleu"] - m["bleu"], 4),
                # paired bootstrap (1,000 resamples of the test pairs): 95 % interval of delta
                "delta_ci95": [round(ci["low"], 4), round(ci["high"], 4)],
                "monolithic_bleu1_legacy": m["bleu1_legacy"],
                "composed_bleu1_legacy": c["bleu1_legacy"],
                "retained_units": round(retained[lang], 6),
                "n_test": m["n"],
            }
        first = next(iter(ms.sources.values()))
        return {
            "task": first.task,
            "io_type": first.io_type,
            "cell": first.model.cfg.cell,
            "depth": first.model.cfg.depth,
            "mode": ms.manifest.get("mode"),
            "preset": (ms.manifest.get("config") or {}).get("preset"),
            "metric": "BLEU (sacreBLEU on normalised text); *_bleu1_legacy = the paper's BLEU-1",
            "beam": beam,
            "no_unk": no_unk,
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
            "n_modules": len(ms.labels),
            "n_test": len(test),
            "decode_sentences_per_second": {
                "monolithic": mono["sentences_per_second"],
                "composed": comp["sentences_per_second"],
            },
            "seconds": round(time.perf_counter() - start, 3),
        }

    def evaluation_lines(self, res: dict) -> list[str]:
        decoding = "greedy" if res["beam"] == 1 else f"beam {res['beam']}"
        if res.get("no_unk"):
            decoding += ", no <unk>"
        lines = [
            f"{res['task']} {res['cell']}-{res['depth']} {res['mode']} ({res['preset']}), "
            f"{res['n_modules']} language modules, {res['n_test']} test pairs, {decoding}"
        ]
        for lang, v in res["per_language"].items():
            lines.append(
                f"  {lang}: BLEU monolithic {v['monolithic']:6.2f}  composed {v['composed']:6.2f}  "
                f"Δ {v['delta']:+.2f} (95 % CI {v['delta_ci95'][0]:+.2f} to {v['delta_ci95'][1]:+.2f})"
                f"   BLEU-1 (legacy) {v['monolithic_bleu1_legacy']:.4f} → "
                f"{v['composed_bleu1_legacy']:.4f}   retained {v['retained_units']:.1%}"
            )
        lines.append(
            f"  mean: BLEU monolithic {res['monolithic']:.2f}  composed {res['composed']:.2f}  "
            f"Δ {res['delta']:+.2f}  ({res['seconds']:.1f} s)"
        )
        lines.append(
            f"  Jaccard (legacy) {res['jaccard_legacy']:.4f}   Jaccard (mask) {res['jaccard_mask']:.4f}   "
            f"retained decoder units {res['retained_units']:.1%}"
        )
        return lines

    def check_composable(self, sets: list[ModuleSet], rule: str, calibrated: bool) -> None:
        if rule != "probability" or calibrated:
            raise RnnmodError(
                "translation modules route each sentence by its target language: no --rule or --calibrate"
            )
        sources = {
            r.config.get("data_options", {}).get("source", "en")
            for s in sets
            for r in s.sources.values()
        }
        if len(sources) > 1:
            raise RnnmodError(
                f"the modules translate from different source languages ({', '.join(sorted(sources))}); "
                "a composed translator needs one source language"
            )

    def compose_extra(self, sets: list[ModuleSet], parts: list) -> dict:
        return {"io_type": parts[0][0].io_type}


TRANSLATOR = TranslatorKind()
