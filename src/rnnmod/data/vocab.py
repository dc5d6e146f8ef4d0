"""Token vocabularies, tokenizers and padding — our default and the Keras-compatible legacy mode.

Default: fitted on the training split only; id 0 = padding, 1 = unknown, then words by frequency
(ties in first-seen order). Legacy (paper-method §3.1): Keras ``Tokenizer`` semantics — ids from 1
by frequency with first-seen ties, optional OOV token at id 1, ``num_words`` cap, unknown words
dropped when there is no OOV token.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain

import numpy as np
import torch
from torch import Tensor

from ..errors import RnnmodError

PAD = "<pad>"
UNK = "<unk>"
KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_KERAS_TABLE = str.maketrans({c: " " for c in KERAS_FILTERS})
_CLINC_DROP = str.maketrans({c: "" for c in '!"#$%&()*+-/:;<=>?@[\\]^_`{|}~'})


def keras_text_to_words(text: str) -> list[str]:
    """Keras ``text_to_word_sequence``: lower-case, filter punctuation, split on spaces."""
    return [w for w in text.lower().translate(_KERAS_TABLE).split(" ") if w]


def clinc_clean(text: str) -> str:
    """paper-method §3.4 cleaning: drop URLs and punctuation (keep . , '), digits → spaces."""
    text = re.sub(r"http\S+", "", text).translate(_CLINC_DROP).lower()
    text = re.sub(r"[0-9]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def clinc_tokenize(text: str) -> list[str]:
    from .nltk_import import nltk_module

    word_tokenize = nltk_module("nltk.tokenize").word_tokenize
    return word_tokenize(clinc_clean(text), preserve_line=True)


def clinc_tokenize_nltk381(text: str) -> list[str]:
    """Clinc cleaning + the NLTK 3.8.1 word tokenizer the paper's arrays were built with."""
    from .nltk381 import nltk381_word_tokenize

    return nltk381_word_tokenize(clinc_clean(text))


def whitespace_lower(text: str) -> list[str]:
    return text.lower().split()


# emoticons first (":-)", ";P", "<3", "^_^", ":'("), then words with inner apostrophes, then
# every other non-space character on its own
_EMOTICON = r"(?:[<>]?[:;=8][\-o*']?[)\](\[dDpP/\\|}{@3*]+|<3+|\^_\^|-_-|[oO]_[oO])"
_USER_TOKEN = re.compile(rf"(?P<emo>{_EMOTICON})|\w+(?:['’]\w+)*|[^\w\s]", re.UNICODE)


def words_and_symbols(text: str) -> list[str]:
    """Users' text as tokens: lower-cased words (``don't`` stays one), every punctuation mark
    and symbol on its own, emoticons whole and as written — what a sentiment or intent model
    needs and the Keras filters throw away."""
    return [
        m.group(0) if m.group("emo") else m.group(0).lower() for m in _USER_TOKEN.finditer(text)
    ]


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {
    "keras": keras_text_to_words,
    "words-and-symbols": words_and_symbols,
    "clinc": clinc_tokenize,
    "clinc-nltk3.8.1": clinc_tokenize_nltk381,
    "whitespace": whitespace_lower,
}


#: ``seq_len="auto"``: the 95th percentile of the training texts' token counts, within 5..200
AUTO = "auto"
AUTO_QUANTILE, AUTO_MIN, AUTO_MAX = 0.95, 5, 200


def auto_seq_len(token_lists: Iterable[Sequence[str]]) -> int:
    """The length that reads 95 % of these token lists whole: the nearest-rank 95th percentile
    of their lengths (the smallest L with at least 95 % of them no longer than L), at least
    ``AUTO_MIN`` and at most ``AUTO_MAX``."""
    lens = sorted(len(t) for t in token_lists)
    if not lens:
        return AUTO_MIN
    rank = max(0, math.ceil(AUTO_QUANTILE * len(lens)) - 1)
    return max(AUTO_MIN, min(AUTO_MAX, lens[rank]))


def check_seq_len(seq_len: object) -> int | str | None:
    """``seq_len`` as a loader takes it: None (the task's default), ``"auto"`` or a count ≥ 1
    (a digit string counts); anything else is refused with the reason."""
    if seq_len is None or seq_len == AUTO:
        return seq_len
    if isinstance(seq_len, str) and seq_len.strip().isdigit():
        seq_len = int(seq_len)
    if not isinstance(seq_len, int) or isinstance(seq_len, bool) or seq_len < 1:
        raise RnnmodError(
            f"--seq-len must be a positive number of tokens or 'auto', got {seq_len!r}"
        )
    return seq_len


def resolve_seq_len(seq_len: object, train_tokens: Iterable[Sequence[str]], default: int) -> int:
    """The sequence length a loader pads to: ``default`` (the task's) when None, the
    :func:`auto_seq_len` of the *training* token lists for ``"auto"``, else the number given."""
    seq_len = check_seq_len(seq_len)
    if seq_len is None:
        return default
    if seq_len == AUTO:
        return auto_seq_len(train_tokens)
    return seq_len


def pad_id_rows(
    rows: Sequence[Sequence[int]], seq_len: int, padding: str = "pre", truncating: str = "post"
) -> Tensor:
    """Keras ``pad_sequences`` for ragged id lists, vectorised (one numpy scatter, no row loop)."""
    n = len(rows)
    lens = np.fromiter((min(len(r), seq_len) for r in rows), dtype=np.int64, count=n)
    total = int(lens.sum())
    cut = (
        (r[:seq_len] for r in rows)
        if truncating == "post"
        else (r[len(r) - min(len(r), seq_len) :] for r in rows)
    )
    flat = np.fromiter(chain.from_iterable(cut), dtype=np.int64, count=total)
    row = np.repeat(np.arange(n), lens)
    starts = np.repeat(np.cumsum(lens) - lens, lens)
    col = np.arange(total) - starts
    if padding == "pre":
        col += np.repeat(seq_len - lens, lens)
    out = np.zeros((n, seq_len), dtype=np.int64)
    out[row, col] = flat
    return torch.from_numpy(out)


def tokenize(texts: Iterable[str], tokenizer: str) -> list[list[str]]:
    fn = TOKENIZERS[tokenizer]
    return [fn(t) for t in texts]


@dataclass
class Vocab:
    """Words → ids plus how raw text becomes a fixed-length id row."""

    tokens: list[str]
    tokenizer: str = "keras"
    seq_len: int = 20
    padding: str = "pre"
    truncating: str = "post"
    oov_token: str | None = UNK
    num_words: int | None = None
    lower: bool = True
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index = {w: i for i, w in enumerate(self.tokens) if i > 0}

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def size(self) -> int:
        """Embedding rows needed."""
        return len(self.tokens) if self.num_words is None else min(len(self.tokens), self.num_words)

    @classmethod
    def fit(
        cls,
        token_lists: Iterable[list[str]],
        *,
        oov_token: str | None = UNK,
        max_size: int | None = None,
        lower: bool = True,
        **kw,
    ) -> Vocab:
        flat = chain.from_iterable(token_lists)
        counts = Counter(t.lower() for t in flat) if lower else Counter(flat)
        # Counter preserves first insertion; sorted() is stable → ties keep first-seen order.
        words = [w for w, _ in sorted(counts.items(), key=lambda kv: -kv[1])]
        head = [PAD] + ([oov_token] if oov_token else [])
        words = [w for w in words if w not in head]
        if max_size is not None:
            words = words[: max(0, max_size - len(head))]
        return cls(tokens=head + words, oov_token=oov_token, lower=lower, **kw)

    def id_of(self, token: str) -> int | None:
        """The id of ``token``, or None when the vocabulary does not hold it."""
        return self._index.get(token)

    def ids(self, tokens: list[str]) -> list[int]:
        """Keras ``texts_to_sequences`` for one token list: ids ≥ ``num_words`` and unknown
        words become the OOV id, or are dropped when there is no OOV token."""
        oov = self._index.get(self.oov_token) if self.oov_token else None
        get, limit = self._index.get, self.num_words
        found = [get(t.lower()) for t in tokens] if self.lower else [get(t) for t in tokens]
        if limit is not None:
            found = [None if i is None or i >= limit else i for i in found]
        if oov is None:
            return [i for i in found if i is not None]
        return [oov if i is None else i for i in found]

    def pad(self, rows: list[list[int]]) -> Tensor:
        return pad_id_rows(rows, self.seq_len, self.padding, self.truncating)

    def encode_tokens(self, token_lists: Iterable[list[str]]) -> Tensor:
        return self.pad([self.ids(t) for t in token_lists])

    def encode_texts(self, texts: Iterable[str]) -> Tensor:
        """Raw text → ids exactly as the model was trained (same tokenizer, padding, length)."""
        return self.encode_tokens(tokenize(texts, self.tokenizer))

    def counts(self, texts: Iterable[str]) -> list[tuple[int, int]]:
        """Per text, (tokens, ids) as :meth:`encode_texts` sees it before padding and cutting:
        more ids than ``seq_len`` means its end is not read; no token means the model would
        read padding only."""
        return [(len(t), len(self.ids(t))) for t in tokenize(texts, self.tokenizer)]

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("_index")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        """Rebuild from :meth:`to_dict`; a hand-edited or foreign dict is refused with the reason."""
        if not isinstance(d, dict):
            raise RnnmodError("invalid vocabulary: expected a JSON object")
        kw = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "_index"}
        tokens = kw.get("tokens")
        if (
            not isinstance(tokens, list)
            or not tokens
            or not all(isinstance(t, str) for t in tokens)
        ):
            raise RnnmodError("invalid vocabulary: 'tokens' must be a non-empty list of strings")

        def is_count(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and v >= 1

        checks = {
            "tokenizer": lambda v: isinstance(v, str) and v in TOKENIZERS,
            "seq_len": is_count,
            "padding": lambda v: v in ("pre", "post"),
            "truncating": lambda v: v in ("pre", "post"),
            "oov_token": lambda v: v is None or isinstance(v, str),
            "num_words": lambda v: v is None or is_count(v),
            "lower": lambda v: isinstance(v, bool),
        }
        for name, ok in checks.items():
            if name in kw and not ok(kw[name]):
                raise RnnmodError(f"invalid vocabulary: bad {name!r} ({kw[name]!r})")
        return cls(**kw)
