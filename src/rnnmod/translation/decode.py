"""Batched greedy or beam-search translation of raw sentences, by the monolithic model or by per-language
module masks, and BLEU of a test set (paper-method §8, recommended re-implementation)."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from ..data.generic import Pair
from ..data.vocab import UNK, Vocab, tokenize
from ..errors import RnnmodError
from ..nn.seq2seq import LENGTH_PENALTY, Seq2Seq
from .bleu import legacy_bleu1, sacre_bleu
from .data import PUNCTUATION, end_token, start_token

DECODE_BATCH = 512


@dataclass
class Route:
    """What translates into one language: a model, its vocabularies, and the decoder masks of
    that language's module (per decoder layer [1 or T, H], bool), or None for the whole model."""

    model: Seq2Seq
    src_vocab: Vocab
    tgt_vocab: Vocab
    masks: list[Tensor] | None = None


RouteFor = Callable[[str], Route]


@dataclass(frozen=True)
class Decoding:
    """How sentences are decoded: greedily (``beam`` 1) or with a beam of ``beam`` hypotheses
    whose finished scores are normalised by ``length_penalty``; with ``no_unk`` the decoder
    never writes ``<unk>`` and takes its most probable known word instead (a model trained on a
    capped target vocabulary writes ``<unk>`` for the words it lacks, and sacreBLEU's 13a
    tokenizer reads each as three wrong tokens; docs/translation.md measures both)."""

    beam: int = 1
    length_penalty: float = LENGTH_PENALTY
    no_unk: bool = False

    def __post_init__(self) -> None:
        if self.beam < 1:
            raise RnnmodError(f"--beam must be at least 1, got {self.beam}")

    def banned(self, tgt_vocab: Vocab) -> tuple[int, ...]:
        """The target ids this decoding never emits."""
        unk = tgt_vocab.id_of(UNK) if self.no_unk else None
        return () if unk is None else (unk,)

    def record(self) -> dict:
        """What a report says about its decoding."""
        return asdict(self)


GREEDY = Decoding()


@dataclass
class Translation:
    words: list[str]
    ended: bool  # the end token was emitted (else decoding ran out of steps)
    lang: str = ""
    #: the model writes punctuation marks as tokens (``rnnmod train --punctuation keep``)
    punctuated: bool = False

    @property
    def text(self) -> str:
        """The tokens, space-separated (what BLEU scores)."""
        return " ".join(self.words)

    @property
    def sentence(self) -> str:
        """The translation as a reader expects it: punctuation marks attached by the language's
        rules (sacremoses' Moses detokenizer; French keeps a space before ``? ! : ;``), or the
        words as they are when the model writes no punctuation."""
        if not self.punctuated:
            return self.text
        return _detokenizer(self.lang or "en").detokenize(self.words)


@functools.cache
def _detokenizer(lang: str):
    """One Moses detokenizer per language (building one compiles its rules)."""
    from sacremoses import MosesDetokenizer

    return MosesDetokenizer(lang=lang)


def check_lang(lang: str, langs: list[str], what: str = "the model") -> None:
    if lang not in langs:
        raise RnnmodError(f"{what} does not translate into {lang!r}; available: {', '.join(langs)}")


def encode_sources(vocab: Vocab, texts: list[str], warn: bool = False) -> Tensor:
    """Raw sentences → post-padded ids; a sentence longer than the model reads is truncated
    (with a warning on stderr when ``warn``)."""
    if warn:
        for t, words in zip(texts, tokenize(texts, vocab.tokenizer), strict=True):
            n = len(words)
            if n > vocab.seq_len:
                print(
                    f"rnnmod: warning: input of {n} words truncated to {vocab.seq_len}: {t[:40]!r}",
                    file=sys.stderr,
                )
    return vocab.encode_texts(texts)


