"""A tagger's modules mixed from two taggers and calibrated on tagged texts: they decide token by
token (compose --calibrate with a 'tags' column, predict, evaluate --labelled)."""

import csv
import json

import pytest
import torch

from rnnmod.cli import main
from rnnmod.decomposition import decompose, preset
from rnnmod.errors import RnnmodError
from rnnmod.modules.scores import position_log_odds
from rnnmod.modules.store import load_moduleset, save_moduleset
from rnnmod.runs import load_run, save_run
from tests.helpers import tiny_data, tiny_model


def _tagger_set(root, name, seed, io_type="M:N"):
    d = tiny_data(io_type, seed=1)
    model = tiny_model("gru", 1, io_type, n_classes=d.n_classes, seed=seed)
    cfg = {"task": "tags", "io_type": io_type, "pad_label": d.pad_label}
    run = load_run(save_run(root / f"run-{name}", model, cfg, d.vocab, d.label_names, {}))
    bank = decompose(run.model, d, preset("default", mode="rolled"), progress=False).bank
    extra = {"task": "tags", "mode": "rolled", "config": {}}
    return save_moduleset(root / f"mods-{name}", [(run, bank)], extra), d


def _write(f, header, rows):
    with open(f, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return f


@pytest.fixture
def tagged(tmp_path):
    faulty, d = _tagger_set(tmp_path, "faulty", seed=0)
    better, _ = _tagger_set(tmp_path, "better", seed=7)
    texts, tags = [], []
    for xs, ys in zip(d.x_test.tolist(), d.y_test.tolist()):
        real = [(x, y) for x, y in zip(xs, ys) if x != 0]
        texts.append(" ".join(d.vocab.tokens[x] for x, _ in real))
        tags.append(" ".join(d.label_names[y] for _, y in real))
    f = _write(tmp_path / "tagged.csv", ["text", "tags"], zip(texts, tags))
    return tmp_path, faulty, better, f, texts, [t.split() for t in tags]


def test_replaced_tagger_module_is_calibrated_and_tags_token_by_token(tagged, capsys):
    root, faulty, better, f, texts, tags = tagged
    out = root / "fixed"
    labels = "1:c1,2:c2,1:c3"  # the faulty tagger's c2 module replaced by the better one's
    args = ["compose", str(faulty), str(better), "--labels", labels, "--out", str(out)]
    assert main([*args, "--calibrate", str(f), "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    ms = load_moduleset(out)
    assert ms.rule == "calibrated" and ms.per_position
    assert ms.manifest["calibration_level"] == "positions"
    n_tokens = sum(map(len, tags))
    assert ms.manifest["calibration_positions"] == n_tokens
    assert ms.labels == ["c1", "c2", "c3"]  # the order chosen, the two sources interleaved
    # by hand: calibrated log-odds of every module at every step, argmax, real tokens only
    per_label = {}
    for s, b in ms.banks.items():
        for k, c in enumerate(b.class_index):
            per_label[ms.sources[s].label_names[c]] = position_log_odds(ms.sources[s], b, texts)[k]
    odds = torch.stack([per_label[x] for x in ms.labels])
    idx = ms.calibration().predict(odds)
    ids = next(iter(ms.sources.values())).vocab.encode_texts(texts)
    want = [
        [ms.labels[i] for i, x in zip(r, xr) if x != 0] for r, xr in zip(idx.tolist(), ids.tolist())
    ]
    assert ms.predict_tags(texts) == want
    acc = sum(p == t for w, g in zip(want, tags) for p, t in zip(w, g)) / n_tokens
    assert reported["calibration_accuracy"] == pytest.approx(acc, abs=1e-6)
    with pytest.raises(RnnmodError, match="use predict_tags"):
        ms.decide_texts(texts)
    assert main(["predict", str(out), texts[0], "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["predictions"][0]
    assert got["tags"] == want[0]
    assert main(["evaluate", str(out)]) == 2  # two source models: no single test split
    assert "'text' and 'tags' for taggers" in capsys.readouterr().err
    assert main(["evaluate", str(out), "--labelled", str(f), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["unit"] == "tokens" and res["n"] == n_tokens
    assert res["accuracy"] == pytest.approx(acc)


def test_tagged_calibration_refuses_what_it_cannot_align(tagged, capsys):
    root, faulty, better, f, texts, tags = tagged
    args = ["compose", str(faulty), str(better), "--labels", "1:c1,2:c2,1:c3"]
    rows = [(t, " ".join(g)) for t, g in zip(texts, tags)]
    n = len(tags[3])
    rows[3] = (texts[3], " ".join(tags[3][:-1]))  # one tag short
    short = _write(root / "short.csv", ["text", "tags"], rows)
    assert main([*args, "--out", str(root / "a"), "--calibrate", str(short)]) == 2
    assert f"tagged text 4: {n - 1} tags for {n} tokens" in capsys.readouterr().err
    one, _ = _tagger_set(root, "classifier", seed=0, io_type="M:1")
    args = ["compose", str(faulty), str(one), "--labels", "1:c1,2:c2"]
    assert main([*args, "--out", str(root / "b"), "--calibrate", str(f)]) == 2
    assert "taggers' modules (M:N) only" in capsys.readouterr().err
    assert not (root / "a").exists() and not (root / "b").exists()
    # a tagger set under the paper's vote is evaluated on tagged texts, not on labelled ones
    labelled = _write(root / "labelled.csv", ["text", "label"], [(texts[0], "c1")])
    assert main(["evaluate", str(faulty), "--labelled", str(labelled)]) == 2
    assert "answers per token" in capsys.readouterr().err
    assert main(["evaluate", str(faulty), "--labelled", str(f), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unit"] == "tokens"
