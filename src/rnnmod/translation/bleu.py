"""BLEU: sacreBLEU corpus BLEU on normalised text (the main number) and the paper's legacy
BLEU-1 (paper-method §8: NLTK ``corpus_bleu`` with weights (1, 0, 0, 0), raw reference vs
normalised hypothesis, both split on whitespace and wrapped in the language's tags)."""

from __future__ import annotations

import math
from collections import Counter

from ..errors import RnnmodError
from .data import end_token, start_token, target_words


def sacre_bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU (0-100) of hypotheses (normalised words joined by spaces) against the
    references normalised the same way: the model emits lower-case words without punctuation,
    so case and punctuation are taken out of the references too."""
    try:
        import sacrebleu
    except ImportError:
        raise RnnmodError(
            "BLEU needs sacrebleu: pip install 'rnnmod[bleu]' (or pip install sacrebleu)"
        ) from None
    refs = [" ".join(target_words(r)) for r in references]
    return float(sacrebleu.corpus_bleu(hypotheses, [refs]).score)


def legacy_bleu1(
    hypotheses: list[str],
    references: list[str],
    lang: str | list[str],
    ended: list[bool] | None = None,
) -> float:
    """The authors' number (0-1): unigram precision with clipping × brevity penalty, over the
    corpus; reference = ``[start<l>] <raw sentence> [end<l>]`` split on whitespace (case and
    punctuation kept), hypothesis = ``[start<l>] <decoded words> [end<l>]``. A perfect
    translation therefore scores below 1, as in the paper. ``ended[i]`` False: decoding ran out
    of steps before the end token, which the hypothesis then lacks."""
    langs = [lang] * len(hypotheses) if isinstance(lang, str) else lang
    ended = ended or [True] * len(hypotheses)
    matched = hyp_len = ref_len = 0
    for hyp, ref, x, e in zip(hypotheses, references, langs, ended, strict=True):
        h = [start_token(x), *hyp.split(), *([end_token(x)] if e else [])]
        r = [start_token(x), *ref.split(), end_token(x)]
        rc = Counter(r)
        matched += sum(min(c, rc[w]) for w, c in Counter(h).items())
        hyp_len += len(h)
        ref_len += len(r)
    if hyp_len == 0 or matched == 0:
        return 0.0
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return bp * matched / hyp_len
