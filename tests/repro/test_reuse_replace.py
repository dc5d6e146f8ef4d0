"""RQ2 intra reuse and RQ3 intra replace on tiny runs: relabelling, scores, caching, reports."""

import dataclasses

import pytest
import torch

from rnnmod.modules.calibrate import fit_calibration
from rnnmod.modules.module import vote
from rnnmod.runs import load_run, save_run
from rnnmod_repro import intra_models as M
from rnnmod_repro import intra_replace as P
from rnnmod_repro import intra_reuse as U
from rnnmod_repro import reuse_replace_summary as S
from tests.helpers import tiny_data, tiny_model


def _opts(tmp_path, **kw):
    base = dict(tasks=["tiny"], cells=["gru"], depths=[1], runs_dir=tmp_path / "runs")
    base.update(results_dir=tmp_path / "results", epochs=2, progress=False)
    return M.RQ23Options(**{**base, **kw})


def _run(tmp_path, data, depth=1, seed=0, io_type="M:1"):
    model = tiny_model("gru", depth, io_type, n_classes=data.n_classes, seed=seed)
    cfg = {"task": "tiny", "io_type": io_type, "pad_label": data.pad_label}
    path = tmp_path / "runs" / f"tiny-gru{depth}"
    return load_run(save_run(path, model, cfg, data.vocab, data.label_names, {}, overwrite=True))


def test_pair_data_relabels_one_output_and_taggers():
    d = tiny_data("M:1")
    p = U.pair_data(d, 1, 3)
    assert set(p.y_train.tolist()) == {0, 1}
    assert len(p.y_train) == int(((d.y_train == 1) | (d.y_train == 3)).sum())
    assert p.label_names == ["c1", "c3"]
    t = tiny_data("M:N")
    q = U.pair_data(t, 1, 2)
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
    rows = U.reuse_rows(run, data, opts, cache)
    assert [(r["class_1"], r["class_2"]) for r in rows] == [("c0", "c1"), ("c0", "c2")]
    bank, scores = M.module_scores(run, data, opts)
    y = data.y_test
    on = (y == 0) | (y == 1)
    pred = vote(scores[[0, 1]], [0, 1])
    assert rows[0]["composed"] == pytest.approx(float((pred[on] == y[on]).float().mean()))
    assert rows[0]["n_test"] == int(on.sum())
    assert rows[0]["delta_pp"] == pytest.approx(100 * (rows[0]["composed"] - rows[0]["baseline"]))

    def boom(*a, **k):
        raise AssertionError("a cached pair was trained again")

    monkeypatch.setattr(U, "baseline_accuracy", boom)
    assert U.reuse_rows(run, data, opts, cache) == rows


def test_legacy_baseline_fine_tunes_the_trained_model(tmp_path):
    data = tiny_data("M:1")
    run = _run(tmp_path, data)
    acc, metrics = U.baseline_accuracy(
        run, U.pair_data(data, 0, 1), _opts(tmp_path, legacy_baseline=True)
    )
    assert 0 <= acc <= 1 and metrics["epochs"] == 5 and metrics["batch_size"] == 32


def test_legacy_baseline_head_is_a_fresh_keras_dense(tmp_path, monkeypatch):
    data = tiny_data("M:1")
    run = _run(tmp_path, data)
    seen = {}

    def capture(pdata, tc, model):
        seen["head"] = model.head.weight.detach().clone(), model.head.bias.detach().clone()
        return model, {"epochs": tc.epochs}

    monkeypatch.setattr(U, "train_classifier", capture)
    U.baseline_accuracy(run, U.pair_data(data, 0, 1), _opts(tmp_path, legacy_baseline=True))
    w, b = seen["head"]
    h = run.model.cfg.hidden
    bound = (6 / (h + 2)) ** 0.5  # Glorot-uniform over [in, out]; PyTorch's would be 1/sqrt(h)
    assert w.shape == (2, h) and bool((b == 0).all())
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 1 / h**0.5


