"""``--hold-out``: a seeded slice of the training split kept out of training as the validation
split, for datasets without one; the run reloads the same rows."""

import json

import pytest
import torch

from rnnmod.cli import main
from rnnmod.data.tasks import load_task
from rnnmod.errors import RnnmodError
from rnnmod.kinds import kind_of
from rnnmod.runs import load_run
from tests.data.test_user_data import write_csv
from tests.helpers import tiny_data


def test_hold_out_moves_a_stratified_slice_out_of_training():
    data = tiny_data(n=80, n_classes=4)
    x, y = data.x_train.clone(), data.y_train.clone()
    data.hold_out_val(0.25, seed=3)
    assert len(data.x_val) == 20 and len(data.x_train) == len(x) - 20
    assert torch.bincount(data.y_val).tolist() == [5, 5, 5, 5]  # stratified
    rows = {tuple(r) for r in torch.cat([data.x_train, data.y_train[:, None]], 1).tolist()}
    held = {tuple(r) for r in torch.cat([data.x_val, data.y_val[:, None]], 1).tolist()}
    every = {tuple(r) for r in torch.cat([x, y[:, None]], 1).tolist()}
    assert rows | held == every and "held out as the validation split" in data.notes[-1]
    again = tiny_data(n=80, n_classes=4).hold_out_val(0.25, seed=3)
    assert torch.equal(again.x_val, data.x_val)  # seeded


def test_hold_out_refuses_a_dataset_with_its_own_validation_and_bad_fractions():
    data = tiny_data()
    with pytest.raises(RnnmodError, match="in \\(0, 1\\)"):
        data.hold_out_val(1.0)
    data.x_val, data.y_val = data.x_train[:5], data.y_train[:5]
    with pytest.raises(RnnmodError, match="own validation split"):
        data.hold_out_val(0.1)


def test_train_holds_out_and_the_run_reloads_the_same_rows(tmp_path):
    f = write_csv(tmp_path / "u.csv")
    argv = ["train", "--task", "text-classification", "--file", str(f), "--epochs", "1"]
    argv += ["--hidden", "8", "--hold-out", "0.2", "--seed", "4", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["data_options"]["hold_out"] == 0.2 and cfg["data_options"]["hold_out_seed"] == 4
    run = load_run(tmp_path / "run")
    data = kind_of(run).load_data(run, None)
    plain = load_task("text-classification", None, file=str(f), tokenizer="words-and-symbols")
    assert len(data.x_val) + len(data.x_train) == len(plain.x_train)
    assert run.metrics["n_train"] == len(data.x_train)  # trained without the held-out rows
    assert len(data.extra["texts_val"]) == len(data.x_val)


def test_hold_out_is_refused_for_translators(tmp_path, capsys):
    argv = ["train", "--task", "tatoeba", "--hold-out", "0.1", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "--hold-out does not apply to --task tatoeba" in capsys.readouterr().err
