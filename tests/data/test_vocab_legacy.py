"""Vocabulary, padding and the legacy (paper) preprocessing: hand cases and the Clinc numbers."""

import csv
import hashlib
import json

import pytest
import torch

from rnnmod.data import load_task
from rnnmod.data.legacy import keras_vocab, sklearn_split, tfds_order
from rnnmod.data.nltk381 import nltk381_word_tokenize
from rnnmod.data.vocab import Vocab, keras_text_to_words, pad_id_rows


def test_pad_id_rows_pre_pad_post_truncate():
    rows = [[1, 2, 3, 4, 5], [7], [], [8, 9]]
    out = pad_id_rows(rows, 3)
    assert out.tolist() == [[1, 2, 3], [0, 0, 7], [0, 0, 0], [0, 8, 9]]
    assert pad_id_rows(rows, 3, padding="post", truncating="pre").tolist() == [
        [3, 4, 5],
        [7, 0, 0],
        [0, 0, 0],
        [8, 9, 0],
    ]
    assert pad_id_rows([], 4).shape == (0, 4)


def test_keras_vocab_frequency_then_first_seen_and_oov():
    toks = [["b", "a", "c"], ["a", "d", "c"], ["e"]]
    v = keras_vocab(toks, tokenizer="whitespace", seq_len=4)
    assert v.tokens == ["<pad>", "a", "c", "b", "d", "e"]  # a,c twice; b,d,e by first sight
    assert v.ids(["a", "zzz", "e"]) == [1, 5]  # no OOV token: unknown words are dropped
    v = keras_vocab(toks, tokenizer="whitespace", seq_len=4, oov_token="<OOV>", num_words=4)
    assert v.tokens[:3] == ["<pad>", "<OOV>", "a"]
    # ids >= num_words become the OOV id, like Keras texts_to_sequences
    assert v.ids(["a", "c", "b", "zzz"]) == [2, 3, 1, 1]
    assert v.size == 4


def test_keras_text_filters():
    assert keras_text_to_words("Hello, World! it's 3.5%\tok") == [
        "hello",
        "world",
        "it's",
        "3",
        "5",
        "ok",
    ]


def test_nltk381_leading_apostrophe_rule():
    # NLTK >= 3.9 splits "'life" into "'", "life"; 3.8.1 kept it, and split only before a
    # one-letter word.
    assert nltk381_word_tokenize("what is , 'life is good' in french") == [
        "what", "is", ",", "'life", "is", "good", "'", "in", "french",
    ]  # fmt: skip
    assert nltk381_word_tokenize("say 'a word") == ["say", "'", "a", "word"]
    assert nltk381_word_tokenize("what 's up") == ["what", "'s", "up"]


def test_tfds_order_is_md5_of_split_and_index():
    order = tfds_order(50, "train")
    keys = [int(hashlib.md5(f"train{i}".encode()).hexdigest(), 16) for i in order]
    assert keys == sorted(keys) and sorted(order) == list(range(50))
    assert tfds_order(50, "test") != order


def test_sklearn_split_matches_shuffle_split():
    tr, te = sklearn_split(10, 0.25, 4)
    assert len(te) == 3 and len(tr) == 7  # ceil(2.5) test rows
    assert sorted(tr.tolist() + te.tolist()) == list(range(10))


def test_legacy_clinc_has_the_papers_5530_words(clinc_legacy):
    assert len(clinc_legacy.vocab.tokens) - 1 == 5530
    assert clinc_legacy.vocab.size == 5531  # Embedding(5531, 50) as in the authors' models
    assert clinc_legacy.vocab.oov_token is None
    assert clinc_legacy.x_train.shape == (15000, 15) and clinc_legacy.x_test.shape == (4500, 15)
    assert any("legacy" in n and "5530 words" in n for n in clinc_legacy.notes)


def _round_trip(vocab: Vocab, texts, expected):
    again = Vocab.from_dict(vocab.to_dict())
    assert again == vocab
    assert torch.equal(again.encode_texts(texts), expected)


def test_encode_texts_round_trip_clinc_default_and_legacy(data_dir, clinc_default, clinc_legacy):
    with open(data_dir / "clinc_oos" / "train.csv", newline="", encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    _round_trip(clinc_default.vocab, texts[:300], clinc_default.x_train[:300])
    first = tfds_order(len(texts), "train")[:300]
    _round_trip(clinc_legacy.vocab, [texts[i] for i in first], clinc_legacy.x_train[:300])


@pytest.mark.parametrize("legacy", [False, True])
def test_encode_texts_round_trip_mathqa(data_dir, legacy):
    rows = json.loads((data_dir / "mathqa" / "test.json").read_text(encoding="utf-8"))
    d = load_task("mathqa", data_dir, legacy_vocab=legacy)
    encoded = Vocab.from_dict(d.vocab.to_dict()).encode_texts([r["Problem"] for r in rows])
    # every training row is one of the file's rows, encoded identically
    assert set(map(tuple, d.x_train.tolist())) <= set(map(tuple, encoded.tolist()))
    if legacy:
        assert d.vocab.tokens[1] == "<OOV>" and d.vocab.num_words == 5000
        assert int(d.x_train.max()) < 5000
    assert any(("legacy" if legacy else "default") in n for n in d.notes)