def test_tagger_pairs_score_only_their_positions(tmp_path):
    data = tiny_data("M:N")
    run = _run(tmp_path, data, io_type="M:N")
    rows = U.reuse_rows(run, data, _opts(tmp_path, max_pairs=1), tmp_path / "cache")
    y = data.y_test
    assert rows[0]["n_test"] == int(((y == 1) | (y == 2)).sum())


def test_replace_swaps_one_module_of_the_worst_model(tmp_path):
    data = tiny_data("M:1")
    for depth in (1, 2, 3, 4):
        _run(tmp_path, data, depth=depth, seed=depth)
    opts = _opts(tmp_path)
    rows = P.replace_rows("tiny", "gru", data, opts, tmp_path / "cache")
    mma = {int(d): a for d, a in rows[0]["monolithic_by_depth"].items()}
    worst, best = rows[0]["depth"], rows[0]["best_depth"]
    assert mma[worst] == min(mma.values()) and mma[best] == max(mma.values())
    assert P.replace_rows("tiny", "gru", data, opts, tmp_path / "cache") == rows  # cached
    runs = {d: load_run(tmp_path / "runs" / f"tiny-gru{d}") for d in (worst, best)}
    (_, ws), (_, bs) = (M.module_scores(runs[d], data, opts) for d in (worst, best))
    s = ws.clone()
    s[2] = bs[2]
    acc = float((vote(s, [0, 1, 2, 3]) == data.y_test).float().mean())
    # the paper's rule: every module votes with its confidence
    assert rows[2]["composed_paper_rule"] == pytest.approx(acc)
    assert rows[2]["delta_pp_paper_rule"] == pytest.approx(100 * (acc - mma[worst]))
    # the headline: calibrated log-odds, module 2 (and its calibration) from the best model
    fit_ids, fit_y = P.calibration_sample(data)
    odds = {}
    for d in (worst, best):
        bank = M.decompose(runs[d].model, data, M.preset("default", mode="unrolled")).bank
        odds[d] = [
            P.log_odds(bank.scores(runs[d].model, x, output="logits"))
            for x in (data.x_test, fit_ids)
        ]
    test, fit = (P._swap(odds[worst][i], odds[best][i], 2) for i in (0, 1))
    cal = fit_calibration(fit, fit_y)
    acc_cal = float((cal.predict(test) == data.y_test).float().mean())
    assert rows[2]["rule"] == "calibrated" and rows[2]["composed"] == pytest.approx(acc_cal)
    assert rows[2]["delta_pp"] == pytest.approx(100 * (acc_cal - mma[worst]))
    assert rows[2]["calibration_examples"] == len(data.x_train)  # tiny: all of them
    S.write_report(rows, tmp_path / "results", "rq3", "table4_replace.csv")
    md = (tmp_path / "results" / "rq3.md").read_text()
    assert "| M:1 | tiny | gru | unrolled | — | calibrated |" in md and "paper mean" in md
    assert "(paper) |" in md  # the paper's rule's mean beside


def test_replace_legacy_rule_makes_the_paper_vote_the_headline(tmp_path):
    data = tiny_data("M:N")
    for depth in (1, 2, 3, 4):
        _run(tmp_path, data, depth=depth, seed=depth, io_type="M:N")
    cal = P.replace_rows("tiny", "gru", data, _opts(tmp_path), tmp_path / "cache")
    paper = P.replace_rows("tiny", "gru", data, _opts(tmp_path, rule="paper"), tmp_path / "cache")
    for c, p in zip(cal, paper, strict=True):
        assert p["rule"] == "paper" and p["composed"] == c["composed_paper_rule"]
        assert p["composed_calibrated_rule"] == c["composed"]
        assert p["faulty_composed"] == c["faulty_composed_paper_rule"]
    with pytest.raises(P.RnnmodError, match="unknown replace rule"):
        P.replace_rows("tiny", "gru", data, _opts(tmp_path, rule="odds"), tmp_path / "cache")


