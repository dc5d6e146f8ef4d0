"""BLEU: sacreBLEU corpus BLEU on normalised text (the main number) and the paper's legacy
BLEU-1 (paper-method §8: NLTK ``corpus_bleu`` with weights (1, 0, 0, 0), raw reference vs
normalised hypothesis, both split on whitespace and wrapped in the language's tags)."""

from __future__ import annotations

import math
from collections import Counter

from ..errors import RnnmodError
from .data import end_token, start_token, target_words


def sacre_bleu(hypotheses: list[str], references: list[str], tokenizer: str = "keras") -> float:
    """Corpus BLEU (0-100) of hypotheses (the model's tokens joined by spaces) against the
    references normalised the same way (``tokenizer``, the target vocabulary's): the paper's
    model emits lower-case words without punctuation, so case and punctuation are taken out of
    the references too; a ``--punctuation keep`` model's punctuation is scored."""
    try:
        import sacrebleu
    except ImportError:
        raise RnnmodError(
            "BLEU needs sacrebleu: pip install 'rnnmod[bleu]' (or pip install sacrebleu)"
        ) from None
    refs = [" ".join(target_words(r, tokenizer)) for r in references]
    # force: both sides are tokenised alike on purpose (sacreBLEU warns of tokenised input)
    return float(sacrebleu.corpus_bleu(hypotheses, [refs], force=True).score)


def paired_bootstrap(
    baseline: list[str],
    system: list[str],
    references: list[str],
    n_samples: int = 1000,
    seed: int = 12345,
    tokenizer: str = "keras",
) -> dict:
    """BLEU(system) − BLEU(baseline) on the same test sentences and its 95 % confidence
    interval by paired bootstrap resampling (Koehn 2004: both systems scored on the same
    resampled sentences), on sacreBLEU's sufficient statistics, as ``sacrebleu --paired-bs``
    computes them (same default seed). → ``{"delta", "low", "high", "n_samples"}``"""
    import numpy as np
    from sacrebleu.metrics import BLEU

    refs = [" ".join(target_words(r, tokenizer)) for r in references]
    metric = BLEU(force=True)  # tokenised on purpose, as in sacre_bleu
    # sacreBLEU's own per-sentence statistics and score-from-statistics (its significance
    # module resamples them the same way)
    stats = [
        np.array(metric._extract_corpus_statistics(h, [refs]), dtype=np.float64)
        for h in (baseline, system)
    ]
    idx = np.random.default_rng(seed).integers(0, len(refs), size=(n_samples, len(refs)))

    def score(st: np.ndarray) -> float:
        return float(metric._compute_score_from_stats(st.tolist()).score)

    a, b = stats
    deltas = np.array([score(b[i].sum(0)) - score(a[i].sum(0)) for i in idx])
    low, high = np.percentile(deltas, [2.5, 97.5])
    return {
        "delta": score(b.sum(0)) - score(a.sum(0)),
        "low": float(low),
        "high": float(high),
        "n_samples": n_samples,
    }


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
