"""``rnnmod`` on users' own data: model options that work for every classifier task or are
refused, ``--seq-len N|auto``, ``--limit`` before the vocabulary, data files recorded by
absolute path and sha256, predict's truncation report, ``--labels`` items, closed pipes."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from rnnmod.cli import main
from tests.data.test_user_data import write_csv

DECOMPOSE = ["--n-positive", "8", "--min-observations", "1", "--quiet"]


def config_of(run):
    return json.loads((run / "config.json").read_text())


def vocab_of(run):
    return json.loads((run / "vocab.json").read_text())["source"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained with a relative --file, every model option set and --seq-len 6, and its
    module set."""
    root = tmp_path_factory.mktemp("user")
    write_csv(root / "u.csv", long_every=5)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        argv = ["train", "--task", "text-classification", "--file", "u.csv", "--epochs", "1"]
        argv += ["--hidden", "12", "--embed-dim", "7", "--max-vocab", "9", "--seq-len", "6"]
        assert main([*argv, "--out", "run", "--quiet"]) == 0
        assert main(["decompose", "run", "--out", "mods", *DECOMPOSE]) == 0
    finally:
        os.chdir(cwd)
    return root


def test_model_options_reach_the_model_and_config(trained):
    cfg = config_of(trained / "run")
    assert cfg["model"]["hidden"] == 12 and cfg["model"]["embed_dim"] == 7
    assert cfg["model"]["seq_len"] == 6 and cfg["seq_len"] == 6
    assert cfg["model"]["vocab_size"] <= 9
    assert len(vocab_of(trained / "run")["tokens"]) <= 9
    opts = cfg["data_options"]
    assert opts["max_vocab"] == 9 and opts["seq_len"] == 6 and cfg["seq_len_option"] == 6
    path = str((trained / "u.csv").resolve())
    assert opts["file"] == path  # the relative --file, resolved at train time
    sha = hashlib.sha256((trained / "u.csv").read_bytes()).hexdigest()
    assert cfg["data_files"] == [{"path": path, "sha256": sha}]


def test_seq_len_auto_is_resolved_and_recorded(tmp_path, capsys):
    f = write_csv(tmp_path / "u.csv", long_every=30)
    base = ["train", "--task", "text-classification", "--file", str(f), "--epochs", "1", "--quiet"]
    for extra, run in (([], "default"), (["--seq-len", "auto"], "auto")):
        assert main([*base, *extra, "--out", str(tmp_path / run)]) == 0
        cfg = config_of(tmp_path / run)
        assert cfg["seq_len_option"] == "auto"  # the user tasks' default
        n = cfg["seq_len"]
        assert 5 <= n < 40 and cfg["model"]["seq_len"] == n == cfg["data_options"]["seq_len"]
        assert vocab_of(tmp_path / run)["seq_len"] == n
        assert main(["decompose", str(tmp_path / run), "--out", str(tmp_path / f"{run}-m")]) == 0
    assert config_of(tmp_path / "default")["seq_len"] == config_of(tmp_path / "auto")["seq_len"]


