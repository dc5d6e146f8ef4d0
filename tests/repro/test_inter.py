"""Inter reuse / replace (§10.2, §11.2): building the new problems, the odds rule, the score
lookup and a whole tiny grid (two runs of different I/O types on raw text)."""

import pytest
import torch

from rnnmod.modules.calibrate import fit_calibration
from rnnmod.modules.module import vote
from rnnmod.runs import load_run, save_run
from rnnmod_repro import inter as I
from rnnmod_repro import inter_problems as P
from rnnmod_repro import inter_report as R
from rnnmod_repro import inter_scores as S
from tests.helpers import tiny_data, tiny_model

# one-output labels (train, test) and many-output label sequences (train, test), by hand
ONE_Y = (torch.tensor([0, 1, 2, 0, 1, 0, 2, 2, 2]), torch.tensor([0, 1, 2, 2, 0]))
MANY_Y = (
    torch.tensor([[0, 1, 2], [0, 0, 2], [1, 1, 1], [0, 3, 2], [0, 0, 1]]),
    torch.tensor([[0, 1, 3], [0, 3, 3], [2, 2, 1], [0, 0, 3]]),
)


def test_reuse_parts_relabel_balance_and_cap():
    train, test = P.reuse_parts(ONE_Y, MANY_Y, a=2, b=1, cap=2, seed=0)
    # training: 3 sequences contain tag 1, 4 examples of class 2 → 3 + 3 (balanced)
    many, one = train.src == P.MANY, train.src == P.ONE
    assert int(many.sum()) == int(one.sum()) == 3
    assert (train.y[many] == 0).all() and (train.y[one] == 1).all()
    assert all(P.containing(MANY_Y[0], 1)[train.idx[many]])
    assert (ONE_Y[0][train.idx[one]] == 2).all()
    # test: groups capped at 2 (seeded), labels 0 / 1
    tm, to = test.src == P.MANY, test.src == P.ONE
    assert int(tm.sum()) == 2 and int(to.sum()) == 2
    assert all(P.containing(MANY_Y[1], 1)[test.idx[tm]]) and (ONE_Y[1][test.idx[to]] == 2).all()
    assert torch.equal(test.y, (test.src == P.ONE).long())
    # undersampling is seeded: same seed, same draw
    again = P.reuse_parts(ONE_Y, MANY_Y, a=2, b=1, cap=2, seed=0)[0]
    assert torch.equal(again.idx, train.idx)


def test_reuse_parts_balance_takes_the_smaller_group():
    train, _ = P.reuse_parts(ONE_Y, MANY_Y, a=1, b=2, cap=10, seed=3)
    # class 1: 2 examples; sequences with tag 2: 3 → 2 + 2
    assert int((train.src == P.MANY).sum()) == 2 and int((train.src == P.ONE).sum()) == 2
    train, _ = P.reuse_parts(ONE_Y, MANY_Y, a=0, b=1, cap=10, seed=3)
    assert len(train) == 6  # class 0: 3 examples; tag 1: 4 sequences → 3 + 3


def test_replace_parts_drop_f_and_inject_b_as_f():
    train, test = P.replace_parts(ONE_Y, MANY_Y, f=1, b=2, cap=1, seed=0)
    one, many = train.src == P.ONE, train.src == P.MANY
    assert (ONE_Y[0][train.idx[one]] != 1).all()
    assert torch.equal(train.y[one], ONE_Y[0][train.idx[one]])  # original labels kept
    assert int(one.sum()) == int((ONE_Y[0] != 1).sum())
    assert (train.y[many] == 1).all() and all(P.containing(MANY_Y[0], 2)[train.idx[many]])
    # all 3 rows with tag 2: fewer than the largest remaining class (class 2: 4 examples)
    assert int(many.sum()) == 3
    # test: every one-output example ≠ f, at most cap injected
    tm = test.src == P.MANY
    assert int(tm.sum()) == 1 and (test.y[tm] == 1).all()
    assert sorted(test.idx[~tm].tolist()) == [0, 2, 3, 4]


