"""``rnnmod import-keras`` end to end: the imported run works with decompose and evaluate;
bad files are one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest

from rnnmod.cli import main
from rnnmod.data import load_task
from rnnmod.runs import load_run
from tests.interop.kerasfile import KerasFile

WORDS = {
    "pay": "bill money card bank",
    "trip": "hotel flight train city",
    "eat": "pizza menu food cook",
}


@pytest.fixture
def csv_task(tmp_path):
    rows = ["text,label"]
    for i in range(30):
        for label, words in WORDS.items():
            w = words.split()
            rows.append(f'"{w[i % 4]} {w[(i + 1) % 4]} and {w[(i + 2) % 4]}",{label}')
    path = tmp_path / "intents.csv"
    path.write_text("\n".join(rows) + "\n")
    return path, load_task("text-classification", None, file=str(path))


def keras_for(data, path, rows=None, kind="LSTM"):
    kf = KerasFile(seed=0, scale=0.4)
    kf.embedding(rows or data.vocab.size, 6, data.x_test.shape[1])
    kf.rnn(kind, 8, 6, return_sequences=False, recurrent_activation="hard_sigmoid")
    kf.dense(data.n_classes, 8)
    return kf.save(path)


def test_import_then_decompose_and_evaluate(tmp_path, csv_task, capsys):
    csv, data = csv_task
    h5 = keras_for(data, tmp_path / "m.h5", kind="GRU")
    run = tmp_path / "run"
    args = ["import-keras", str(h5), "--task", "text-classification", "--file", str(csv)]
    assert main([*args, "--out", str(run), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["semantics"] == "keras" and res["io_type"] == "M:1" and res["cell"] == "gru"
    loaded = load_run(run)
    assert loaded.config["semantics"] == "keras"
    assert loaded.config["imported_from"]["gru_reset_after"] is False
    assert loaded.model.cfg.gate_activation == "hard_sigmoid" and not loaded.model.native
    assert json.loads((run / "metrics.json").read_text())["semantics"] == "keras"

    mods = tmp_path / "mods"
    assert main(["decompose", str(run), "--out", str(mods), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(mods), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["monolithic"] == pytest.approx(res["test_accuracy"])

    paper = tmp_path / "paper"
    assert main([*args, "--out", str(paper), "--semantics", "paper"]) == 0
    assert load_run(paper).model.native
    assert main([*args, "--out", str(paper)]) == 2  # exists


def test_bad_inputs_are_one_line_errors(tmp_path, csv_task, capsys):
    csv, data = csv_task
    base = ["--task", "text-classification", "--file", str(csv), "--out", str(tmp_path / "r")]
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x00" * 100)
    big = keras_for(data, tmp_path / "big.h5", rows=data.vocab.size + 5)
    for h5, expect in ((junk, "not a readable HDF5 file"), (big, "fewer than the embedding")):
        capsys.readouterr()
        assert main(["import-keras", str(h5), *base]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("rnnmod: error:") and expect in err and "\n" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_clinc_shaped_model_needs_the_legacy_vocabulary(tmp_path, data_dir, capsys):
    """The authors' Clinc M:1 layout (Embedding 5531×50 → LSTM(100, hard_sigmoid) → Dense 10)."""
    kf = KerasFile(seed=0, scale=0.1)
    kf.embedding(5531, 50, 15)
    kf.rnn("LSTM", 100, 50, return_sequences=False, recurrent_activation="hard_sigmoid")
    kf.dense(10, 100)
    h5 = kf.save(tmp_path / "model1.h5")
    base = ["import-keras", str(h5), "--task", "clinc", "--data-dir", str(data_dir)]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 2
    assert "--legacy-vocab" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main([*base, "--legacy-vocab", "--out", str(out), "--json"]) == 0
    run = load_run(out)
    assert run.config["data_options"] == {"legacy_vocab": True}
    assert run.config["semantics"] == "keras" and run.vocab.size == 5531