def test_evaluate_finds_the_file_from_another_directory(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # u.csv is not here
    capsys.readouterr()
    assert main(["evaluate", str(trained / "mods"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_modules"] == 3 and 0 <= res["monolithic"] <= 1


def test_limit_keeps_dropped_words_out_of_the_vocabulary(tmp_path, monkeypatch, capsys):
    rows = ["text,label"] + [f"common w{i} u{i},c{i % 2}" for i in range(60)]
    (tmp_path / "u.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--task", "text-classification", "--file", "u.csv", "--limit", "10"]
    assert main([*argv, "--epochs", "1", "--seed", "4", "--out", "run", "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_train"] == 10
    cfg = config_of(tmp_path / "run")
    assert cfg["data_options"]["limit"] == 10 and cfg["data_options"]["limit_seed"] == 4
    words = set(vocab_of(tmp_path / "run")["tokens"][2:])
    assert words and len(words) == 1 + 2 * 10  # "common" and the 10 kept examples' words
    # the run reloads its (limited) data with the same vocabulary
    assert main(["decompose", "run", "--out", "mods", *DECOMPOSE]) == 0
    assert main(["evaluate", "mods", "--json"]) == 0


def test_paper_task_config_unchanged_without_the_new_options(tmp_path, data_dir):
    argv = ["train", "--task", "mathqa", "--epochs", "1", "--batch-size", "512", "--quiet"]
    assert main([*argv, "--data-dir", str(data_dir), "--out", str(tmp_path / "r")]) == 0
    cfg = config_of(tmp_path / "r")
    assert cfg["data_options"] == {} and "seq_len" not in cfg and "data_files" not in cfg
    m = cfg["model"]
    assert (m["seq_len"], m["hidden"], m["embed_dim"], m["vocab_size"]) == (20, 100, 50, 4265)


REFUSED = [
    ("text-classification", ["--langs", "fr"], "--langs"),
    ("tagging", ["--test-per-lang", "5"], "--test-per-lang"),
    ("text-classification", ["--legacy-vocab"], "--legacy-vocab"),
    ("clinc", ["--file", "x.csv"], "--file"),
    ("brown", ["--label-column", "2"], "--label-column"),
    ("tatoeba", ["--init", "torch"], "--init"),
    ("tatoeba", ["--legacy-vocab"], "--legacy-vocab"),
    ("tatoeba", ["--seq-len", "10"], "--seq-len"),
    ("tatoeba", ["--text-column", "a"], "--text-column"),
    ("clinc", ["--legacy-vocab", "--max-vocab", "100"], "--max-vocab"),
    ("tatoeba", ["--head-hidden", "8"], "--head-hidden"),
]


def test_structure_options_reach_the_model_and_the_commands(tmp_path, capsys):
    f = write_csv(tmp_path / "u.csv")
    run, mods = tmp_path / "run", tmp_path / "mods"
    argv = ["train", "--task", "text-classification", "--file", str(f), "--epochs", "1"]
    argv += ["--bidirectional", "--skip-padding", "--readout", "max", "--head-hidden", "6,5"]
    assert main([*argv, "--hidden", "8", "--out", str(run), "--quiet"]) == 0
    m = config_of(run)["model"]
    assert (m["bidirectional"], m["padding"], m["readout"], m["head_hidden"]) == (
        True,
        "skipped",
        "max",
        [6, 5],
    )
    assert main(["decompose", str(run), "--out", str(mods), "--mode", "unrolled", *DECOMPOSE]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(mods), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["structure"] == [
        "bidirectional layers",
        "padding skipped (real lengths)",
        "max pooling",
        "an MLP head",
    ]


def test_a_pooled_readout_for_a_tagger_is_refused(tmp_path, capsys):
    from tests.composition.test_label_metrics import write_iob

    f = write_iob(tmp_path / "tags.conll")
    argv = ["train", "--task", "tagging", "--file", str(f), "--readout", "mean", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    assert "a mean readout needs an M:1 model, not M:N" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_an_unknown_readout_is_refused_by_the_parser(tmp_path, capsys):
    f = write_csv(tmp_path / "u.csv", n=12)
    argv = ["train", "--task", "text-classification", "--file", str(f), "--readout", "wide"]
    with pytest.raises(SystemExit):
        main([*argv, "--out", str(tmp_path / "run")])
    assert "invalid choice: 'wide'" in capsys.readouterr().err


@pytest.mark.parametrize(("task", "extra", "flag"), REFUSED)
def test_options_that_do_not_apply_are_refused(task, extra, flag, tmp_path, capsys):
    f = write_csv(tmp_path / "u.csv", n=12)
    argv = ["train", "--task", task, *extra, "--out", str(tmp_path / "run"), "--quiet"]
    if task in ("text-classification", "tagging") and "--file" not in extra:
        argv += ["--file", str(f)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnmod: error:") and flag in err[0]
    assert not (tmp_path / "run").exists()


def test_predict_reports_truncation(trained, capsys):
    texts = ["alpha beta", "alpha " * 10, "beta gamma delta", "one two three four five six seven"]
    capsys.readouterr()
    assert main(["predict", str(trained / "mods"), *texts, "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["truncated"] == 2
    assert err.strip() == ("rnnmod: warning: 2 of 4 texts were cut to 6 tokens (the model reads 6)")
    assert main(["predict", str(trained / "mods"), *texts]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 4 and "2 of 4 texts were cut" in err
    assert main(["predict", str(trained / "mods"), "alpha beta", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["truncated"] == 0 and err == ""


@pytest.mark.parametrize(
    ("labels", "why"),
    [
        ("c0,,c1", "label 2 of 3 is empty (two commas in a row)"),
        ("c0,c1,", "label 3 of 3 is empty (a trailing comma)"),
        (",c0", "label 1 of 2 is empty (a leading comma)"),
        (" , ", "choose at least two labels to compose"),
        ("1:,c1", "names module set 1 but no label"),
    ],
)
def test_compose_refuses_empty_labels(trained, labels, why, tmp_path, capsys):
    argv = ["compose", str(trained / "mods"), "--labels", labels, "--out", str(tmp_path / "c")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert why in err and "\n" not in err
    assert not (tmp_path / "c").exists()


def test_closed_pipe_ends_quietly(trained):
    """``rnnmod predict … | head -1`` where head has gone: no traceback, no message."""
    r, w = os.pipe()
    os.close(r)
    texts = ["alpha beta gamma"] * 2000
    try:
        p = subprocess.run(
            [sys.executable, "-m", "rnnmod", "predict", str(trained / "mods"), *texts],
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(w)
    assert p.returncode == 141 and p.stderr == ""


def test_a_changed_data_file_is_reported(tmp_path, capsys):
    f = write_csv(tmp_path / "u.csv", n=60)
    argv = ["train", "--task", "text-classification", "--file", str(f), "--epochs", "1"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert main(["decompose", str(tmp_path / "run"), "--out", str(tmp_path / "m"), *DECOMPOSE]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "m")]) == 0
    assert capsys.readouterr().err == ""
    f.write_bytes(f.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n\r\n"))  # same rows
    assert main(["evaluate", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err.strip()
    assert err == (
        f"rnnmod: warning: {f.resolve()} changed since the model was trained on it "
        "(its sha256 differs)"
    )