def test_replace_parts_undersample_a_large_injected_group():
    one_y = (torch.tensor([0, 0, 2, 2, 1]), torch.tensor([0, 2]))
    many_y = (torch.ones(9, 3, dtype=torch.long), torch.ones(4, 3, dtype=torch.long))
    train, test = P.replace_parts(one_y, many_y, f=1, b=1, cap=3, seed=0)
    assert int((train.src == P.MANY).sum()) == 2  # largest remaining class has 2 examples
    assert int((test.src == P.MANY).sum()) == 3


def test_odds_rule_decides_like_probabilities_for_two_slot_heads():
    g = torch.Generator().manual_seed(0)
    z_many, z_one = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
    sm, so = P.head_scores(z_many), P.head_scores(z_one)
    p = sm["probability"]
    odds = torch.exp(sm["odds"])
    assert torch.allclose(odds, p / (1 - p), rtol=1e-4)  # P_pos/P_neg = p/(1−p)
    by_odds = P.reuse_decide(sm["odds"], so["odds"])
    assert torch.equal(by_odds, P.reuse_decide(sm["probability"], so["probability"]))
    # a padding slot: the odds leave its mass out, the probability does not
    z = torch.tensor([[0.0, 1.0, 3.0], [0.0, 0.5, -5.0]])
    s = P.head_scores(z)
    assert s["odds"].tolist() == [1.0, 0.5] and s["probability"][0] < s["probability"][1]


def test_reuse_decision_on_hand_made_scores():
    s_many = torch.tensor([0.9, 0.2, 0.5, 3.0, -1.0])
    s_one = torch.tensor([0.8, 0.3, 0.5, 4.0, -2.0])
    assert P.reuse_decide(s_many, s_one).tolist() == [0, 1, 0, 1, 0]  # ties → b (label 0)


def test_replace_decision():
    s_many = torch.tensor([0.6, 0.1, 0.7, 0.5])
    others = torch.tensor([[0.5, 0.9, 0.1, 0.5], [0.2, 0.3, 0.8, 0.1]])  # classes 0 and 2
    assert P.replace_decide(s_many, others, [0, 2], f=1).tolist() == [1, 0, 2, 1]


def test_pooled_rows_map_both_sources():
    p = S.PooledScores({}, {}, [0], [1], n_one=3, many_idx=torch.tensor([4, 7]))
    part = P.Part(torch.tensor([P.ONE, P.MANY, P.MANY]), torch.tensor([2, 7, 4]), torch.zeros(3))
    assert p.rows(part).tolist() == [2, 4, 3]


def test_combo_subset_is_seeded():
    opts = P.InterOptions(problems=[], cells=[], depths=[], max_combos=5, seed=1)
    c = P.combos(list(range(6)), list(range(1, 13)), opts)
    assert len(c) == 5 and c == P.combos(list(range(6)), list(range(1, 13)), opts)
    for n_one in (6, 10):  # the 72- and 120-combo grids: fewer combos = a subset
        grid = (list(range(n_one)), list(range(1, 13)))
        small = P.combos(*grid, P.InterOptions([], [], [], max_combos=6))
        assert set(small) <= set(P.combos(*grid, P.InterOptions([], [], [], max_combos=12)))
    opts.max_combos = None
    assert len(P.combos(list(range(6)), list(range(1, 13)), opts)) == 72


def _with_texts(d):
    for split in ("train", "test"):
        x = getattr(d, f"x_{split}")
        d.extra[f"texts_{split}"] = [
            " ".join(d.vocab.tokens[i] for i in row if i != 0) for row in x.tolist()
        ]
        assert torch.equal(d.vocab.encode_texts(d.extra[f"texts_{split}"]), x)
    return d


def _side(tmp_path, io_type, task):
    d = _with_texts(tiny_data(io_type, seed=1 if io_type == "M:N" else 0))
    model = tiny_model("gru", 1, io_type, n_classes=d.n_classes)
    cfg = {"task": task, "io_type": io_type, "pad_label": d.pad_label}
    run = load_run(save_run(tmp_path / task, model, cfg, d.vocab, d.label_names, {}))
    return S.Side(run, d, "unrolled")


