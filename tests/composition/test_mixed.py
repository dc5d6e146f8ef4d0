"""Composing modules of a one-output and a many-output model (rules odds and calibrated), from
the command line: compose, predict, evaluate --labelled."""

import csv
import json

import pytest
import torch

from rnnmod.cli import main
from rnnmod.decomposition import decompose, preset
from rnnmod.modules.store import load_moduleset, save_moduleset
from rnnmod.runs import load_run, save_run
from tests.helpers import tiny_data, tiny_model


def _modset(root, io_type):
    d = tiny_data(io_type, seed=1 if io_type == "M:N" else 0)
    model = tiny_model("gru", 1, io_type, n_classes=d.n_classes)
    cfg = {"task": io_type.replace(":", ""), "io_type": io_type, "pad_label": d.pad_label}
    run = load_run(save_run(root / f"run-{cfg['task']}", model, cfg, d.vocab, d.label_names, {}))
    bank = decompose(run.model, d, preset("default", mode="rolled"), progress=False).bank
    extra = {"task": cfg["task"], "mode": "rolled", "config": {}}
    return save_moduleset(root / f"mods-{cfg['task']}", [(run, bank)], extra), d


def _texts(d, rows):
    return [" ".join(d.vocab.tokens[i] for i in r if i != 0) for r in d.x_test[rows].tolist()]


@pytest.fixture
def two_sets(tmp_path):
    one, d1 = _modset(tmp_path, "M:1")
    many, dn = _modset(tmp_path, "M:N")
    texts = _texts(d1, slice(0, 30)) + _texts(dn, slice(30, 60))
    labels = ["c1"] * 30 + ["c2"] * 30
    f = tmp_path / "labelled.csv"
    with open(f, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels))
    return tmp_path, one, many, f, texts, labels


def test_mixing_io_types_needs_a_text_level_rule(two_sets, capsys):
    root, one, many, _f, _t, _l = two_sets
    args = ["compose", str(one), str(many), "--labels", "1:c1,2:c2", "--out", str(root / "x")]
    assert main(args) == 2
    assert "--calibrate FILE" in capsys.readouterr().err
    assert main([*args, "--rule", "calibrated"]) == 2
    assert "needs labelled texts" in capsys.readouterr().err


def test_odds_rule_picks_the_larger_log_odds(two_sets, capsys):
    root, one, many, _f, texts, _l = two_sets
    out = root / "odds"
    args = ["compose", str(one), str(many), "--labels", "1:c1,2:c2", "--out", str(out)]
    assert main([*args, "--rule", "odds"]) == 0
    ms = load_moduleset(out)
    assert ms.rule == "odds" and sorted(ms.labels) == ["c1", "c2"]
    s = ms.text_log_odds(texts)
    capsys.readouterr()
    assert main(["predict", str(out), *texts[:5], "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["predictions"]
    assert [p["label"] for p in got] == [ms.labels[i] for i in s[:, :5].argmax(0).tolist()]
    assert [p["score"] for p in got] == pytest.approx(s[:, :5].max(0).values.tolist())


def test_calibrated_rule_is_stored_applied_and_evaluated(two_sets, capsys):
    root, one, many, f, texts, labels = two_sets
    out = root / "cal"
    args = ["compose", str(one), str(many), "--labels", "1:c1,2:c2", "--out", str(out)]
    assert main([*args, "--calibrate", str(f), "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    ms = load_moduleset(out)
    assert ms.rule == "calibrated" and set(ms.manifest["calibration"]) == {"c1", "c2"}
    cal = ms.calibration()
    pred = [ms.labels[i] for i in cal.predict(ms.text_log_odds(texts)).tolist()]
    assert ms.predict_texts(texts) == pred
    acc = sum(p == y for p, y in zip(pred, labels)) / len(labels)
    assert reported["calibration_accuracy"] == pytest.approx(acc, abs=1e-6)
    assert main(["evaluate", str(out), "--labelled", str(f), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["accuracy"] == pytest.approx(acc) and res["per_label"]["c1"]["n"] == 30
    assert main(["evaluate", str(out)]) == 2
    assert "--labelled CSV" in capsys.readouterr().err


def test_calibration_file_errors(two_sets, tmp_path, capsys):
    root, one, many, _f, _t, _l = two_sets
    args = ["compose", str(one), str(many), "--labels", "1:c1,2:c2", "--out", str(root / "y")]
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nw1 w2,c3\nw2,c1\n")
    assert main([*args, "--calibrate", str(bad)]) == 2
    assert "'c3' are not composed modules" in capsys.readouterr().err
    bad.write_text("text,label\nw2,c1\n")
    assert main([*args, "--calibrate", str(bad)]) == 2
    assert "no calibration text for module(s) 'c2'" in capsys.readouterr().err
    bad.write_text("sentence,tag\nw2,c1\n")
    assert main([*args, "--calibrate", str(bad)]) == 2
    assert "'text' and 'label' columns" in capsys.readouterr().err
    assert not (root / "y").exists()


def test_a_taggers_set_predicts_a_label_per_token(two_sets, capsys):
    _root, _one, many, _f, texts, _l = two_sets
    assert main(["predict", str(many), texts[40], "--json"]) == 0
    (p,) = json.loads(capsys.readouterr().out)["predictions"]
    assert len(p["tags"]) == len(texts[40].split()) and set(p["tags"]) <= {"c1", "c2", "c3"}


def test_manifest_rule_is_validated(two_sets):
    from rnnmod.errors import RnnmodError
    from rnnmod.modules.store import check_manifest

    _root, one, *_ = two_sets
    man = json.loads((one / "manifest.json").read_text())
    with pytest.raises(
        RnnmodError, match="field 'rule' must be 'probability', 'odds' or 'calibrated'"
    ):
        check_manifest({**man, "rule": "vibes"}, one / "manifest.json")
    with pytest.raises(RnnmodError, match="needs a 'calibration'"):
        check_manifest({**man, "rule": "calibrated"}, one / "manifest.json")
    assert torch.is_tensor(load_moduleset(one).text_log_odds(["w1 w2"]))


def test_a_set_with_a_text_level_rule_is_not_exported_whole(two_sets, capsys):
    root, one, many, f, _t, _l = two_sets
    out = root / "cal-export"
    args = ["compose", str(one), str(many), "--labels", "1:c1,2:c2", "--out", str(out)]
    assert main([*args, "--calibrate", str(f)]) == 0
    capsys.readouterr()
    assert main(["export", str(out), "--onnx", str(root / "x.onnx")]) == 2
    assert "calibrated rule" in capsys.readouterr().err and not (root / "x.onnx").exists()