def test_calibrated_vote_fits_only_positions_whose_label_has_a_module():
    # two modules (labels 3 and 5) over [B=40, T=2] positions; label 0 is padding, never fitted
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (40, 2), generator=g) * 2 + 3  # 3 or 5
    y[:, 1] = 0  # the second step is padding
    s = torch.randn(2, 40, 2, generator=g)
    odds = torch.stack([s[0] + 4 * (y == 3), 0.2 * s[1] - 6 + 5 * (y == 5)])  # module 5: off-scale
    odds[:, :, 1] = 1e4  # garbage at padding positions must not move the fit
    pred = P.calibrated_vote(odds, y, odds, [3, 5])
    assert pred.shape == y.shape
    assert (pred[:, 0] == y[:, 0]).float().mean() > 0.9
    assert (P.vote(odds[:, :, 0], [3, 5]) == y[:, 0]).float().mean() < 0.7  # raw scores lose


def test_replace_calibrates_on_the_validation_split_where_the_task_has_one(tmp_path):
    data = tiny_data("M:1")
    for depth in (1, 2, 3, 4):
        _run(tmp_path, data, depth=depth, seed=depth)
    cache = tmp_path / "cache"
    train = P.replace_rows("tiny", "gru", data, _opts(tmp_path), cache)
    # no validation split: --calibrate-on val falls back to training texts (the same cache row)
    assert P.replace_rows("tiny", "gru", data, _opts(tmp_path, calibrate_on="val"), cache) == train
    assert {r["calibration_split"] for r in train} == {"train"}
    n = len(data.x_test) // 2
    with_val = dataclasses.replace(data, x_val=data.x_test[:n], y_val=data.y_test[:n])
    ids, y = P.calibration_sample(with_val, split="val")
    assert torch.equal(ids, with_val.x_val) and torch.equal(y, with_val.y_val)
    val = P.replace_rows("tiny", "gru", with_val, _opts(tmp_path, calibrate_on="val"), cache)
    assert {r["calibration_split"] for r in val} == {"val"}
    assert all(r["calibration_examples"] == n for r in val)
    assert [r["composed_paper_rule"] for r in val] == [r["composed_paper_rule"] for r in train]
    assert len(list(cache.glob("*.json"))) == 2  # its own cache entry
    on_train = _opts(tmp_path, calibrate_on="train")
    assert P.replace_rows("tiny", "gru", with_val, on_train, cache) == train
    with pytest.raises(P.RnnmodError, match="unknown calibration split"):
        P.calibration_sample(data, split="test")


def test_the_baseline_column_says_how_long_the_baselines_trained():
    rows = [{"baseline_kind": "scratch", "baseline_epochs": e} for e in (10, "2", 10)]
    assert S.baseline_label(rows[:1]) == "scratch, 10 ep"
    assert S.baseline_label(rows) == "scratch, 2/10 ep"  # a group measured against both
    assert S.baseline_label([{"class": "NOUN"}]) == ""  # replace rows have no baseline


def test_summary_groups_by_rule_and_puts_inter_rows_last():
    """One summary serves rq2.md, rq3.md and the report: intra I/O types in the paper's order,
    inter problems after them, one line per decision rule, the other rule's mean beside."""

    def row(io, rule, d, beside):
        r = {"type": "x", "io_type": io, "task": "t", "cell": "lstm", "mode": "m"}
        return {**r, "rule": rule, "delta_pp": d, "delta_pp_paper_rule": beside}

    rows = [row("M:1-M:N", "calibrated", -1.0, -3.0), row("M:N", "calibrated", 1.0, "")]
    rows += [row("1:1", "odds", 2.0, 0.5), row("1:1", "calibrated", 4.0, 1.0)]
    got = [(s["io_type"], s["rule"], s["mean_delta_pp"], s["mean_delta_beside_pp"])
           for s in S.summarize(rows, "table3_reuse.csv")]  # fmt: skip
    assert got == [
        ("1:1", "calibrated", 4.0, 1.0),
        ("1:1", "odds", 2.0, 0.5),
        ("M:N", "calibrated", 1.0, None),  # an empty CSV cell is no Δ beside
        ("M:1-M:N", "calibrated", -1.0, -3.0),
    ]
