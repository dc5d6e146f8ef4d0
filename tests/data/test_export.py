"""`rnnmod data export`: a split as the labelled CSV that compose --calibrate and evaluate
--labelled read, aligned with what the model reads."""

import csv

import pytest

from rnnmod.cli import main
from rnnmod.composition.compose import tag_targets
from rnnmod.data.base import seeded_subset
from rnnmod.data.export import labelled_rows
from rnnmod.errors import RnnmodError


def test_tagger_rows_are_the_tokens_the_model_reads(brown):
    header, rows = labelled_rows(brown, "train", limit=50, seed=3)
    keep = seeded_subset(len(brown.x_train), 50, 3)
    assert header == ["text", "tags"] and len(rows) == 50
    texts = [t for t, _ in rows]
    # the exported text encodes to the very ids the model was trained on, tags line up with y
    assert brown.vocab.encode_texts(texts).equal(brown.x_train[keep])
    y = tag_targets(brown_run(brown), texts, [g.split() for _, g in rows], brown.label_names)
    # positions in label_names (which start with the padding class) are label ids; −1 = padding
    assert y.clamp_min(0).equal(brown.y_train[keep])


def brown_run(data):
    class Run:  # tag_targets reads only the vocabulary
        vocab = data.vocab

    return Run()


def test_one_output_rows_and_the_command(clinc_default, data_dir, tmp_path, capsys):
    header, rows = labelled_rows(clinc_default, "test", limit=4)
    keep = seeded_subset(len(clinc_default.x_test), 4).tolist()
    assert header == ["text", "label"]
    assert rows == [
        (clinc_default.extra["texts_test"][i], clinc_default.label_names[clinc_default.y_test[i]])
        for i in keep
    ]
    out = tmp_path / "clinc.csv"
    args = [
        "data",
        "export",
        "clinc",
        "--limit",
        "4",
        "--out",
        str(out),
        "--data-dir",
        str(data_dir),
    ]
    assert main(args) == 0
    assert "4 clinc test examples (text, label)" in capsys.readouterr().out
    with open(out, newline="") as fh:
        assert [(r["text"], r["label"]) for r in csv.DictReader(fh)] == rows


def test_one_to_many_tasks_have_nothing_to_export(data_dir):
    from tests.helpers import tiny_data

    with pytest.raises(RnnmodError, match="1:N task"):
        labelled_rows(tiny_data("1:N"), "test")


def test_validation_split_where_the_task_has_one(clinc_default, brown):
    header, rows = labelled_rows(clinc_default, "val", limit=5)
    keep = seeded_subset(len(clinc_default.x_val), 5)
    assert clinc_default.vocab.encode_texts([t for t, _ in rows]).equal(clinc_default.x_val[keep])
    assert [lab for _, lab in rows] == [
        clinc_default.label_names[y] for y in clinc_default.y_val[keep]
    ]
    with pytest.raises(RnnmodError, match="no validation split"):
        labelled_rows(brown, "val")
