"""Translation pairs → vocabularies and id tensors for the encoder–decoder (paper-method §3.6).

Source: our ``keras`` tokenizer (lower-case, ASCII punctuation stripped), post-padded to 20 ids.
Target: the same normalisation (plus ``¿ ¡ « »``), wrapped in ``[start<lang>]`` … ``[end<lang>]``
and post-padded to 21 ids; decoder input = ids[:20], labels = ids[1:21] (Chollet style).
Both vocabularies are fitted on the training pairs (id 0 = padding, 1 = unknown), capped at
``max_vocab`` words each (the authors' TextVectorization cap is 30,000).

``tokenizer="words-and-symbols"`` (``rnnmod train --punctuation keep``) keeps every punctuation
mark as a token of source and target instead: the model reads and writes them, and BLEU scores
them. The vocabularies carry their tokenizer, so a run's data is rebuilt the way it was trained.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from .. import choices
from ..data.cache import cached
from ..data.generic import Pair, TranslationPairs
from ..data.paths import default_data_dir
from ..data.tatoeba import SCENARIO_FILES, load_tatoeba_pairs
from ..data.vocab import KERAS_FILTERS, TOKENIZERS, Vocab
from ..errors import RnnmodError

SRC_LEN = 20
TGT_LEN = 20  # decoder steps; the target row has TGT_LEN + 1 ids
_TARGET_TABLE = str.maketrans({c: " " for c in KERAS_FILTERS + "¿¡«»"})


def start_token(lang: str) -> str:
    return f"[start{lang}]"


def end_token(lang: str) -> str:
    return f"[end{lang}]"


#: how translators tokenise text: the paper's (punctuation stripped) or punctuation kept
PUNCTUATION = dict(zip(choices.PUNCTUATION, ("keras", "words-and-symbols"), strict=True))


def target_words(text: str, tokenizer: str = "keras") -> list[str]:
    """The normalised words of a target sentence (what the model can emit): with the paper's
    ``keras`` tokenizer lower-case words without punctuation (nor ``¿ ¡ « »``); with another,
    that tokenizer's tokens."""
    if tokenizer != "keras":
        return TOKENIZERS[tokenizer](text)
    return [w for w in text.lower().translate(_TARGET_TABLE).split() if w]


def target_tokens(text: str, lang: str, tokenizer: str = "keras") -> list[str]:
    return [start_token(lang), *target_words(text, tokenizer), end_token(lang)]


@dataclass
class TranslationData:
    """Id tensors of one translation task. ``lang`` [N] indexes ``langs`` (one module each)."""

    src_vocab: Vocab
    tgt_vocab: Vocab
    langs: list[str]
    src_train: Tensor
    tgt_train: Tensor  # [N, TGT_LEN + 1]
    lang_train: Tensor
    test: list[Pair]
    val: list[Pair]
    train_pairs: list[Pair]
    notes: list[str] = field(default_factory=list)
    task: str = "tatoeba"

    @property
    def tgt_in(self) -> Tensor:
        return self.tgt_train[:, :-1]

    @property
    def tgt_out(self) -> Tensor:
        return self.tgt_train[:, 1:]

    @property
    def x_train(self) -> Tensor:
        """Source ids of the training pairs (what decomposition observes, with ``tgt_in``)."""
        return self.src_train

    @property
    def y_train(self) -> Tensor:
        """Per-example class (target language), what §6.1 sampling draws from."""
        return self.lang_train

    @property
    def label_names(self) -> list[str]:
        return self.langs


def encode_targets(vocab: Vocab, pairs: list[Pair]) -> Tensor:
    tok = vocab.tokenizer
    return vocab.pad([vocab.ids(target_tokens(p.target, p.lang, tok)) for p in pairs])


def fit_vocabs(
    train: list[Pair], langs: list[str], max_vocab: int, tokenizer: str = "keras"
) -> tuple[Vocab, Vocab]:
    src = Vocab.fit(
        (TOKENIZERS[tokenizer](p.source) for p in train),
        max_size=max_vocab,
        tokenizer=tokenizer,
        seq_len=SRC_LEN,
        padding="post",
        truncating="post",
    )
    specials = [[start_token(x), end_token(x)] for x in langs]  # every language has its tags
    tgt = Vocab.fit(
        [*specials, *(target_tokens(p.target, p.lang, tokenizer) for p in train)],
        max_size=max_vocab,
        tokenizer=tokenizer,
        seq_len=TGT_LEN + 1,
        padding="post",
        truncating="post",
    )
    return src, tgt


def subsample(pairs: list[Pair], n: int | None, seed: int) -> list[Pair]:
    """A seeded random subset of ``n`` pairs in their original order (None: all)."""
    if n is None or n >= len(pairs):
        return pairs
    keep = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))[:n]
    return [pairs[i] for i in keep.sort().values.tolist()]


