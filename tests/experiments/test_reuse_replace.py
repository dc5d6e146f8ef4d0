"""RQ2 intra reuse and RQ3 intra replace on tiny runs: relabelling, scores, caching, reports."""

import pytest
import torch

from rnnmod.experiments import reuse_replace as rr
from rnnmod.modules.module import vote
from rnnmod.runs import load_run, save_run
from tests.helpers import tiny_data, tiny_model


def _opts(tmp_path, **kw):
    base = dict(tasks=["tiny"], cells=["gru"], depths=[1], runs_dir=tmp_path / "runs")
    base.update(results_dir=tmp_path / "results", epochs=2, progress=False)
    return rr.RQ23Options(**{**base, **kw})


def _run(tmp_path, data, depth=1, seed=0, io_type="M:1"):
    model = tiny_model("gru", depth, io_type, n_classes=data.n_classes, seed=seed)
    cfg = {"task": "tiny", "io_type": io_type, "pad_label": data.pad_label}
    path = tmp_path / "runs" / f"tiny-gru{depth}"
    return load_run(save_run(path, model, cfg, data.vocab, data.label_names, {}, overwrite=True))


def test_pair_data_relabels_one_output_and_taggers():
    d = tiny_data("M:1")
    p = rr.pair_data(d, 1, 3)
    assert set(p.y_train.tolist()) == {0, 1}
    assert len(p.y_train) == int(((d.y_train == 1) | (d.y_train == 3)).sum())
    assert p.label_names == ["c1", "c3"]
    t = tiny_data("M:N")
    q = rr.pair_data(t, 1, 2)
    keep = ((t.y_train == 1) | (t.y_train == 2)).any(1)
    y = t.y_train[keep]
    assert torch.equal(q.y_train == 1, y == 1) and torch.equal(q.y_train == 2, y == 2)
    assert torch.equal(q.y_train == 0, y == 0)  # padding stays padding
    assert torch.equal(q.y_train == 3, (y != 0) & (y != 1) & (y != 2))  # other real tags
    assert q.pad_label == 0 and q.n_classes == 4


def test_reuse_rows_compose_the_two_modules_and_cache(tmp_path, monkeypatch):
    data = tiny_data("M:1")
    run = _run(tmp_path, data)
    opts = _opts(tmp_path, max_pairs=2)
    cache = tmp_path / "cache"
    rows = rr.reuse_rows(run, data, opts, cache)
    assert [(r["class_1"], r["class_2"]) for r in rows] == [("c0", "c1"), ("c0", "c2")]
    bank, scores = rr.module_scores(run, data, opts)
    y = data.y_test
    on = (y == 0) | (y == 1)
    pred = vote(scores[[0, 1]], [0, 1])
    assert rows[0]["composed"] == pytest.approx(float((pred[on] == y[on]).float().mean()))
    assert rows[0]["n_test"] == int(on.sum())
    assert rows[0]["delta_pp"] == pytest.approx(100 * (rows[0]["composed"] - rows[0]["baseline"]))

    def boom(*a, **k):
        raise AssertionError("a cached pair was trained again")

    monkeypatch.setattr(rr, "baseline_accuracy", boom)
    assert rr.reuse_rows(run, data, opts, cache) == rows


def test_legacy_baseline_fine_tunes_the_trained_model(tmp_path):
    data = tiny_data("M:1")
    run = _run(tmp_path, data)
    acc, metrics = rr.baseline_accuracy(
        run, rr.pair_data(data, 0, 1), _opts(tmp_path, legacy_baseline=True)
    )
    assert 0 <= acc <= 1 and metrics["epochs"] == 5 and metrics["batch_size"] == 32


def test_tagger_pairs_score_only_their_positions(tmp_path):
    data = tiny_data("M:N")
    run = _run(tmp_path, data, io_type="M:N")
    rows = rr.reuse_rows(run, data, _opts(tmp_path, max_pairs=1), tmp_path / "cache")
    y = data.y_test
    assert rows[0]["n_test"] == int(((y == 1) | (y == 2)).sum())


def test_replace_swaps_one_module_of_the_worst_model(tmp_path):
    data = tiny_data("M:1")
    for depth in (1, 2, 3, 4):
        _run(tmp_path, data, depth=depth, seed=depth)
    opts = _opts(tmp_path)
    rows = rr.replace_rows("tiny", "gru", data, opts, tmp_path / "cache")
    mma = {int(d): a for d, a in rows[0]["monolithic_by_depth"].items()}
    worst, best = rows[0]["depth"], rows[0]["best_depth"]
    assert mma[worst] == min(mma.values()) and mma[best] == max(mma.values())
    assert rr.replace_rows("tiny", "gru", data, opts, tmp_path / "cache") == rows  # cached
    runs = {d: load_run(tmp_path / "runs" / f"tiny-gru{d}") for d in (worst, best)}
    (_, ws), (_, bs) = (rr.module_scores(runs[d], data, opts) for d in (worst, best))
    s = ws.clone()
    s[2] = bs[2]
    acc = float((vote(s, [0, 1, 2, 3]) == data.y_test).float().mean())
    assert rows[2]["composed"] == pytest.approx(acc)
    assert rows[2]["delta_pp"] == pytest.approx(100 * (acc - mma[worst]))
    rr.write_report(rows, tmp_path / "results", "rq3", "table4_replace.csv")
    md = (tmp_path / "results" / "rq3.md").read_text()
    assert "| M:1 | tiny | gru |" in md and "paper mean" in md
