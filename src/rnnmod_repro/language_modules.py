"""A translator's language modules as the reproduction handles them: decomposed in memory,
evaluated without writing them, mixed across models and saved as one module set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from rnnmod.decomposition import DecompositionConfig
from rnnmod.kinds.translator import TRANSLATOR
from rnnmod.modules.decoder_bank import DecoderMaskBank
from rnnmod.modules.store import ModuleSet, save_moduleset
from rnnmod.runs import Run
from rnnmod.translation.decode import Route


@dataclass
class LangModule:
    """One language's module: its source run and decoder masks (per layer [S, H] bool)."""

    lang: str
    run: Run
    masks: list[torch.Tensor]
    info: dict
    retained: float = 1.0  # the fraction of decoder units kept (over layers and steps)
    warning: str | None = None  # the learned budget's warning for this module's run, if any

    @property
    def route(self) -> Route:
        return Route(self.run.model, self.run.vocab, self.run.target_vocab, self.masks)


def decompose_languages(
    run: Run, data, cfg: DecompositionConfig, budget: float | None = None
) -> list[LangModule]:
    """The run's language modules: the default decomposition's, or — with ``budget`` (BLEU
    points) — each language's learned decoder mask, the smallest whose greedy BLEU stays within
    ``budget`` of the monolithic model's on validation pairs and on the confirmation pairs
    (docs/budget.md, "Translators")."""
    dec = TRANSLATOR.decompose(run, data, cfg)
    b, warning = dec.bank, None
    if budget is not None:
        b, summary = TRANSLATOR.learn_masks(run, data, b, seed=cfg.seed, tolerance_pp=budget)
        warning = summary.get("warning")
    return [
        LangModule(run.langs[c], run, m, i, float(r), warning)
        for c, m, i, r in zip(b.class_index, b.masks, b.info, b.retained_fraction(), strict=True)
    ]


def _parts(mods: list[LangModule]) -> list[tuple[Run, DecoderMaskBank]]:
    by_run: dict[int, list[LangModule]] = {}
    for m in mods:
        by_run.setdefault(id(m.run), []).append(m)
    return [
        (
            ms[0].run,
            DecoderMaskBank(
                [m.run.langs.index(m.lang) for m in ms], [m.masks for m in ms], [m.info for m in ms]
            ),
        )
        for ms in by_run.values()
    ]


def as_moduleset(mods: list[LangModule], manifest: dict) -> ModuleSet:
    """The modules as an in-memory module set (what rnnmod.evaluate takes)."""
    sources, banks, entries = {}, {}, []
    for n, (run, bank) in enumerate(_parts(mods)):
        sid = f"s{n}"
        sources[sid], banks[sid] = run, bank
        entries += [{"label": run.langs[c], "source": sid} for c in bank.class_index]
    order = [m.lang for m in mods]
    rows = [next(i for i, e in enumerate(entries) if e["label"] == x) for x in order]
    entries = [entries[i] for i in rows]
    return ModuleSet(
        None, manifest, sources, banks, entries, None if rows == sorted(rows) else rows
    )


def save_language_modules(
    out: Path, mods: list[LangModule], extra: dict, *, overwrite: bool = False
) -> Path:
    TRANSLATOR.check_composable([as_moduleset(mods, {})], "probability", False)
    return save_moduleset(
        out,
        _parts(mods),
        {"io_type": mods[0].run.io_type, **extra},
        overwrite=overwrite,
        label_order=[m.lang for m in mods],
    )
