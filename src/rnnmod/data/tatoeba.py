"""Tatoeba English → French/German/Italian pairs for the encoder–decoder task (paper-method §3.6).

Only the pairs for now: the translation models (and their TextVectorization-style vocabularies)
come with the translation issue, so ``tatoeba`` is not a ``rnnmod train`` task yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import RnnmodError
from .generic import Pair, TranslationPairs, read_lines, split_pairs

TATOEBA_LANGS = ("fr", "de", "it")
TATOEBA_SEED = 19


def load_tatoeba_pairs(
    data_dir: Path | str,
    langs: Sequence[str] = TATOEBA_LANGS,
    seed: int = TATOEBA_SEED,
    *,
    subdir: str = "main",
    source: str = "en",
    suffix: str = "_train",
) -> TranslationPairs:
    """Aligned ``<subdir>/{source,lang}<suffix>.txt`` lines → (source, target, lang) pairs.

    For every line, one pair per target language in ``langs`` order; then the authors'
    ``random.seed(seed); random.shuffle`` and val = test = ⌊0.15·N⌋ (seed 19 as their
    decomposers, 89 as their evaluators). The target text is raw; ``Pair.decoder_text`` adds
    the ``[start<lang>]``/``[end<lang>]`` tokens that tell the decoder which language to emit.
    """
    root = Path(data_dir) / "tatoeba" / subdir
    if not langs:
        raise RnnmodError("load_tatoeba_pairs: give at least one target language")
    src_path = root / f"{source}{suffix}.txt"
    src = read_lines(src_path, "the Tatoeba English sentences (`rnnmod data fetch tatoeba`)")
    targets = {}
    for lang in langs:
        path = root / f"{lang}{suffix}.txt"
        lines = read_lines(path, f"the Tatoeba {lang} sentences aligned with {src_path.name}")
        if len(lines) != len(src):
            raise RnnmodError(
                f"{path}: {len(lines)} lines but {src_path} has {len(src)}; "
                "the files must be aligned line by line"
            )
        targets[lang] = lines
    pairs = [Pair(s, targets[lang][i], lang) for i, s in enumerate(src) for lang in langs]
    return split_pairs(
        pairs,
        seed,
        list(langs),
        [f"Tatoeba {subdir}: {len(src)} aligned lines x {len(langs)} languages, seed {seed}"],
    )