def build_translation_data(
    pairs: TranslationPairs,
    *,
    max_train: int | None = None,
    max_vocab: int = 30000,
    seed: int = 0,
    vocabs: tuple[Vocab, Vocab] | None = None,
    task: str = "tatoeba",
    tokenizer: str = "keras",
) -> TranslationData:
    """Vocabularies (fitted with ``tokenizer`` on the kept training pairs unless ``vocabs`` is
    given: then theirs) and tensors."""
    train = subsample(pairs.train, max_train, seed)
    if not train:
        raise RnnmodError(f"{task}: no training pairs")
    src_vocab, tgt_vocab = vocabs or fit_vocabs(train, pairs.langs, max_vocab, tokenizer)
    notes = list(pairs.notes)
    if max_train is not None and max_train < len(pairs.train):
        notes.append(
            f"training pairs limited to {max_train} of {len(pairs.train)} (seeded subset, seed {seed})"
        )
    index = {x: i for i, x in enumerate(pairs.langs)}
    return TranslationData(
        src_vocab=src_vocab,
        tgt_vocab=tgt_vocab,
        langs=list(pairs.langs),
        src_train=src_vocab.encode_texts([p.source for p in train]),
        tgt_train=encode_targets(tgt_vocab, train),
        lang_train=torch.tensor([index[p.lang] for p in train], dtype=torch.long),
        test=pairs.test,
        val=pairs.val,
        train_pairs=train,
        notes=notes,
        task=task,
    )


def test_by_language(pairs: list[Pair], langs: list[str], per_lang: int | None) -> list[Pair]:
    """The first ``per_lang`` test pairs of each language (split order; the paper uses 500)."""
    out, count = [], dict.fromkeys(langs, 0)
    for p in pairs:
        if p.lang in count and (per_lang is None or count[p.lang] < per_lang):
            out.append(p)
            count[p.lang] += 1
    return out


def pairs_for(opts: dict, data_dir: Path | str | None) -> TranslationPairs:
    """A run's pairs: its ``data_options`` name the Tatoeba folder, files and languages (or the
    line-level split of a scenario's model)."""
    if "scenario" in opts:
        from ..data.tatoeba import scenario_pairs

        return scenario_pairs(opts, data_dir)
    return load_tatoeba_pairs(
        data_dir or default_data_dir(),
        opts.get("langs", ["fr", "de", "it"]),
        opts.get("split_seed", 19),
        subdir=opts.get("subdir", "main"),
        source=opts.get("source", "en"),
        suffix=opts.get("suffix", "_train"),
        split=opts.get("split", "paper"),  # options naming no split: the paper's
    )


def _source_folder(opts: dict, data_dir: Path | str | None) -> Path:
    root = Path(data_dir or default_data_dir()) / "tatoeba"
    if "scenario" in opts:
        return root / SCENARIO_FILES[opts["scenario"]].subdir
    return root / opts.get("subdir", "main")


def _pairs_json(pairs: list[Pair]) -> list[list[str]]:
    return [[p.source, p.target, p.lang] for p in pairs]


def _encode(data: TranslationData) -> tuple[dict, dict]:
    tensors = {
        "src_train": data.src_train,
        "tgt_train": data.tgt_train,
        "lang_train": data.lang_train,
    }
    content = {
        "vocabs": [data.src_vocab.to_dict(), data.tgt_vocab.to_dict()],
        "langs": data.langs,
        "pairs": {k: _pairs_json(getattr(data, k)) for k in ("test", "val", "train_pairs")},
        "notes": data.notes,
        "task": data.task,
    }
    return tensors, content


def _decode(tensors: dict, content: dict) -> TranslationData:
    pairs = {k: [Pair(*p) for p in v] for k, v in content["pairs"].items()}
    src, tgt = (Vocab.from_dict(v) for v in content["vocabs"])
    return TranslationData(
        src,
        tgt,
        content["langs"],
        tensors["src_train"],
        tensors["tgt_train"],
        tensors["lang_train"],
        pairs["test"],
        pairs["val"],
        pairs["train_pairs"],
        content["notes"],
        content["task"],
    )


def data_for_run(run, data_dir: Path | str | None) -> TranslationData:
    """The data a translation run was trained on (same pairs, subset and vocabularies), through
    the tokenised-data cache."""
    opts = run.config.get("data_options", {})
    vocab_digest = hashlib.sha256(
        json.dumps([run.vocab.to_dict(), run.target_vocab.to_dict()], sort_keys=True).encode()
    ).hexdigest()

    def build() -> TranslationData:
        return build_translation_data(
            pairs_for(opts, data_dir),
            max_train=opts.get("max_train"),
            seed=opts.get("subset_seed", 0),
            vocabs=(run.vocab, run.target_vocab),
            task=run.task,
        )

    key = {"data_options": opts, "vocabularies": vocab_digest, "task": run.task}
    return cached("translation", key, [_source_folder(opts, data_dir)], build, _encode, _decode)


def test_pairs(run, data_dir: Path | str | None, langs: list[str], n: int | None) -> list[Pair]:
    """The first ``n`` test pairs per language of the run's test split."""
    return test_by_language(pairs_for(run.config.get("data_options", {}), data_dir).test, langs, n)
