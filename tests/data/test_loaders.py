"""Shapes, labels and notes of every loader; the 1:N label-sequence code on hand examples;
user-file tasks and error messages on tiny synthetic files."""

import csv

import pytest
import torch

from rnnmod.data import LOADERS, label_sequences, load_task, load_tatoeba_pairs
from rnnmod.data.generic import load_translation_pairs, read_conll
from rnnmod.errors import RnnmodError

# ---------------------------------------------------------------- label sequences (§3.3)


def test_label_sequences_hand_examples():
    pos = torch.tensor(
        [
            [1, 0, 1, 0, 0, 0],  # toxic + obscene
            [0, 0, 0, 0, 0, 0],  # clean
            [0, 0, 0, 0, 0, 1],  # identity_hate
            [1, 1, 1, 1, 1, 1],
        ]
    )
    assert label_sequences(pos).tolist() == [
        [0, 0, 0, 0, 2, 4],
        [0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 7],
        [2, 3, 4, 5, 6, 7],
    ]
    # shorter lists are pre-padded to the requested T_out, also beyond the number of labels
    assert label_sequences(pos[:3, :3], out_steps=4).tolist() == [
        [0, 0, 2, 4],
        [0, 0, 0, 1],
        [0, 0, 0, 1],
    ]
    assert label_sequences(torch.zeros(2, 3, dtype=torch.long)).tolist() == [[1], [1]]
    with pytest.raises(ValueError):
        label_sequences(pos, out_steps=2)


# ---------------------------------------------------------------- shared datasets


def test_registry_has_every_trainable_task():
    assert {
        "mathqa",
        "emotions",
        "toxic",
        "clinc",
        "brown",
        "text-classification",
        "tagging",
    } <= set(LOADERS)
    assert "tatoeba" not in LOADERS


def test_mathqa(data_dir):
    d = load_task("mathqa", data_dir)
    assert d.io_type == "1:1" and d.n_classes == 6 and d.pad_label is None
    assert d.x_train.shape == (2389, 20) and d.x_test.shape == (596, 20)
    assert d.y_train.shape == (2389,) and d.vocab.size <= 5000
    assert any("PARTIAL" in n for n in d.notes)


def test_clinc_default(clinc_default):
    d = clinc_default
    assert d.io_type == "M:1" and d.n_classes == 10
    assert d.x_train.shape == (15000, 15) and d.x_test.shape == (4500, 15)
    assert torch.bincount(d.y_train).tolist() == [1500] * 10
    assert d.vocab.tokens[:2] == ["<pad>", "<unk>"]


def test_emotions(data_dir):
    d = load_task("emotions", data_dir)
    assert d.io_type == "1:N" and d.pad_label == 0 and d.out_steps == 6
    assert d.label_names[:3] == ["<pad>", "none", "anger"] and d.n_classes == 13
    assert d.x_train.shape == (6838, 20) and d.y_train.shape == (6838, 6)
    assert d.x_test.shape == (886, 20) and d.y_test.shape == (886, 6)
    assert d.vocab.size == 2000
    # first training tweet: anticipation, optimism, trust
    assert d.y_train[0].tolist() == [0, 0, 0, 3, 8, 12]
    assert (d.y_train[:, -1] > 0).all()  # every example has at least one label
    assert any("SUBSTITUTE for the Jigsaw toxic comments" in n for n in d.notes)


def test_brown(brown):
    d = brown
    assert d.io_type == "M:N" and d.pad_label == 0 and d.out_steps == 15
    assert d.label_names[0] == "<pad>" and d.n_classes == 13
    assert set(d.label_names[1:]) == {
        "NOUN", "VERB", ".", "ADP", "DET", "ADJ", "ADV", "PRON", "CONJ", "PRT", "NUM", "X",
    }  # fmt: skip
    assert d.label_names[1] == "NOUN"  # ids by frequency
    assert len(d.x_train) + len(d.x_test) == 57340 and len(d.x_test) == 14335
    assert d.x_train.shape[1] == d.y_train.shape[1] == 15
    # words and tags stay aligned: padding positions coincide
    assert torch.equal(d.x_train == 0, d.y_train == 0)


def test_brown_reader_matches_nltk(data_dir, monkeypatch):
    import nltk
    from nltk.corpus.reader import CategorizedTaggedCorpusReader

    from rnnmod.data.brown import read_brown

    root = (data_dir / "brown" / "nltk_data").resolve()
    monkeypatch.setattr(nltk.data, "path", [str(root), *nltk.data.path])
    corpus = nltk.data.find("corpora/brown.zip/brown/")
    reader = CategorizedTaggedCorpusReader(
        corpus, r"c[a-z]\d\d", cat_file="cats.txt", tagset="brown", encoding="ascii"
    )
    files = ["ca01", "cj17", "cr09"]
    ref = [list(s) for s in reader.tagged_sents(fileids=files, tagset="universal")]
    assert read_brown(root, files) == ref


