"""Tatoeba sentence pairs for the encoder–decoder task: English → French/German/Italian
(paper-method §3.6) and the line-level splits of the motivating scenarios' files (§12)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import RnnmodError
from .generic import Pair, TranslationPairs, read_lines, split_pairs
from .paths import default_data_dir

TATOEBA_LANGS = ("fr", "de", "it")
TATOEBA_SEED = 19
SPLITS = ("lines", "paper")


def load_tatoeba_pairs(
    data_dir: Path | str,
    langs: Sequence[str] = TATOEBA_LANGS,
    seed: int = TATOEBA_SEED,
    *,
    subdir: str = "main",
    source: str = "en",
    suffix: str = "_train",
    split: str = "paper",
) -> TranslationPairs:
    """Aligned ``<subdir>/{source,lang}<suffix>.txt`` lines → (source, target, lang) pairs.

    ``split="paper"``: for every line, one pair per target language in ``langs`` order; then
    the authors' ``random.seed(seed); random.shuffle`` of the pairs and val = test = ⌊0.15·N⌋
    (seed 19 as their decomposers, 89 as their evaluators) — most test sources then occur in
    training with another target language. ``split="lines"``: the *lines* are split
    (:func:`split_by_line`), so no test or validation source sentence is in training. The
    target text is raw; ``Pair.decoder_text`` adds the ``[start<lang>]``/``[end<lang>]`` tokens
    that tell the decoder which language to emit.
    """
    if split not in SPLITS:
        raise RnnmodError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
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
    if split == "lines":
        out = split_by_line(
            src, targets, list(langs), seed, f"Tatoeba {subdir}: {len(src)} aligned lines"
        )
        random.Random(seed).shuffle(out.train)
        return out
    pairs = [Pair(s, targets[lang][i], lang) for i, s in enumerate(src) for lang in langs]
    return split_pairs(
        pairs,
        seed,
        list(langs),
        [f"Tatoeba {subdir}: {len(src)} aligned lines x {len(langs)} languages, seed {seed}"],
    )


@dataclass(frozen=True)
class ScenarioFiles:
    """The aligned files of one of the paper's motivating scenarios (paper-method §12):
    ``tatoeba/<subdir>/{source,lang}<suffix>.txt``."""

    subdir: str
    source: str
    suffix: str


SCENARIO_FILES = {
    "add-language": ScenarioFiles("add_language", "en", "_ua_train_original"),
    "fix-language": ScenarioFiles("fix_language", "et", "_et_train"),
}
SCENARIO_SPLIT_SEED = 19


def _read_aligned(root: Path, source: str, suffix: str, langs: list[str]) -> tuple[list, dict]:
    src = read_lines(root / f"{source}{suffix}.txt", f"the {source} sentences")
    tgt = {}
    for lang in langs:
        lines = read_lines(root / f"{lang}{suffix}.txt", f"the {lang} sentences")
        if len(lines) != len(src):
            raise RnnmodError(f"{root / f'{lang}{suffix}.txt'}: not aligned with the source file")
        tgt[lang] = lines
    return src, tgt


def split_by_line(
    src: list[str], tgt: dict[str, list[str]], langs: list[str], seed: int, what: str
) -> TranslationPairs:
    """Aligned lines split by **line** (``random.Random(seed)`` shuffle, 15 % test, 15 %
    validation): every language's pair of a line lands in the same split, and a training pair
    whose source sentence is also a test or validation sentence (a repeated sentence) is
    dropped, so no held-out source is seen in training. Training pairs stay in line order (the
    caller shuffles)."""
    order = list(range(len(src)))
    random.Random(seed).shuffle(order)
    k = int(0.15 * len(src))
    test_lines, val_lines, train_lines = order[:k], order[k : 2 * k], order[2 * k :]

    def pairs(lines: list[int]) -> list[Pair]:
        return [Pair(src[i], tgt[x][i], x) for i in lines for x in langs]

    held = {src[i] for i in test_lines + val_lines}
    train = [p for p in pairs(train_lines) if p.source not in held]  # in line order
    notes = [
        f"{what} split by line (seed {seed}): {len(train_lines)} train, {k} validation, {k} "
        f"test lines; {len(pairs(train_lines)) - len(train)} training pairs dropped whose "
        "source is a held-out sentence"
    ]
    return TranslationPairs(train, pairs(val_lines), pairs(test_lines), langs, notes)


def scenario_pairs(opts: dict, data_dir: Path | str | None) -> TranslationPairs:
    """Pairs of a scenario model (``data_options`` of its run, ``split`` = ``lines``): the
    scenario's aligned lines split by **line** (seed 19, 15 % test, 15 % validation), so no
    source test sentence is in any model's training pairs whatever its languages;
    ``extra_suffix`` adds every pair of another aligned file set (``extra_langs``) to training. A
    training pair whose source sentence is also a test or validation sentence is dropped."""
    name = opts["scenario"]
    files = SCENARIO_FILES[name]
    root = Path(data_dir or default_data_dir()) / "tatoeba" / files.subdir
    langs = list(opts["langs"])
    src, tgt = _read_aligned(root, files.source, files.suffix, langs)
    base = split_by_line(
        src,
        tgt,
        langs,
        SCENARIO_SPLIT_SEED,
        f"scenario {name}: {len(src)} aligned {files.source} lines",
    )
    train, notes = list(base.train), list(base.notes)
    held = {p.source for p in base.test + base.val}
    extra = opts.get("extra_suffix")
    if extra:
        ex_langs = opts.get("extra_langs", langs)
        esrc, etgt = _read_aligned(root, files.source, extra, ex_langs)
        add = [
            Pair(s, etgt[x][i], x) for i, s in enumerate(esrc) for x in ex_langs if s not in held
        ]
        train += add
        notes.append(
            f"plus {len(add)} pairs of {files.source}{extra}.txt (held-out sources dropped)"
        )
    random.Random(SCENARIO_SPLIT_SEED).shuffle(train)
    return TranslationPairs(train, base.val, base.test, langs, notes)