@torch.no_grad()
def translate_ids(
    model: Seq2Seq,
    tgt_vocab: Vocab,
    src: Tensor,
    lang: str,
    masks: list[Tensor] | None = None,
    batch: int = DECODE_BATCH,
    decoding: Decoding = GREEDY,
) -> list[Translation]:
    """Decode source ids [B, S] into ``lang`` (all rows the same language) as ``decoding``
    says: greedily, or with a beam (:meth:`~rnnmod.nn.seq2seq.Seq2Seq.beam`)."""
    batch = max(1, batch // decoding.beam)
    banned = decoding.banned(tgt_vocab)
    start, end = tgt_vocab.id_of(start_token(lang)), tgt_vocab.id_of(end_token(lang))
    if start is None or end is None:
        raise RnnmodError(f"the target vocabulary has no {start_token(lang)}/{end_token(lang)}")
    out = []
    punctuated = tgt_vocab.tokenizer == PUNCTUATION["keep"]
    for i in range(0, len(src), batch):
        part = src[i : i + batch]
        b = len(part)
        starts = torch.full((b,), start, dtype=torch.long)
        ends = torch.full((b,), end, dtype=torch.long)
        ids = model.beam(
            part,
            starts,
            ends,
            width=decoding.beam,
            unit_masks=masks,
            length_penalty=decoding.length_penalty,
            banned=banned,
        )
        for row in ids.tolist():
            words, ended = [], False
            for t in row:
                if t == end:
                    ended = True
                    break
                if t != 0:
                    words.append(tgt_vocab.tokens[t])
            out.append(Translation(words, ended, lang, punctuated))
    return out


def translate_texts(
    route_for: RouteFor,
    texts: list[str],
    langs: list[str],
    warn: bool = False,
    decoding: Decoding = GREEDY,
) -> list[Translation]:
    """Each sentence into its own language: sentences are grouped by language and each group
    runs through that language's route (its module, or the monolithic model) in batches."""
    result: list[Translation | None] = [None] * len(texts)
    for lang in dict.fromkeys(langs):
        r = route_for(lang)
        rows = [i for i, x in enumerate(langs) if x == lang]
        src = encode_sources(r.src_vocab, [texts[i] for i in rows], warn)
        trs = translate_ids(r.model, r.tgt_vocab, src, lang, r.masks, decoding=decoding)
        for i, tr in zip(rows, trs, strict=True):
            result[i] = tr
    return result  # type: ignore[return-value]


def bleu_report(
    route_for: RouteFor,
    test: list[Pair],
    decoding: Decoding = GREEDY,
    *,
    hypotheses: bool = False,
) -> dict:
    """Per-language sacreBLEU (0-100) and legacy BLEU-1 (0-1) plus their means, and the decoding
    speed (sentences per second), of translations decoded as ``decoding`` says; ``hypotheses`` keeps
    each language's translations, references and BLEU tokenizer (for paired comparisons).
    References are normalised with the language's target vocabulary's tokenizer."""
    t0 = time.perf_counter()
    sources, langs = [p.source for p in test], [p.lang for p in test]
    trs = translate_texts(route_for, sources, langs, decoding=decoding)
    seconds = time.perf_counter() - t0
    per: dict[str, dict] = {}
    for lang in dict.fromkeys(p.lang for p in test):
        idx = [i for i, p in enumerate(test) if p.lang == lang]
        hyps = [trs[i].text for i in idx]
        refs = [test[i].target for i in idx]
        tok = route_for(lang).tgt_vocab.tokenizer
        per[lang] = {
            "bleu": round(sacre_bleu(hyps, refs, tok), 4),
            "bleu1_legacy": round(legacy_bleu1(hyps, refs, lang, [trs[i].ended for i in idx]), 6),
            "n": len(idx),
            **({"hypotheses": hyps, "references": refs, "tokenizer": tok} if hypotheses else {}),
        }
    return {
        "per_language": per,
        "bleu": round(sum(v["bleu"] for v in per.values()) / max(1, len(per)), 4),
        "bleu1_legacy": round(sum(v["bleu1_legacy"] for v in per.values()) / max(1, len(per)), 6),
        **decoding.record(),
        "decode_seconds": round(seconds, 3),
        "sentences_per_second": round(len(test) / max(seconds, 1e-9), 1),
    }
