"""Users' text keeps punctuation and emoticons as tokens by default (text-classification);
the paper's Keras filters stay an option, and old runs (no tokenizer recorded) keep them."""

from __future__ import annotations

import json
from pathlib import Path

from rnnmod.cli import main
from rnnmod.data import load_task
from rnnmod.data.vocab import words_and_symbols


def test_words_and_symbols_keeps_punctuation_and_emoticons():
    assert words_and_symbols("I LOVE it!!! :) don't") == [
        "i",
        "love",
        "it",
        "!",
        "!",
        "!",
        ":)",
        "don't",
    ]
    assert words_and_symbols("sad :( :-( ;P <3") == ["sad", ":(", ":-(", ";P", "<3"]
    assert words_and_symbols("") == []


def write(path: Path) -> Path:
    rows = ["text,label"]
    for i in range(40):
        rows.append(f"great movie {i % 5} :),pos" if i % 2 else f"awful film {i % 5} :(,neg")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_train_records_the_tokenizer_and_emoticons_are_in_the_vocabulary(tmp_path):
    f = write(tmp_path / "s.csv")
    out = tmp_path / "run"
    argv = ["train", "--task", "text-classification", "--file", str(f), "--epochs", "1"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    voc = json.loads((out / "vocab.json").read_text())["source"]
    assert cfg["data_options"]["tokenizer"] == "words-and-symbols"
    assert voc["tokenizer"] == "words-and-symbols" and ":)" in voc["tokens"]
    keras = tmp_path / "keras"
    assert main([*argv, "--out", str(keras), "--quiet", "--tokenizer", "keras"]) == 0
    assert ":)" not in json.loads((keras / "vocab.json").read_text())["source"]["tokens"]


def test_no_tokenizer_recorded_means_the_keras_filters(tmp_path):
    f = write(tmp_path / "s.csv")
    assert load_task("text-classification", None, file=str(f)).vocab.tokenizer == "keras"


def test_the_tokenizer_option_is_refused_where_it_does_not_apply(tmp_path, capsys):
    argv = ["train", "--task", "mathqa", "--tokenizer", "keras", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "--tokenizer does not apply to --task mathqa" in capsys.readouterr().err


def test_evaluate_counts_the_test_texts_it_cuts(tmp_path, capsys):
    f = write(tmp_path / "s.csv")
    run, mods = tmp_path / "run", tmp_path / "mods"
    argv = ["train", "--task", "text-classification", "--file", str(f), "--epochs", "1"]
    assert main([*argv, "--seq-len", "3", "--out", str(run), "--quiet"]) == 0
    assert main(["decompose", str(run), "--out", str(mods), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(mods), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["truncated"] == res["n_test"] > 0  # every text has 4 tokens, the model reads 3
    assert any("longer than the 3 tokens" in n for n in res["notes"])