def _tiny_problem(tmp_path, monkeypatch, problem, cell, **kw):
    """A tiny one-output run and a tiny tagger standing in for ``problem``'s two tasks."""
    sides = {"one": _side(tmp_path, "M:1", "one"), "many": _side(tmp_path, "M:N", "many")}
    monkeypatch.setitem(P.PROBLEMS, problem, ("one", "many"))
    monkeypatch.setattr(I, "load_side", lambda task, cell, depth, opts: sides[task])
    opts = P.InterOptions(
        problems=[problem], cells=[cell], depths=[1], results_dir=tmp_path / "results",
        epochs=1, progress=False, **kw,
    )  # fmt: skip
    return sides, opts


def test_tiny_inter_grid_composes_on_raw_text_and_caches(tmp_path, monkeypatch):
    sides, opts = _tiny_problem(tmp_path, monkeypatch, "M:1-M:N", "gru", test_cap=8, max_combos=2)
    rows = I.run_inter("reuse", opts)
    assert len(rows) == 2 and all(r["type"] == "inter" for r in rows)
    # recompute the first combo's composed accuracy by hand from the module scores
    one, many = sides["one"], sides["many"]
    pooled = S.pooled_scores(one, many, tmp_path / "results" / "inter_scores", opts)
    a = one.data.label_names.index(rows[0]["class_2"])
    b = many.data.label_names.index(rows[0]["class_1"])
    ys = ((one.data.y_train, one.data.y_test), (many.data.y_train, many.data.y_test))
    _, test = P.reuse_parts(*ys, a=a, b=b, cap=8, seed=0)
    r = pooled.rows(test)
    for rule in ("odds", "probability"):
        s_b = pooled.many[rule][pooled.many_labels.index(b)][r]
        pred = P.reuse_decide(s_b, pooled.one[rule][a][r])
        col = f"composed_{rule}_rule"
        assert rows[0][col] == pytest.approx(float((pred == test.y).float().mean()))
    # the headline is the calibrated rule: a fit on the training part's pooled scores
    train, _ = P.reuse_parts(*ys, a=a, b=b, cap=8, seed=0)
    tp = S.pooled_scores(one, many, tmp_path / "results" / "inter_scores", opts, split="train")
    s_tr = torch.stack(
        [
            tp.many["odds"][tp.many_labels.index(b)][tp.rows(train)],
            tp.one["odds"][a][tp.rows(train)],
        ]
    )
    cal = fit_calibration(s_tr, train.y)
    s_te = torch.stack(
        [pooled.many["odds"][pooled.many_labels.index(b)][r], pooled.one["odds"][a][r]]
    )
    acc = float((cal.predict(s_te) == test.y).float().mean())
    assert rows[0]["rule"] == "calibrated" and rows[0]["paper_rule"] == "odds"
    assert rows[0]["composed"] == rows[0]["composed_calibrated_rule"] == pytest.approx(acc)
    assert rows[0]["delta_pp"] == pytest.approx(100 * (rows[0]["composed"] - rows[0]["baseline"]))
    legacy = 100 * (rows[0]["composed_odds_rule"] - rows[0]["baseline"])
    assert rows[0]["delta_pp_paper_rule"] == pytest.approx(legacy)
    # the pooled one-output scores on its own test rows are its bank's scores on its own ids
    bank_scores = pooled.one["probability"][:, : len(one.data.y_test)]
    assert vote(bank_scores, pooled.one_labels).shape == one.data.y_test.shape

    def boom(*a, **k):
        raise AssertionError("a cached combo was trained again")

    monkeypatch.setattr(I, "baseline_accuracy", boom)
    monkeypatch.setattr(S, "decompose", boom)  # pooled scores are cached too (on disk:
    monkeypatch.setattr(S, "_BANKS", {})  # not just the banks this process decomposed)
    assert I.run_inter("reuse", opts) == rows
    md = (tmp_path / "results" / "rq2_inter.md").read_text()
    assert "| M:1-M:N | one+many | gru |" in md and "-3.28" in md  # paper's GRU cell
    # --legacy-rule: the paper's odds rule becomes the headline, same cached baselines
    opts.rule = "paper"
    paper_rows = I.run_inter("reuse", opts)
    assert [r["composed"] for r in paper_rows] == [r["composed_odds_rule"] for r in rows]
    assert "| odds |" in (tmp_path / "results" / "rq2_inter.md").read_text()


