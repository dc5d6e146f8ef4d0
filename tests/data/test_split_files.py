"""A dataset's own splits (``--train-file``, ``--val-file``, ``--test-file``) for the user-file
tasks, and CoNLL-U tagging files read with the ``conllu`` package."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from rnnmod.cli import main
from rnnmod.composition.evaluate import load_data_for
from rnnmod.data import load_task
from rnnmod.data import tasks as task_module
from rnnmod.data.ud import read_conllu
from rnnmod.errors import RnnmodError
from rnnmod.runs import load_run

WORDS = "alpha beta gamma delta epsilon zeta eta theta".split()


def write_rows(path: Path, n: int, labels=("neg", "pos", "mid"), extra: str = "") -> Path:
    rows = ["text,label"] + [
        f"{labels[i % len(labels)]}word {WORDS[i % 8]} {WORDS[(i * 3) % 8]},{labels[i % len(labels)]}"
        for i in range(n)
    ]
    path.write_text("\n".join(rows) + "\n" + extra, encoding="utf-8")
    return path


@pytest.fixture()
def splits(tmp_path: Path) -> dict[str, Path]:
    return {
        "train": write_rows(tmp_path / "train.csv", 30),
        "val": write_rows(tmp_path / "val.csv", 9, labels=("pos", "neg")),
        "test": write_rows(tmp_path / "test.csv", 12, extra="onlyintest words,mid\n"),
    }


def split_options(splits: dict[str, Path], *keys: str) -> dict[str, str]:
    return {f"{k}_file": str(splits[k]) for k in keys}


# ---------------------------------------------------------------- the loaders


def test_text_classification_reads_the_given_splits(splits):
    d = load_task("text-classification", None, **split_options(splits, "train", "val", "test"))
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (30, 9, 13)
    assert len(d.y_val) == 9 and len(d.extra["texts_val"]) == 9
    assert d.label_names == ["mid", "neg", "pos"]  # sorted, from the training file
    assert d.extra["texts_test"][-1] == "onlyintest words"
    assert "onlyintest" not in d.vocab.tokens  # the vocabulary is the training file's
    assert d.vocab.encode_texts(d.extra["texts_val"]).tolist() == d.x_val.tolist()
    assert [d.label_names[i] for i in d.y_val.tolist()] == ["pos", "neg"] * 4 + ["pos"]
    for k in ("train", "val", "test"):
        assert d.extra[f"{k}_file"] == str(splits[k].resolve())
    assert "file" not in d.extra


def test_val_file_is_optional(splits):
    d = load_task("text-classification", None, **split_options(splits, "train", "test"))
    assert (len(d.x_train), len(d.x_test)) == (30, 13) and d.x_val is None
    assert "texts_val" not in d.extra


SPLIT_ERRORS = [
    (("train",), r"^--train-file needs --test-file: "),
    (("test",), r"^--test-file needs --train-file: "),
    (("val",), r"^--val-file needs --train-file and --test-file: "),
    (("train", "val"), r"^--train-file and --val-file need --test-file: "),
]


@pytest.mark.parametrize(("keys", "message"), SPLIT_ERRORS)
def test_train_and_test_files_go_together(splits, keys, message):
    with pytest.raises(RnnmodError, match=message) as e:
        load_task("text-classification", None, **split_options(splits, *keys))
    assert "\n" not in str(e.value)


def test_file_cannot_be_combined_with_the_splits(splits):
    opts = split_options(splits, "train", "test")
    with pytest.raises(RnnmodError, match=r"^--file cannot be combined with --train-file, --te"):
        load_task("text-classification", None, file=str(splits["train"]), **opts)


@pytest.mark.parametrize("split", ["test", "val"])
def test_a_label_the_training_file_lacks_is_an_error(splits, split):
    with splits[split].open("a", encoding="utf-8") as f:
        f.write("some text,surprise\n")
    opts = split_options(splits, "train", "val", "test")
    with pytest.raises(RnnmodError) as e:
        load_task("text-classification", None, **opts)
    msg = str(e.value)
    assert msg.startswith(f"{splits[split].resolve()}: label 'surprise' does not occur")
    assert "\n" not in msg


def test_a_changed_test_file_invalidates_the_cache(splits, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNMOD_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RNNMOD_NO_CACHE", raising=False)
    opts = split_options(splits, "train", "val", "test")
    first = load_task("text-classification", None, **opts)
    calls = []
    real = task_module.LOADERS["text-classification"]
    monkeypatch.setitem(
        task_module.LOADERS,
        "text-classification",
        lambda *a, **k: calls.append(1) or real(*a, **k),
    )
    again = load_task("text-classification", None, **opts)  # served from the cache
    assert calls == [] and torch.equal(again.x_val, first.x_val)
    with splits["test"].open("a", encoding="utf-8") as f:
        f.write("gamma gamma,neg\n")
    changed = load_task("text-classification", None, **opts)
    assert calls == [1] and len(changed.x_test) == len(first.x_test) + 1
    splits["val"].write_text("text,label\nalpha,pos\n", encoding="utf-8")
    assert len(load_task("text-classification", None, **opts).x_val) == 1 and calls == [1, 1]


# ---------------------------------------------------------------- CoNLL-U

CONLLU = """\
# newdoc id = d1
# sent_id = 1
# text = Vámonos al mar.
1-2\tVámonos\t_\t_\t_\t_\t_\t_\t_\t_
1\tVamos\tir\tVERB\tVMM\t_\t0\troot\t_\t_
2\tnos\tnosotros\tPRON\tPP\t_\t1\tobj\t_\t_
3-4\tal\t_\t_\t_\t_\t_\t_\t_\t_
3\ta\ta\tADP\tSP\t_\t5\tcase\t_\t_
4\tel\tel\tDET\tDA\t_\t5\tdet\t_\t_
5\tmar\tmar\tNOUN\tNC\t_\t1\tobl\t_\t_
5.1\tfue\tir\tVERB\tVMI\t_\t_\t_\t1:conj\t_
6\t.\t.\tPUNCT\tFP\t_\t1\tpunct\t_\t_

