"""A run saved from Python with data of its own (own vocabulary and splits, no named task) works
from the command line: decompose, evaluate, compose, predict, export — no Python needed."""

import json
import shutil

import pytest
import torch

from rnnmod.cli import main
from rnnmod.data import load_task
from rnnmod.interop import save_model_run
from rnnmod.runs import load_run
from tests.helpers import fit_tiny, tiny_data, tiny_model

DECOMPOSE = ["--n-positive", "8", "--min-observations", "1", "--quiet"]


# the zoo's shape, and a user's shape: bidirectional, padding skipped, max pooling, an MLP head
SHAPES = {
    "zoo": {},
    "bi-skipped-max-mlp": {
        "bidirectional": True,
        "padding": "skipped",
        "readout": "max",
        "head_hidden": [6],
    },
}


@pytest.fixture(params=list(SHAPES))
def own_run(tmp_path, request):
    data = tiny_data(n=80)
    data.task = "my-intents"  # no named task gives these ids
    model = fit_tiny(tiny_model("lstm", **SHAPES[request.param]), data, steps=60, lr=0.03)
    run_dir, metrics = save_model_run(tmp_path / "run", model, data)
    return run_dir, data, metrics


def test_the_ids_travel_with_the_run_and_read_back_exactly(own_run):
    run_dir, data, _ = own_run
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["task"] == "ids" and cfg["task_name"] == "my-intents"
    assert cfg["data_options"] == {"file": str(run_dir.resolve() / "data.safetensors")}
    assert cfg["data_files"][0]["path"] == cfg["data_options"]["file"]
    back = load_task("ids", file=cfg["data_options"]["file"])
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(back, name), getattr(data, name))
    assert back.vocab.tokens == data.vocab.tokens and back.label_names == data.label_names
    assert load_run(run_dir).task == "ids"


def test_every_command_works_on_it(own_run, tmp_path, capsys):
    run_dir, data, metrics = own_run
    mods, comp = tmp_path / "mods", tmp_path / "comp"
    assert main(["decompose", str(run_dir), "--out", str(mods), *DECOMPOSE]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(mods), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_test"] == len(data.x_test)
    assert res["monolithic"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert main(["compose", str(mods), "--labels", "c1,c3", "--out", str(comp)]) == 0
    capsys.readouterr()
    assert main(["predict", str(comp), "w1 w4 w2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    capsys.readouterr()
    assert main(["export", str(mods), "--onnx", str(tmp_path / "m.onnx"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exports"][0]["max_abs_diff"] < 1e-4


def test_a_moved_run_says_where_its_data_went(own_run, tmp_path, capsys):
    run_dir, _, _ = own_run
    moved = tmp_path / "elsewhere"
    shutil.move(str(run_dir), moved)
    capsys.readouterr()
    assert main(["decompose", str(moved), "--out", str(tmp_path / "m"), *DECOMPOSE]) == 2
    err = capsys.readouterr().err
    assert "missing data file" in err and "data.safetensors" in err and "\n" == err[-1]


def test_named_task_options_are_refused_for_own_data(tmp_path):
    data = tiny_data()
    data.task = "mine"
    with pytest.raises(Exception, match="data_options apply to named tasks"):
        save_model_run(tmp_path / "r", tiny_model("lstm"), data, data_options={"seq_len": 6})


def test_a_file_that_is_not_an_ids_file_is_refused(tmp_path):
    from rnnmod.errors import RnnmodError
    from rnnmod.storage import write_tensors

    write_tensors(tmp_path / "x.safetensors", {"a": torch.zeros(2)})
    with pytest.raises(RnnmodError, match="not an rnnmod ids file"):
        load_task("ids", file=tmp_path / "x.safetensors")
    with pytest.raises(RnnmodError, match="ids made already"):
        load_task("ids", file=tmp_path / "x.safetensors", seq_len=5)


def test_the_zoo_trains_on_an_ids_file_and_the_run_reloads_it(own_run, tmp_path, capsys):
    run_dir, data, _ = own_run
    ids = str(run_dir / "data.safetensors")
    argv = ["train", "--task", "ids", "--file", ids, "--epochs", "1", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "zoo")]) == 0
    cfg = json.loads((tmp_path / "zoo" / "config.json").read_text())
    assert cfg["task"] == "ids" and cfg["task_name"] == "my-intents"
    assert cfg["data_files"][0]["path"] == str((run_dir / "data.safetensors").resolve())
    assert (
        main(["decompose", str(tmp_path / "zoo"), "--out", str(tmp_path / "zm"), *DECOMPOSE]) == 0
    )
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "bad"), "--seq-len", "5"]) == 2
    assert "ids made already" in capsys.readouterr().err