def test_tiny_inter_replace(tmp_path, monkeypatch):
    sides, opts = _tiny_problem(tmp_path, monkeypatch, "1:1-1:N", "lstm", test_cap=5, max_combos=1)
    (row,) = I.run_inter("replace", opts)
    assert row["n_test_injected"] <= 5
    assert row["rule"] == "calibrated" and row["paper_rule"] == "odds"
    assert 0.0 <= row["composed_calibrated_rule"] <= 1.0
    assert row["n_test"] == row["n_test_injected"] + int(
        (sides["one"].data.y_test != sides["one"].data.label_names.index(row["class"])).sum()
    )
    md = (tmp_path / "results" / "rq3_inter.md").read_text()
    assert "| 1:1-1:N | one+many |" in md and "-4.64" in md


def test_calibrated_replace_maps_classes_to_module_positions():
    """Replace: module b plays class f; the fit's targets are module positions, not classes."""
    one_labels, many_labels = [0, 1, 2], [1]
    # one-output modules score their own class 2.0 and the rest 0; module b is on a 10x scale
    y_tr = torch.tensor([0, 2, 1, 1, 0, 2] * 20)  # class 1 = f, injected
    idx = torch.arange(len(y_tr))
    one = torch.stack([2.0 * (y_tr == c).float() for c in one_labels])
    many = 10.0 + 5.0 * (y_tr == 1).float()[None]  # module b: confident everywhere
    pooled = S.PooledScores({"odds": one, "probability": one}, {"odds": many, "probability": many},
                            one_labels, many_labels, n_one=len(y_tr), many_idx=idx)  # fmt: skip
    part = P.Part(torch.full_like(idx, P.ONE), idx, y_tr)
    pred = S.composed_predictions("replace", "M:1-M:N", pooled, part, 1, 1, pooled, part)
    assert (pred["odds"] == 1).all()  # the raw rule: b always wins
    assert torch.equal(pred["calibrated"], y_tr)


def test_rows_of_a_retrained_run_leave_the_report(tmp_path, monkeypatch):
    sides, opts = _tiny_problem(tmp_path, monkeypatch, "M:1-M:N", "gru", test_cap=8, max_combos=1)
    (row,) = I.run_inter("reuse", opts)
    assert row["models"] == {
        str(sides["one"].run.path): sides["one"].run.model_sha256(),
        str(sides["many"].run.path): sides["many"].run.model_sha256(),
    }
    assert len(R.collect_inter(tmp_path / "results", "rq2_inter")) == 1
    (sides["many"].run.path / "model.safetensors").write_bytes(b"retrained")
    assert R.collect_inter(tmp_path / "results", "rq2_inter") == []


def test_the_test_and_training_pools_decompose_each_run_once(tmp_path, monkeypatch):
    sides, opts = _tiny_problem(tmp_path, monkeypatch, "M:1-M:N", "gru", test_cap=8, max_combos=1)
    calls = []
    real = S.decompose
    monkeypatch.setattr(S, "decompose", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(S, "_BANKS", {})
    I.run_inter("reuse", opts)
    assert len(calls) == 2  # one bank per run, shared by the test and the training pool


def test_scratch_baseline_records_its_fresh_init(tmp_path):
    side = _side(tmp_path, "M:1", "one")
    opts = P.InterOptions(problems=[], cells=[], depths=[], epochs=1, progress=False)
    acc, metrics, _pred = I.baseline_accuracy(side, side.data, opts)
    assert 0 <= acc <= 1 and metrics["init"] == "keras"  # not "given model"
