"""Reproducing the paper's preprocessing bit for bit (``--legacy-vocab``).

The authors' id arrays depend on three things our default pipeline deliberately does not copy
(see ``shared/docs/legacy-preprocessing.md``): the example order of TensorFlow Datasets, the
tokenizer of NLTK 3.8.1, and Keras ``Tokenizer`` fitted on train *and* test. This module holds
exactly those three pieces so a loader can switch them on with ``legacy_vocab=True``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from itertools import chain

import numpy as np
import torch
from torch import Tensor

from .vocab import PAD, Vocab

KERAS_OOV = "<OOV>"


def tfds_order(n: int, split: str) -> list[int]:
    """Row order in which TFDS (2020-2023 builders) served a split whose keys are row indices.

    Examples are written sorted by the 128-bit integer of ``md5(split_name + str(key))``.
    """
    return sorted(range(n), key=lambda i: int(hashlib.md5(f"{split}{i}".encode()).hexdigest(), 16))


def keras_vocab(
    token_lists: Iterable[list[str]],
    *,
    tokenizer: str,
    seq_len: int,
    oov_token: str | None = None,
    num_words: int | None = None,
    lower: bool = True,
) -> Vocab:
    """Keras ``Tokenizer.fit_on_texts`` over ``token_lists`` in the order given.

    Frequency order with first-seen ties, ids from 1, the OOV token (if any) at id 1; the
    full word index is kept and ``num_words`` is applied at encoding time, as Keras does.
    """
    flat = chain.from_iterable(token_lists)
    counts = Counter(t.lower() for t in flat) if lower else Counter(flat)
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: -kv[1])]
    head = [PAD] + ([oov_token] if oov_token else [])
    return Vocab(
        tokens=head + words,
        tokenizer=tokenizer,
        seq_len=seq_len,
        oov_token=oov_token,
        num_words=num_words,
        lower=lower,
    )


def sklearn_split(n: int, test_size: float, random_state: int) -> tuple[Tensor, Tensor]:
    """Indices of ``sklearn.model_selection.train_test_split(..., random_state=s)`` (unsorted).

    ShuffleSplit draws one ``RandomState(s).permutation(n)``; the first ceil(test_size·n)
    indices are the test set, the next ones the train set, both in permutation order.
    """
    perm = np.random.RandomState(random_state).permutation(n)
    n_test = int(np.ceil(test_size * n))
    return torch.from_numpy(perm[n_test:].copy()), torch.from_numpy(perm[:n_test].copy())
