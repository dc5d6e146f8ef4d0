"""Loaders keep the raw texts beside the ids (extra["texts_train"/"texts_test"]), aligned, so a
module of another vocabulary can read the same examples: re-encoding gives the loader's ids."""

import pytest
import torch

from rnnmod.data import load_task


def _round_trip(d, every=1):
    for split in ("train", "test"):
        x, texts = getattr(d, f"x_{split}"), d.extra[f"texts_{split}"]
        assert len(texts) == len(x)
        rows = list(range(0, len(x), every))
        assert torch.equal(d.vocab.encode_texts([texts[i] for i in rows]), x[rows])


@pytest.mark.parametrize("task", ["mathqa", "emotions"])
@pytest.mark.parametrize("legacy", [False, True])
def test_small_tasks(data_dir, task, legacy):
    _round_trip(load_task(task, data_dir, legacy_vocab=legacy))


def test_clinc(clinc_default, clinc_legacy):
    _round_trip(clinc_default, every=7)  # the NLTK tokenizer is the slow part
    _round_trip(clinc_legacy, every=7)


def test_brown_words_joined_by_spaces(brown):
    _round_trip(brown, every=3)
    assert brown.extra["texts_test"][0] == brown.extra["texts_test"][0].lower()


def test_limit_train_keeps_texts_aligned(data_dir):
    d = load_task("mathqa", data_dir).limit_train(100, seed=2)
    _round_trip(d)