def test_brown_legacy_vocabulary(data_dir):
    d = load_task("brown", data_dir, legacy_vocab=True)
    assert len(d.vocab.tokens) - 1 == 49815  # unique lower-cased Brown words
    assert d.vocab.oov_token is None and len(d.x_test) == 14335


def test_tatoeba_pairs(data_dir):
    p = load_tatoeba_pairs(data_dir, ["fr", "de", "it"], seed=19)
    n = 50744 * 3
    assert len(p.val) == len(p.test) == int(0.15 * n)
    assert len(p.train) + len(p.val) + len(p.test) == n
    assert {x.lang for x in p.test} == {"fr", "de", "it"}
    assert p.train[0].decoder_text.startswith(f"[start{p.train[0].lang}] ")
    again = load_tatoeba_pairs(data_dir, ["fr", "de", "it"], seed=19)
    assert again.train[:5] == p.train[:5]
    assert load_tatoeba_pairs(data_dir, ["de"], seed=89).langs == ["de"]


# ---------------------------------------------------------------- toxic (synthetic Jigsaw CSV)

TOXIC_HEADER = [
    "id",
    "comment_text",
    "toxic",
    "severe_toxic",
    "obscene",
    "threat",
    "insult",
    "identity_hate",
]


def _write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _toxic_rows(n, start=0):
    rows = []
    for i in range(start, start + n):
        labels = [int(i % 3 == 0), 0, int(i % 5 == 0), 0, int(i % 3 == 0 and i % 2 == 0), 0]
        rows.append([f"id{i}", f'comment number {i}, "quoted"\nsecond line {i % 7}', *labels])
    return rows


def test_toxic_official_split(tmp_path):
    _write_csv(tmp_path / "toxic" / "train.csv", TOXIC_HEADER, _toxic_rows(40))
    test_rows = _toxic_rows(10, start=100)
    _write_csv(tmp_path / "toxic" / "test.csv", ["id", "comment_text"], [r[:2] for r in test_rows])
    labels = [[r[0], *r[2:]] for r in test_rows]
    labels[0][1:] = [-1] * 6  # unlabelled test rows are dropped
    _write_csv(tmp_path / "toxic" / "test_labels.csv", ["id", *TOXIC_HEADER[2:]], labels)
    d = load_task("toxic", tmp_path)
    assert d.io_type == "1:N" and d.label_names[:2] == ["<pad>", "clean"] and d.n_classes == 8
    assert len(d.x_train) == 40 and len(d.x_test) == 9
    assert d.out_steps == 3  # toxic + obscene + insult on i = 0, 30
    assert d.y_train[0].tolist() == [2, 4, 6] and d.y_train[1].tolist() == [0, 0, 1]
    assert any("official Kaggle split" in n for n in d.notes)


def test_toxic_train_only_is_resplit(tmp_path):
    _write_csv(tmp_path / "toxic" / "train.csv", TOXIC_HEADER, _toxic_rows(50))
    d = load_task("toxic", tmp_path, legacy_vocab=True)
    assert len(d.x_train) == 40 and len(d.x_test) == 10
    assert d.vocab.tokens[1] == "<OOV>"
    assert any("re-split" in n for n in d.notes)


def test_toxic_wrong_columns(tmp_path):
    _write_csv(tmp_path / "toxic" / "train.csv", ["id", "text", "toxic"], [["a", "b", 0]])
    with pytest.raises(RnnmodError, match=r"toxic/train\.csv: missing column\(s\) comment_text"):
        load_task("toxic", tmp_path)


# ---------------------------------------------------------------- user files


def test_text_classification_csv_and_tsv(tmp_path):
    rows = [
        [f"text {i} about {'cats' if i % 3 else 'dogs'}", ["b", "a", "c"][i % 3]] for i in range(60)
    ]
    _write_csv(tmp_path / "u.csv", ["sentence", "tag"], rows)
    d = load_task(
        "text-classification",
        tmp_path,
        file=str(tmp_path / "u.csv"),
        text_column="sentence",
        label_column="tag",
    )
    assert d.io_type == "M:1" and d.label_names == ["a", "b", "c"]
    assert len(d.x_train) == 48 and len(d.x_test) == 12
    assert torch.bincount(d.y_test).tolist() == [4, 4, 4]  # stratified
    (tmp_path / "u.tsv").write_text(
        "text\tlabel\n" + "".join(f"x{i} y\t{i % 2 * 10}\n" for i in range(20))
    )
    d = load_task("text-classification", None, file=str(tmp_path / "u.tsv"))
    assert d.label_names == ["0", "10"]


def test_text_classification_errors(tmp_path):
    _write_csv(tmp_path / "u.csv", ["sentence", "tag"], [["a", "x"], ["b", "y"]])
    with pytest.raises(
        RnnmodError, match=r"u\.csv: missing column\(s\) text, label \(has: sentence, tag\)"
    ):
        load_task("text-classification", tmp_path, file=str(tmp_path / "u.csv"))
    with pytest.raises(RnnmodError, match=r"missing data file .*nope\.csv"):
        load_task("text-classification", tmp_path, file=str(tmp_path / "nope.csv"))
    with pytest.raises(RnnmodError, match="--file"):
        load_task("text-classification", tmp_path)


CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def test_tagging_conll(tmp_path):
    path = tmp_path / "train.conll"
    path.write_text(CONLL * 4)
    assert read_conll(path, 0, 1)[0] == [
        ("EU", "NNP"),
        ("rejects", "VBZ"),
        ("German", "JJ"),
        ("call", "NN"),
        (".", "."),
    ]
    d = load_task("tagging", tmp_path, file="train.conll")  # relative to the data directory
    assert d.io_type == "M:N" and d.pad_label == 0 and d.label_names[0] == "<pad>"
    assert d.label_names[1] == "O" and len(d.x_train) + len(d.x_test) == 8
    assert torch.equal(d.x_train == 0, d.y_train == 0)
    d = load_task("tagging", tmp_path, file=str(path), label_column="1")
    assert d.label_names[1] == "NNP"
    path.write_text("onlyonecolumn\n")
    with pytest.raises(RnnmodError, match=r"train\.conll:1: expected a token column"):
        load_task("tagging", tmp_path, file=str(path), label_column="3")


def test_translation_pairs(tmp_path):
    (tmp_path / "src.txt").write_text("".join(f"hello {i}\n" for i in range(20)))
    (tmp_path / "tgt.txt").write_text("".join(f"bonjour {i}\n" for i in range(20)))
    p = load_translation_pairs(tmp_path / "src.txt", tmp_path / "tgt.txt", "fr", seed=1)
    assert (len(p.train), len(p.val), len(p.test)) == (14, 3, 3)
    assert all(x.source.split()[1] == x.target.split()[1] for x in p.train)
    (tmp_path / "tgt.txt").write_text("one line\n")
    with pytest.raises(RnnmodError, match="aligned line by line"):
        load_translation_pairs(tmp_path / "src.txt", tmp_path / "tgt.txt", "fr")


# ---------------------------------------------------------------- missing / malformed shared files


def test_missing_files_name_the_path(tmp_path):
    for task, rel in [
        ("clinc", "clinc_oos/train.csv"),
        ("mathqa", "mathqa/test.json"),
        ("emotions", "semeval2018_ec/2018-E-c-En-train.txt"),
        ("brown", "brown/nltk_data/corpora/brown.zip"),
        ("toxic", "toxic/train.csv"),
    ]:
        with pytest.raises(RnnmodError, match=f"missing data file .*{rel}: put .*") as e:
            load_task(task, tmp_path)
        assert "\n" not in str(e.value)
    with pytest.raises(RnnmodError, match=r"tatoeba/main/en_train\.txt"):
        load_tatoeba_pairs(tmp_path)
    with pytest.raises(RnnmodError, match="does not exist"):
        load_task("clinc", tmp_path / "nowhere")


def test_malformed_files(tmp_path):
    (tmp_path / "mathqa").mkdir()
    (tmp_path / "mathqa" / "test.json").write_text('[{"Problem": "x", "category": "cooking"}]')
    with pytest.raises(RnnmodError, match=r"mathqa/test\.json: expected a JSON list"):
        load_task("mathqa", tmp_path)
    (tmp_path / "semeval2018_ec").mkdir()
    (tmp_path / "semeval2018_ec" / "2018-E-c-En-train.txt").write_text("ID\tText\tanger\n")
    with pytest.raises(RnnmodError, match=r"2018-E-c-En-train\.txt: unexpected header"):
        load_task("emotions", tmp_path)
    _write_csv(tmp_path / "clinc_oos" / "train.csv", ["text", "intent"], [["hi", 1]])
    with pytest.raises(RnnmodError, match=r"clinc_oos/train\.csv: missing column"):
        load_task("clinc", tmp_path)
    (tmp_path / "brown" / "nltk_data" / "corpora").mkdir(parents=True)
    (tmp_path / "brown" / "nltk_data" / "taggers").mkdir(parents=True)
    (tmp_path / "brown" / "nltk_data" / "corpora" / "brown.zip").write_bytes(b"not a zip")
    (tmp_path / "brown" / "nltk_data" / "taggers" / "universal_tagset.zip").write_bytes(b"no")
    with pytest.raises(RnnmodError, match="cannot read the Brown corpus"):
        load_task("brown", tmp_path)


def test_train_command_takes_the_data_options(tmp_path):
    from rnnmod.cli import main

    rows = [
        [f"{'good fine nice' if i % 2 else 'bad awful poor'} {i}", "pos" if i % 2 else "neg"]
        for i in range(40)
    ]
    _write_csv(tmp_path / "u.csv", ["review", "y"], rows)
    argv = ["train", "--task", "text-classification", "--file", str(tmp_path / "u.csv")]
    argv += ["--text-column", "review", "--label-column", "y", "--epochs", "1", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "vocab.json").is_file()
    assert main(["train", "--task", "tagging", "--out", str(tmp_path / "r2"), "--quiet"]) == 2
