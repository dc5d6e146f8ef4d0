"""Users' own data as it comes: the sequence length as a choice, vocabulary caps, ``--limit``
before the vocabulary, CoNLL comments vs ``#`` tokens, files recorded by absolute path."""

import csv
import random

import pytest
import torch

from rnnmod.data import load_task
from rnnmod.data.generic import read_conll
from rnnmod.data.vocab import AUTO_MAX, AUTO_MIN, auto_seq_len, tokenize
from rnnmod.errors import RnnmodError

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def write_csv(path, n=120, seed=0, long_every=0):
    """Three labels, texts of 3-12 words; every ``long_every``-th text 40 words long."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(n):
            k = 40 if long_every and i % long_every == 0 else rng.randint(3, 12)
            w.writerow([" ".join([WORDS[i % 3], *rng.choices(WORDS, k=k - 1)]), f"c{i % 3}"])
    return path


# ---------------------------------------------------------------- sequence length


def test_auto_seq_len_is_the_95th_percentile_within_5_and_200():
    assert auto_seq_len([["w"] * n for n in range(1, 101)]) == 95  # nearest rank
    assert auto_seq_len([["w"] * 2] * 50) == AUTO_MIN
    assert auto_seq_len([["w"] * 500] * 3) == AUTO_MAX
    assert auto_seq_len([]) == AUTO_MIN


def test_seq_len_auto_is_fitted_on_the_training_texts(tmp_path):
    f = write_csv(tmp_path / "u.csv", long_every=50)
    auto = load_task("text-classification", None, file=str(f), seq_len="auto")
    toks = tokenize(auto.extra["texts_train"], "keras")
    assert auto.vocab.seq_len == auto_seq_len(toks) == auto.x_train.shape[1]
    assert AUTO_MIN <= auto.vocab.seq_len < 40  # the few 40-word texts do not set the length
    fixed = load_task("text-classification", None, file=str(f), seq_len=7)
    assert fixed.vocab.seq_len == 7 == fixed.x_test.shape[1]
    default = load_task("text-classification", None, file=str(f))
    assert default.vocab.seq_len == 15  # the loader's default stays the task's (old runs)
    for bad in (0, -3, "long", 2.5):
        with pytest.raises(RnnmodError, match="--seq-len must be a positive number"):
            load_task("text-classification", None, file=str(f), seq_len=bad)


def test_paper_task_takes_seq_len_and_max_vocab(data_dir):
    d = load_task("mathqa", data_dir, seq_len="auto", max_vocab=300)
    toks = tokenize(d.extra["texts_train"], "keras")
    assert d.x_train.shape[1] == d.vocab.seq_len == auto_seq_len(toks)
    assert d.vocab.size <= 300 and "capped at 300 ids" in " ".join(d.notes)
    assert load_task("mathqa", data_dir, seq_len=12).x_test.shape[1] == 12


# ---------------------------------------------------------------- vocabulary cap and --limit


def test_max_vocab_caps_the_vocabulary_of_user_tasks(tmp_path):
    f = write_csv(tmp_path / "u.csv")
    d = load_task("text-classification", None, file=str(f), max_vocab=6)
    assert d.vocab.size == 6 and d.vocab.tokens[:2] == ["<pad>", "<unk>"]
    assert int(d.x_train.max()) < 6
    with pytest.raises(RnnmodError, match="--max-vocab must be at least 3"):
        load_task("text-classification", None, file=str(f), max_vocab=2)


def test_limit_applies_before_the_vocabulary(tmp_path):
    rows = [[f"shared word{i} only{i}", f"c{i % 2}"] for i in range(40)]
    f = tmp_path / "u.csv"
    with open(f, "w", newline="") as fh:
        csv.writer(fh).writerows([["text", "label"], *rows])
    full = load_task("text-classification", None, file=str(f))
    lim = load_task("text-classification", None, file=str(f), limit=8, limit_seed=3)
    # the same examples as TaskData.limit_train's seeded subset
    kept = load_task("text-classification", None, file=str(f)).limit_train(8, seed=3)
    assert lim.extra["texts_train"] == kept.extra["texts_train"]
    assert len(lim.x_train) == 8 and torch.equal(lim.y_train, kept.y_train)
    assert lim.extra["texts_test"] == full.extra["texts_test"]
    kept_words = {w for t in lim.extra["texts_train"] for w in t.split()}
    assert set(lim.vocab.tokens[2:]) == kept_words  # no word of a dropped example
    assert len(full.vocab.tokens) > len(lim.vocab.tokens)
    assert any("training set limited to 8 examples" in n for n in lim.notes)


def test_limit_in_a_tagging_loader(tmp_path):
    f = tmp_path / "t.conll"
    f.write_text("".join(f"tok{i} A\nshared B\n\n" for i in range(40)))
    d = load_task("tagging", None, file=str(f), limit=5, limit_seed=1)
    assert len(d.x_train) == 5
    kept = {w for t in d.extra["texts_train"] for w in t.split()}
    assert set(d.vocab.tokens[2:]) == kept


# ---------------------------------------------------------------- CoNLL: comments and # tokens

CONLL_WITH_HASHES = """# newdoc id = tweets
# sent_id = 1
# text = # is a hash
# SYM
is VERB
a DET
hash NOUN

#
# just a comment line
loving VERB
#summer HASHTAG
# SYM
! PUNCT

# sent_id = 3
tag NOUN
#x HASHTAG
"""


def test_conll_hash_tokens_are_data_and_comments_are_not(tmp_path):
    f = tmp_path / "t.conll"
    f.write_text(CONLL_WITH_HASHES)
    sents = read_conll(f)
    # a sentence's first line starting with # is a comment (CoNLL-U); inside it, data
    assert sents == [
        [("is", "VERB"), ("a", "DET"), ("hash", "NOUN")],
        [("loving", "VERB"), ("#summer", "HASHTAG"), ("#", "SYM"), ("!", "PUNCT")],
        [("tag", "NOUN"), ("#x", "HASHTAG")],
    ]


def test_conll_tokens_and_tags_all_survive_the_loader(tmp_path):
    """Planted ``#`` tokens inside sentences and ``# comment`` lines between them: no token
    is lost and every tag reaches the data."""
    lines, tokens, tags = [], 0, set()
    for i in range(24):
        lines.append(f"# sent_id = {i}")
        lines.append("# a free comment")
        sent = [("word", "N"), ("#", "HASH"), (f"#topic{i % 3}", "TAG"), ("end", "V")]
        lines += [f"{w} {t}" for w, t in sent] + [""]
        tokens += len(sent)
        tags |= {t for _, t in sent}
    f = tmp_path / "t.conll"
    f.write_text("\n".join(lines))
    sents = read_conll(f)
    assert sum(len(s) for s in sents) == tokens and len(sents) == 24
    d = load_task("tagging", None, file=str(f))
    assert set(d.label_names[1:]) == tags
    real = int((d.y_train != 0).sum() + (d.y_test != 0).sum())
    assert real == tokens  # every token kept its tag (sentences are shorter than 15 steps)
    hash_id = d.label_names.index("HASH")
    assert int((d.y_train == hash_id).sum() + (d.y_test == hash_id).sum()) == 24


# ---------------------------------------------------------------- files


def test_user_file_is_recorded_absolute(tmp_path, monkeypatch):
    write_csv(tmp_path / "u.csv")
    monkeypatch.chdir(tmp_path)
    d = load_task("text-classification", None, file="u.csv")
    assert d.extra["file"] == str((tmp_path / "u.csv").resolve())