# sent_id = 2
# text = Mar azul
1\tMar\tmar\tNOUN\tNC\t_\t0\troot\t_\t_
2\tazul\tazul\tADJ\tAQ\t_\t1\tamod\t_\t_

"""


def test_conllu_reads_words_and_upos(tmp_path):
    f = tmp_path / "es.conllu"
    f.write_text(CONLLU, encoding="utf-8")
    assert read_conllu(f) == [
        [
            ("Vamos", "VERB"),
            ("nos", "PRON"),
            ("a", "ADP"),
            ("el", "DET"),
            ("mar", "NOUN"),
            (".", "PUNCT"),
        ],
        [("Mar", "NOUN"), ("azul", "ADJ")],
    ]
    tags = [t for s in read_conllu(f, tag_field="xpos") for _, t in s]
    assert tags == ["VMM", "PP", "SP", "DA", "NC", "FP", "NC", "AQ"]


def test_tagging_loads_conllu_and_label_column_picks_xpos(tmp_path):
    f = tmp_path / "es.conllu"
    f.write_text(CONLLU * 6, encoding="utf-8")
    upos = load_task("tagging", None, file=str(f), seq_len=8)
    assert set(upos.label_names) == {"<pad>", "VERB", "PRON", "ADP", "DET", "NOUN", "PUNCT", "ADJ"}
    assert "vámonos" not in upos.vocab.tokens and "vamos" in upos.vocab.tokens
    assert upos.label_names[1] == "NOUN"  # the most frequent tag first
    xpos = load_task("tagging", None, file=str(f), seq_len=8, label_column="xpos")
    assert set(xpos.label_names) == {"<pad>", "VMM", "PP", "SP", "DA", "NC", "FP", "AQ"}
    with pytest.raises(RnnmodError, match=r"--label-column for a \.conllu file is one of upos"):
        load_task("tagging", None, file=str(f), label_column="3")


def test_a_malformed_conllu_file_names_file_and_line(tmp_path):
    f = tmp_path / "bad.conllu"
    lines = CONLLU.splitlines()
    lines[16] = "x2\tazul\tazul\tADJ\tAQ\t_\t1\tamod\t_\t_"  # sentence 2's second word
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RnnmodError) as e:
        read_conllu(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}:17: not valid CoNLL-U (") and "x2" in msg and "\n" not in msg
    lines[16] = "2\tazul\tazul\t_\tAQ\t_\t1\tamod\t_\t_"  # no UPOS
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RnnmodError, match=rf"^{f}:17: no UPOS for word 2"):
        read_conllu(f)


def test_other_tagging_files_keep_the_conll_reader(tmp_path):
    f = tmp_path / "t.conll"
    f.write_text("# a comment\nThe DT\ncat NN\n\nA DT\ndog NN\n\n" * 4, encoding="utf-8")
    d = load_task("tagging", None, file=str(f), seq_len=5)
    assert set(d.label_names) == {"<pad>", "DT", "NN"}


def test_tagging_reads_the_given_conllu_splits(tmp_path):
    sents = CONLLU.split("\n\n")
    (tmp_path / "train.conllu").write_text(CONLLU * 4, encoding="utf-8")
    (tmp_path / "dev.conllu").write_text(sents[1], encoding="utf-8")
    (tmp_path / "test.conllu").write_text(sents[0] + "\n\n" + sents[1], encoding="utf-8")
    opts = {
        f"{k}_file": str(tmp_path / f"{k if k != 'val' else 'dev'}.conllu")
        for k in ("train", "val", "test")
    }
    d = load_task("tagging", None, seq_len=8, **opts)
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (8, 1, 2)
    assert d.extra["texts_val"] == ["mar azul"] and d.y_val.shape == (1, 8)
    bad = sents[1].replace("ADJ", "INTJ")
    (tmp_path / "test.conllu").write_text(bad, encoding="utf-8")
    with pytest.raises(RnnmodError, match=r"test\.conllu: label 'INTJ' does not occur"):
        load_task("tagging", None, seq_len=8, **opts)


# ---------------------------------------------------------------- the command line


def test_train_records_the_split_files_and_evaluate_finds_them(
    splits, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(splits["train"].parent)
    argv = ["train", "--task", "text-classification", "--epochs", "1", "--quiet"]
    argv += ["--train-file", "train.csv", "--val-file", "val.csv", "--test-file", "test.csv"]
    assert main([*argv, "--out", "run"]) == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    records = cfg["data_files"]
    assert [r["path"] for r in records] == [
        str(splits[k].resolve()) for k in ("train", "val", "test")
    ]
    for r in records:
        assert r["sha256"] == hashlib.sha256(Path(r["path"]).read_bytes()).hexdigest()
    for k in ("train", "val", "test"):
        assert cfg["data_options"][f"{k}_file"] == str(splits[k].resolve())
    assert "file" not in cfg["data_options"]
    decompose = ["--n-positive", "5", "--min-observations", "1", "--quiet"]
    assert main(["decompose", "run", "--out", "mods", *decompose]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "mods"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_test"] == 13 and res["n_modules"] == 3
    reloaded = load_data_for(load_run(tmp_path / "run"), None)  # what decompose --budget reads
    assert len(reloaded.x_val) == 9 and len(reloaded.x_train) == 30


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--train-file", "train.csv"], "rnnmod: error: --train-file needs --test-file"),
        (["--test-file", "test.csv"], "rnnmod: error: --test-file needs --train-file"),
        (
            ["--file", "train.csv", "--train-file", "train.csv", "--test-file", "test.csv"],
            "rnnmod: error: --file cannot be combined with --train-file, --test-file",
        ),
    ],
)
def test_train_refuses_a_bad_mix_in_one_line(splits, monkeypatch, capsys, extra, message):
    monkeypatch.chdir(splits["train"].parent)
    argv = ["train", "--task", "text-classification", "--epochs", "1", "--quiet"]
    assert main([*argv, *extra, "--out", "run"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err
    assert not Path("run").exists()


def test_split_files_do_not_apply_to_the_paper_tasks(capsys, tmp_path):
    argv = ["train", "--task", "clinc", "--train-file", "x.csv", "--out", str(tmp_path / "r")]
    assert main(argv) != 0
    assert "--train-file does not apply to --task clinc" in capsys.readouterr().err
