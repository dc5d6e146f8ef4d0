"""Learned unit masks: seeded, training split only, near the target, unsupported kinds refused."""

import pytest
import torch

from rnnmod.data.base import seeded_split
from rnnmod.decomposition import decompose, preset
from rnnmod.decomposition.learned import (
    ALGORITHM,
    ClassifierObjective,
    LearnedOptions,
    binarise,
    composed_accuracy,
    learned_masks,
    lower_bound,
    straight_through,
)
from rnnmod.errors import RnnmodError
from rnnmod.nn.zoo import predict_logits
from tests.helpers import fit_tiny, tiny_data, tiny_model


def fitted(cell: str, io_type: str = "M:1", hidden: int = 16):
    """A tiny model trained to fit its tiny data (the masks need a signal to learn from)."""
    data = tiny_data(io_type, n=120)
    return fit_tiny(tiny_model(cell, io_type=io_type, hidden=hidden), data), data


def decompose_argv(tmp_path, cell: str, output: str) -> list[str]:
    """``rnnmod decompose`` of a small run of ``cell`` trained on a CSV under ``tmp_path``,
    without its --out and method (``output``: --quiet or --json)."""
    from tests.reliability.util import make_run, write_csv

    run = make_run(tmp_path / "run", write_csv(tmp_path / "d.csv"), cell=cell, depth=1)
    return ["decompose", str(run), "--n-positive", "8", "--min-observations", "1", output]


def bank_of(model, data, **cfg):
    return decompose(model, data, preset("default", **cfg), progress=False).bank


def test_straight_through_is_binary_forward_sigmoid_backward():
    lg = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    m = straight_through(lg)
    assert m.tolist() == [0.0, 0.0, 1.0]
    m.sum().backward()
    s = torch.sigmoid(lg.detach())
    assert torch.allclose(lg.grad, s * (1 - s))


def test_a_layer_never_loses_every_unit():
    keep = binarise([torch.tensor([[[-1.0, -0.5, -2.0]], [[1.0, -1.0, 0.5]]])])[0]
    assert keep.shape == (2, 1, 3)
    assert keep[0, 0].tolist() == [False, True, False]
    assert keep[1, 0].tolist() == [True, False, True]


def test_same_seed_same_masks_and_heads_kept():
    model, data = fitted("lstm")
    bank = bank_of(model, data)
    a, sa = learned_masks(model, data, bank, target_retained=0.3, steps=40, seed=3)
    b, _ = learned_masks(model, data, bank, target_retained=0.3, steps=40, seed=3)
    for x, y in zip(a.unit_masks, b.unit_masks, strict=True):
        assert x.dtype == torch.bool and x.shape == (len(bank), 1, 16)
        assert torch.equal(x, y)
    assert torch.equal(a.head_weight, bank.head_weight)
    assert torch.equal(a.head_bias, bank.head_bias)
    assert a.class_index == bank.class_index
    assert sa["steps"] == 40 and len(sa["retained_per_module"]) == len(bank)
    assert all(p.requires_grad for p in model.parameters())  # the model is given back as it was


def test_the_test_split_is_never_read():
    model, data = fitted("gru")
    bank = bank_of(model, data)
    ref, _ = learned_masks(model, data, bank, target_retained=0.3, steps=30, seed=0)
    data.x_test = torch.full_like(data.x_test, model.cfg.vocab_size + 99)  # would fail if read
    data.y_test = torch.full_like(data.y_test, 999)
    got, _ = learned_masks(model, data, bank, target_retained=0.3, steps=30, seed=0)
    for x, y in zip(ref.unit_masks, got.unit_masks, strict=True):
        assert torch.equal(x, y)
    assert ref.filled  # a GRU's removed units are rebuilt by default, from training data only
    for x, y in zip(ref.unit_fills, got.unit_fills, strict=True):
        assert torch.equal(x[0], y[0]) and torch.equal(x[1], y[1])


@pytest.mark.parametrize("cell,io_type", [("lstm", "M:1"), ("gru", "1:1")])
def test_retained_fraction_ends_near_the_target(cell, io_type):
    model, data = fitted(cell, io_type)
    bank = bank_of(model, data)
    out, summary = learned_masks(
        model, data, bank, target_retained=0.3, steps=400, seed=0, removed_units="dead"
    )
    retained = float(out.retained_fraction().mean())
    assert abs(retained - 0.3) <= 0.1, summary
    assert summary["retained_mean"] == pytest.approx(retained, abs=1e-6)


@pytest.mark.parametrize(
    "io_type,cfg",
    [("M:N", {}), ("1:N", {"mode": "unrolled"}), ("M:1", {"mode": "unrolled"}), ("1:1", {})],
)
def test_every_io_type_and_mode_learns(io_type, cfg):
    model, data = tiny_model("lstm", io_type=io_type), tiny_data(io_type)
    bank = bank_of(model, data, min_observations=1, **cfg)
    out, _ = learned_masks(model, data, bank, target_retained=0.5, steps=3)
    assert [m.shape for m in out.unit_masks] == [m.shape for m in bank.unit_masks]


def test_target_out_of_range_is_refused():
    model, data = tiny_model("lstm"), tiny_data()
    with pytest.raises(RnnmodError, match="target-retained"):
        learned_masks(model, data, bank_of(model, data), target_retained=0.0, steps=2)


def test_the_cli_budget_and_learned_paths_run(tmp_path, capsys):
    """`rnnmod decompose --budget` and `--method learned` from the command line, end to end."""
    import json

    from rnnmod.cli import main

    base = decompose_argv(tmp_path, "lstm", "--json")
    budget = ["--budget", "1pp", "--learn-steps", "40", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "b"), *budget]) == 0
    learned = json.loads((tmp_path / "b" / "manifest.json").read_text())["learned"]
    assert learned["request"] == {
        "tolerance_pp": 1.0,
        "val_frac": 0.1,
        "steps": 40,
        "algorithm": ALGORITHM,
    }
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "b"), *budget]) == 0  # the same request: reused
    assert json.loads(capsys.readouterr().out)["reused"] is True
    man = tmp_path / "b" / "manifest.json"
    old = json.loads(man.read_text())
    old["learned"]["request"]["algorithm"] = "an older learner"
    man.write_text(json.dumps(old))  # (the checksums cover the module files, not the manifest)
    assert main([*base, "--out", str(tmp_path / "b"), *budget, "--overwrite"]) == 0
    assert json.loads(capsys.readouterr().out)["reused"] is False
    assert learned["curve"] and learned["chosen"]
    rank = [*base, "--out", str(tmp_path / "r"), "--budget", "1pp", "--method", "rank", "--quiet"]
    assert main(rank) == 0
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["budget"]["request"]
    argv = [*base, "--out", str(tmp_path / "l"), "--method", "learned", "--quiet"]
    assert main([*argv, "--target-retained", "0.5", "--learn-steps", "20"]) == 0
    assert "learned" in json.loads((tmp_path / "l" / "manifest.json").read_text())
    capsys.readouterr()
    wrong = [*base, "--out", str(tmp_path / "w"), *budget]
    assert main([*wrong, "--budget-metric", "vote"]) == 2
    assert "--budget-metric applies to --method rank" in capsys.readouterr().err
    assert main([*wrong, "--target-retained", "0.3"]) == 2
    assert main([*base, "--out", str(tmp_path / "w"), "--learn-steps", "5"]) == 2
    assert not (tmp_path / "w").exists()


def test_budget_keeps_the_smallest_checkpoint_within_it_on_validation():
    model, data = fitted("lstm")
    bank = bank_of(model, data)
    opts = LearnedOptions(check_every=10, patience=100)
    out, s = learned_masks(model, data, bank, tolerance_pp=5.0, steps=120, seed=0, options=opts)
    assert s["target_retained"] is None and s["tolerance_pp"] == 5.0
    assert "held out" in s["validation"]  # tiny data has no validation split: carved, not seen
    curve = s["curve"]
    # every 10 steps once the target is ≤ 0.6 (done ≥ 51), every 40 before
    assert [p["step"] for p in curve] == [40, *range(60, 121, 10)]
    ok = [p for p in curve if p["within_budget"]]
    assert ok and all(p["val_accuracy"] >= s["val_monolithic"] - 0.05 - 1e-9 for p in ok)
    chosen = s["chosen"]
    # the smallest candidate within the budget: a checkpoint, or the default decomposition's
    # masks (here they keep fewer units than any checkpoint within 5 pp)
    default = chosen.get("default_decomposition", False)
    assert default and chosen["retained"] == pytest.approx(float(bank.retained_fraction().mean()))
    assert chosen["retained"] <= min(p["retained"] for p in ok) and chosen["step"] == 0
    assert s["retained_mean"] == pytest.approx(chosen["retained"], abs=1e-6)
    # the returned masks are the chosen checkpoint's: its validation accuracy again
    _, val = seeded_split(len(data.x_train), 0.1, 0, data.y_train)
    acc = composed_accuracy(model, out, data.x_train[val], data.y_train[val])
    assert acc == pytest.approx(chosen["val_accuracy"], abs=1e-6)


def test_budget_stops_once_the_validation_accuracy_leaves_it():
    model, data = fitted("gru")
    bank = bank_of(model, data)
    opts = LearnedOptions(check_every=5, patience=2, floor=0.01)
    _, s = learned_masks(model, data, bank, tolerance_pp=0.0, steps=400, seed=0, options=opts)
    misses = [p["within_budget"] for p in s["curve"]][-2:]
    assert s["steps_run"] < 400 and misses == [False, False]


def test_a_budget_nothing_holds_keeps_every_unit():
    """Neither a checkpoint nor the default decomposition within the budget: the module keeps
    every unit (the budget then holds) and the summary says so."""
    from rnnmod.decomposition.learned import ClassifierObjective

    class Unreachable(ClassifierObjective):
        def validate(self, bank):
            scores = super().validate(bank)
            return [x - 1.0 for x in scores] if hasattr(self, "reference") else scores

    model, data = fitted("gru")
    bank = bank_of(model, data)
    assert float(bank.retained_fraction().mean()) < 1.0
    opts = LearnedOptions(check_every=5, patience=2)
    out, s = learned_masks(
        model, data, bank, tolerance_pp=5.0, steps=40, seed=0, options=opts, objective=Unreachable
    )
    assert s["chosen"] is None and "every unit is kept" in s["warning"]
    assert s["retained_mean"] == 1.0 and bool(out.retained_fraction().eq(1.0).all())


@pytest.mark.parametrize("removed", ["dead", "linear", "learned"])
def test_budget_never_reads_the_test_split(removed):
    model, data = fitted("rnn")
    bank = bank_of(model, data)
    opt = LearnedOptions(check_every=10, removed_units=removed)
    kw = dict(tolerance_pp=2.0, steps=40, seed=1, options=opt)
    ref, s = learned_masks(model, data, bank, **kw)
    data.x_test = torch.full_like(data.x_test, model.cfg.vocab_size + 99)
    data.y_test = torch.full_like(data.y_test, 999)
    got, _ = learned_masks(model, data, bank, **kw)
    for x, y in zip(ref.unit_masks, got.unit_masks, strict=True):
        assert torch.equal(x, y)
    assert s["removed_units"] == removed and ref.filled == (removed != "dead")
    for x, y in zip(ref.unit_fills or [], got.unit_fills or [], strict=True):
        assert torch.equal(x[0], y[0]) and torch.equal(x[1], y[1])


def test_removed_units_auto_is_the_cells_choice_and_linear_is_refused_where_it_cannot_fold():
    from rnnmod.modules.fill import resolve_removed_units

    opt = LearnedOptions(check_every=5, patience=1)
    for cell, fixed in (("gru", "linear"), ("lstm", "dead"), ("rnn", "dead")):
        model, data = fitted(cell)
        bank = bank_of(model, data)
        out, s = learned_masks(model, data, bank, tolerance_pp=5.0, steps=10, options=opt)
        assert s["removed_units"] == "learned" and out.filled  # a budget: the learned fill
        out, s = learned_masks(model, data, bank, target_retained=0.5, steps=5)
        assert s["removed_units"] == fixed and out.filled == (fixed != "dead")  # a fixed target
    stacked = tiny_model("lstm", depth=2, hidden=8)
    masks = bank_of(stacked, data).unit_masks
    assert resolve_removed_units("auto", stacked, masks) == "learned"
    assert resolve_removed_units("auto", stacked, masks, learned_fill=False) == "linear"
    relu = tiny_model("rnn-relu", hidden=8)
    assert resolve_removed_units("auto", relu, bank_of(relu, data).unit_masks) == "dead"
    model, data = fitted("gru")
    gates = bank_of(model, data, gate_strategy="per-gate")
    _, s = learned_masks(model, data, gates, target_retained=0.5, steps=5)
    assert s["removed_units"] == "dead"  # per-gate masks: nothing to fill
    with pytest.raises(RnnmodError, match="per-gate"):
        learned_masks(model, data, gates, target_retained=0.5, steps=5, removed_units="linear")
    unrolled = bank_of(model, data, mode="unrolled")
    _, s = learned_masks(model, data, unrolled, target_retained=0.5, steps=5)
    assert s["removed_units"] == "dead"  # a mask per step: the fill's inputs would change
    for fill in ("linear", "learned"):
        with pytest.raises(RnnmodError, match=f"--removed-units {fill} .*unrolled"):
            learned_masks(model, data, unrolled, target_retained=0.5, steps=5, removed_units=fill)
    with pytest.raises(RnnmodError, match="translator"):
        resolve_removed_units("linear", object(), None)
    with pytest.raises(RnnmodError, match="not 'zero'"):
        resolve_removed_units("zero", model, None)


def test_a_linear_fill_rebuilds_what_the_removed_units_carried():
    """At the same masks, the fill's composed training accuracy is at least the dead units'."""
    model, data = fitted("gru", hidden=24)
    bank = bank_of(model, data)
    dead, _ = learned_masks(
        model, data, bank, target_retained=0.25, steps=200, removed_units="dead"
    )
    filled = ClassifierObjective(
        model, data, bank, LearnedOptions(removed_units="linear"), 0, False,
        torch.Generator().manual_seed(0),
    ).bank(dead.unit_masks)  # fmt: skip
    x, y = data.x_train, data.y_train
    assert filled.filled and not dead.filled  # the same masks, with and without the fill
    assert composed_accuracy(model, filled, x, y) >= composed_accuracy(model, dead, x, y)
    assert filled.scores(model, x[:20], kernel="compact").shape == (len(bank), 20)


def test_a_learned_fill_is_seeded_well_formed_and_the_chosen_checkpoints_own():
    """The fill learns with the masks: same seed, same masks and fills; each module's fill
    reads kept units and writes removed ones only (what a module file may hold); the bank
    returned carries the fill of the checkpoint the budget chose, not the last step's."""
    from rnnmod.modules.fill import check_fill

    model, data = fitted("rnn")
    bank = bank_of(model, data)
    opts = LearnedOptions(check_every=10, patience=100, removed_units="learned", fill_lr=0.01)
    kw = dict(tolerance_pp=3.0, steps=120, seed=0, options=opts)
    out, s = learned_masks(model, data, bank, **kw)
    again, _ = learned_masks(model, data, bank, **kw)
    assert s["removed_units"] == "learned" and out.filled
    for (m, c), (m2, c2) in zip(out.unit_fills, again.unit_fills, strict=True):
        assert torch.equal(m, m2) and torch.equal(c, c2)
        assert float(m.abs().sum()) > 0  # learned, not the dead units' zero fill
    for k in range(len(out)):
        keep = out.unit_masks[0][k, 0].bool()
        assert check_fill((out.unit_fills[0][0][k], out.unit_fills[0][1][k]), keep) == ""
    chosen = s["chosen"]
    assert chosen["step"] < s["steps_run"]  # an earlier checkpoint than the last step
    _, val = seeded_split(len(data.x_train), 0.1, 0, data.y_train)
    acc = composed_accuracy(model, out, data.x_train[val], data.y_train[val])
    assert acc == pytest.approx(chosen["val_accuracy"], abs=1e-6)


def test_a_learned_fill_fits_the_training_split_better_than_dead_units():
    """At a fixed target, learning the fill with the masks fits the training split better than
    dead units do, in a module of about the same size."""
    model, data = fitted("rnn", hidden=24)
    bank = bank_of(model, data)
    x, y = data.x_train, data.y_train
    got = {}
    for removed in ("dead", "learned"):
        opt = LearnedOptions(removed_units=removed, fill_lr=0.01)
        out, s = learned_masks(model, data, bank, target_retained=0.25, steps=200, options=opt)
        got[removed] = (composed_accuracy(model, out, x, y), s["retained_mean"])
    assert got["learned"][0] > got["dead"][0]  # the same target, and the fill fits better
    assert got["learned"][1] == pytest.approx(got["dead"][1], abs=0.1)


def test_a_dataset_validation_split_is_used_as_it_is():
    model, data = fitted("lstm")
    data.x_val, data.y_val = data.x_train[:30], data.y_train[:30]
    bank = bank_of(model, data)
    _, s = learned_masks(model, data, bank, tolerance_pp=1.0, steps=20, seed=0)
    assert s["validation"].startswith("tiny validation split (30 examples)")
    assert s["n_training_examples"] == len(data.x_train)
    assert s["candidates_per_example"] is None  # 4 modules: every module on every example


def test_unsupported_banks_say_how_to_budget_them_instead():
    model, data = tiny_model("lstm"), tiny_data()  # M:1 rolled legacy edits are dead units
    bank = bank_of(model, data, unit_semantics="legacy-edits", mode="unrolled")
    with pytest.raises(RnnmodError, match="legacy-edits.*--method rank"):
        learned_masks(model, data, bank, tolerance_pp=1.0, steps=5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_per_gate_banks_learn_gate_columns(cell):
    model, data = fitted(cell)
    bank = bank_of(model, data, gate_strategy="per-gate")
    out, s = learned_masks(model, data, bank, target_retained=0.4, steps=200, seed=0)
    assert out.unit_masks is None
    assert [m.shape for m in out.gate_masks] == [m.shape for m in bank.gate_masks]
    assert abs(float(out.retained_fraction().mean()) - 0.4) <= 0.15, s
    # the learned columns are what the bank runs: fewer columns change the scores
    assert not torch.allclose(out.scores(model, data.x_test), bank.scores(model, data.x_test))


def fitted_tagger(cell: str = "gru"):
    return fitted(cell, "M:N")


@pytest.mark.parametrize("mode", ["rolled", "unrolled"])
def test_taggers_learn_masks_per_step_group(mode):
    model, data = fitted_tagger()
    bank = bank_of(model, data, mode=mode)
    steps = bank.steps
    out, s = learned_masks(model, data, bank, target_retained=0.4, steps=150, seed=0)
    assert [m.shape for m in out.unit_masks] == [(len(bank), steps, 16)]
    assert (out.unit_masks[0].any(-1)).all()  # every (module, step) keeps a unit
    assert abs(float(out.retained_fraction().mean()) - 0.4) <= 0.15, s
    assert out.scores(model, data.x_test).shape == (len(bank), *data.y_test.shape)


def test_tagger_budget_counts_real_positions_and_never_reads_the_test_split():
    model, data = fitted_tagger("lstm")
    bank = bank_of(model, data, mode="unrolled")
    kw = dict(
        tolerance_pp=3.0, steps=60, seed=0, options=LearnedOptions(check_every=20, dense_below=1)
    )
    ref, s = learned_masks(model, data, bank, **kw)
    assert s["val_monolithic"] > 0.2 and len(s["curve"]) == 3
    data.x_test = torch.full_like(data.x_test, model.cfg.vocab_size + 99)
    got, _ = learned_masks(model, data, bank, **kw)
    assert torch.equal(ref.unit_masks[0], got.unit_masks[0])


def test_a_held_back_share_of_validation_confirms_the_choice():
    """With ``confirm_frac`` the checkpoint is chosen on part of the validation split and kept
    only if the held-back rest judges it within the budget too (else a larger candidate)."""
    model, data = fitted("lstm")
    bank = bank_of(model, data)
    opts = LearnedOptions(check_every=10, patience=100, confirm_frac=0.5)
    out, s = learned_masks(model, data, bank, tolerance_pp=5.0, steps=120, seed=0, options=opts)
    conf = s["confirmation"]
    assert conf["validation"].startswith("confirming on") and conf["passes"] >= 1
    assert s["validation"].startswith("choosing on")
    chosen = s["chosen"]
    assert chosen["within_budget"] and chosen["confirmed_score"] >= conf["reference"] - 0.05 - 1e-9
    _, val = seeded_split(len(data.x_train), 0.1, 0, data.y_train)
    x, y = data.x_train[val], data.y_train[val]
    choose, held = seeded_split(len(x), 0.5, 1, y)
    assert 0 < len(held) < len(val) and len(choose) + len(held) == len(val)
    acc = composed_accuracy(model, out, x[held], y[held])
    assert acc == pytest.approx(chosen["confirmed_score"], abs=1e-6)
    assert composed_accuracy(model, out, x[choose], y[choose]) == pytest.approx(
        chosen["val_accuracy"], abs=1e-6
    )
    with pytest.raises(RnnmodError, match="confirmation's share"):
        learned_masks(model, data, bank, tolerance_pp=5.0, steps=10,
                      options=LearnedOptions(confirm_frac=1.0))  # fmt: skip


def test_lower_bound_is_the_paired_difference_minus_z_standard_errors():
    right = torch.tensor([1, 1, 0, 1, 0, 1, 1, 1], dtype=torch.bool)
    ref = torch.tensor([1, 1, 1, 1, 1, 0, 1, 1], dtype=torch.bool)
    d = right.float() - ref.float()  # 0 0 −1 0 −1 +1 0 0
    se = float(d.std() / len(d) ** 0.5)
    real = torch.ones_like(right)
    got = lower_bound(right, ref, real, 0.9)
    assert got == pytest.approx(float(d.mean()) - 1.2815515655446004 * se, abs=1e-9)
    assert lower_bound(right, ref, real, 0.5) == pytest.approx(float(d.mean()), abs=1e-12)


def test_lower_bound_counts_a_taggers_sentence_once_and_skips_padding():
    # two sentences: every token of the first wrong, of the second right (the reference: all
    # right); the third position of each is padding
    right = torch.tensor([[0, 0, 1], [1, 1, 0]], dtype=torch.bool)
    ref = torch.ones(2, 3, dtype=torch.bool)
    real = torch.tensor([[1, 1, 0], [1, 1, 0]], dtype=torch.bool)
    diff = -2 / 4
    # clusters: d = (−2, 0), n = (2, 2); residuals (−1, +1); se = sqrt(2 · 2/1) / 4
    se = (2 * 2 / 1) ** 0.5 / 4
    z = 1.6448536269514722
    assert lower_bound(right, ref, real, 0.95) == pytest.approx(diff - z * se, abs=1e-9)


def test_a_confidence_level_keeps_at_least_as_many_units_and_records_it():
    model, data = fitted("lstm")
    bank = bank_of(model, data)
    kw = dict(tolerance_pp=2.0, steps=120, seed=0, options=LearnedOptions(check_every=10))
    plain, sp = learned_masks(model, data, bank, **kw)
    sure, ss = learned_masks(model, data, bank, confidence=0.9, **kw)
    assert float(sure.retained_fraction().mean()) >= float(plain.retained_fraction().mean())
    assert ss["confidence"] == 0.9 and sp["confidence"] is None
    assert "lower confidence bound" in ss["validation"]
    # a checkpoint is judged on the bound: below the composed accuracy where the two differ
    gen = torch.Generator().manual_seed(0)
    judge = ClassifierObjective(model, data, bank, LearnedOptions(confidence=0.9), 0, True, gen)
    point = ClassifierObjective(model, data, bank, LearnedOptions(), 0, True, gen)
    half = judge.bank([torch.arange(m[-1]).expand(m) % 2 == 0 for m in judge.shapes])
    raw = composed_accuracy(model, half, judge.val.x, judge.val.y)
    assert point.validate(half) == [raw]
    assert judge.validate(half)[0] < raw
    with pytest.raises(RnnmodError, match="accuracy budget"):
        learned_masks(model, data, bank, target_retained=0.5, steps=2, confidence=0.9)
    with pytest.raises(RnnmodError, match=r"\[0.5, 1\)"):
        learned_masks(model, data, bank, tolerance_pp=1.0, steps=2, confidence=1.0)


def test_a_budget_miss_holds_the_modules_where_they_are():
    model, data = fitted("gru")
    bank = bank_of(model, data)
    opts = LearnedOptions(check_every=10, patience=100, dense_below=1.0, hold_on_miss=True)
    _, s = learned_masks(model, data, bank, tolerance_pp=0.0, steps=200, seed=0, options=opts)
    curve = s["curve"]
    misses = [i for i, p in enumerate(curve[:-1]) if not p["within_budget"]]
    assert misses, "a 0 pp budget on a tiny model should miss somewhere"
    for i in misses:  # after a miss the target stops falling: the next one is no lower
        assert curve[i + 1]["target"] >= curve[i]["retained"] - 0.2
    falling = LearnedOptions(check_every=10, patience=100, dense_below=1.0)
    _, f = learned_masks(model, data, bank, tolerance_pp=0.0, steps=200, seed=0, options=falling)
    assert f["curve"][-1]["target"] < s["curve"][-1]["target"]
    assert s["hold_on_miss"] is True and f["hold_on_miss"] is False


def test_budget_defaults_differ_from_a_fixed_targets():
    steps, opt = ClassifierObjective.defaults(budget=True)
    assert steps == 1600 and opt.batch_size == 32 and opt.hold_on_miss and opt.patience == 8
    assert ClassifierObjective.defaults(budget=False) == (800, LearnedOptions())


def test_a_confidence_level_is_refused_where_it_does_not_apply(tmp_path, capsys):
    from rnnmod.cli import main
    from rnnmod.decomposition.learned import MaskObjective

    model, data = fitted("rnn")
    with pytest.raises(RnnmodError, match="translator"):
        learned_masks(
            model, data, bank_of(model, data), tolerance_pp=1.0, steps=2, confidence=0.9,
            objective=MaskObjective,
        )  # fmt: skip
    base = decompose_argv(tmp_path, "gru", "--quiet")
    sure = ["--budget-confidence", "0.9"]
    assert (
        main([*base, "--out", str(tmp_path / "r"), "--budget", "1pp", "--method", "rank", *sure])
        == 2
    )
    assert "--budget-confidence applies to learned masks" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "t"), "--method", "learned", *sure]) == 2
    assert "accuracy budget" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "t").exists()
    out = tmp_path / "c"
    assert main([*base, "--out", str(out), "--budget", "1pp", "--learn-steps", "30", *sure]) == 0
    import json

    learned = json.loads((out / "manifest.json").read_text())["learned"]
    assert learned["request"]["confidence"] == 0.9 and learned["confidence"] == 0.9
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    promised = json.loads(capsys.readouterr().out)["learned_budget"]
    assert promised["tolerance_pp"] == 1.0 and promised["confidence"] == 0.9
    assert promised["val_monolithic"] == learned["val_monolithic"]
    assert main(["evaluate", str(out)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "learned budget" in x)
    assert line.startswith("  learned budget       1 pp on validation, the 90% lower bound")
    assert line.endswith("held out of mask learning))") and "judged on" not in line


def test_cli_removed_units(tmp_path, capsys):
    import json

    from rnnmod.cli import main
    from rnnmod.modules.store import load_moduleset

    base = decompose_argv(tmp_path, "lstm", "--quiet")
    rank = ["--out", str(tmp_path / "r"), "--budget", "1pp", "--method", "rank"]
    assert main([*base, *rank, "--removed-units", "linear"]) == 2
    assert "--removed-units applies to learned masks" in capsys.readouterr().err
    out = tmp_path / "f"
    learn = ["--method", "learned", "--learn-steps", "20", "--removed-units", "linear"]
    assert main([*base, "--out", str(out), *learn]) == 0
    assert "(removed ones rebuilt by a least-squares linear fill) → " in capsys.readouterr().out
    learned = json.loads((out / "manifest.json").read_text())["learned"]
    assert learned["request"]["removed_units"] == "linear" and learned["removed_units"] == "linear"
    bank = next(iter(load_moduleset(out).banks.values()))
    assert bank.filled  # an LSTM's fill only when asked for
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["removed_units"] == "linear"
    assert res["kernel"].startswith("compact")  # filled modules run on the compact bank
    assert main(["evaluate", str(out)]) == 0
    text = capsys.readouterr().out
    assert "removed units rebuilt from kept ones (linear fill)" in text
    assert f"  scored on            {res['kernel']}" in text
    # auto under a budget: a one-layer LSTM's removed units get a learned fill, and it says so
    auto = tmp_path / "a"
    argv = [*base[:-1], "--json"]  # the same run, a JSON summary
    assert main([*argv, "--out", str(auto), "--budget", "5pp", "--learn-steps", "20"]) == 0
    assert json.loads(capsys.readouterr().out)["removed_units"] == "learned"
    learned = json.loads((auto / "manifest.json").read_text())["learned"]
    assert learned["removed_units"] == "learned" and learned["fill_lr"] == 0.0005
    assert next(iter(load_moduleset(auto).banks.values())).filled
    assert main(["evaluate", str(auto), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed_units"] == "learned"
    assert main(["evaluate", str(auto)]) == 0
    assert "removed units rebuilt from kept ones (learned linear fill)" in capsys.readouterr().out


def test_a_users_gru_that_skips_padding_with_an_mlp_head_gets_its_fill():
    data = tiny_data("M:1", n=120)
    model = fit_tiny(tiny_model("gru", hidden=16, padding="skipped", head_hidden=[9]), data)
    out, s = learned_masks(model, data, bank_of(model, data), target_retained=0.5, steps=20)
    assert s["removed_units"] == "linear" and out.filled
    assert out.compact_for(model) is not None  # the compact bank runs it (packed, MLP head)
    assert out.scores(model, data.x_test).shape == (len(out), len(data.x_test))
    pooled = fit_tiny(tiny_model("gru", hidden=16, readout="mean"), data)
    _, s = learned_masks(pooled, data, bank_of(pooled, data), target_retained=0.5, steps=5)
    assert s["removed_units"] == "dead"  # mean over real steps: auto falls back


@pytest.mark.parametrize("masks_of", ["unit", "gate"])
def test_candidate_modules_score_as_they_do_in_the_full_vote(masks_of):
    """With more modules than ``candidates``, an example is learned under its own module and its
    hardest rivals only: each candidate's head slots are exactly what that module gives the
    example in the full pass, and the rivals are the classes the monolithic model ranks next."""
    data = tiny_data(n=120, n_classes=6)
    model = fit_tiny(tiny_model("lstm", hidden=16, n_classes=6), data)
    cfg = {"gate_strategy": "per-gate"} if masks_of == "gate" else {}
    bank = bank_of(model, data, **cfg)
    gen = torch.Generator().manual_seed(0)
    obj = ClassifierObjective(model, data, bank, LearnedOptions(candidates=3), 0, False, gen)
    assert obj.candidates.shape == (obj.n_examples, 3)
    assert torch.equal(obj.candidates[:, 0], obj.y)
    logits = predict_logits(model, obj.x)[:, bank.class_index]
    logits[torch.arange(obj.n_examples), obj.y] = float("-inf")
    assert torch.equal(obj.candidates[:, 1], logits.argmax(1))  # the strongest rival first
    masks = [torch.rand(shape, generator=gen) > 0.4 for shape in obj.shapes]
    idx = torch.arange(10)
    got = obj.candidate_logits(obj.x[idx], obj.candidates[idx], [m.float() for m in masks])
    full = obj.head_logits(obj.x[idx], [m.float() for m in masks])  # [B, K, R]
    want = torch.stack([full[b, obj.candidates[i]] for b, i in enumerate(idx)])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    every = ClassifierObjective(model, data, bank, LearnedOptions(candidates=0), 0, False, gen)
    assert every.candidates is None  # 0: every module on every example


def test_many_modules_learn_under_their_candidates():
    data = tiny_data(n=120, n_classes=6)
    model = fit_tiny(tiny_model("gru", hidden=16, n_classes=6), data)
    bank = bank_of(model, data)
    opts = LearnedOptions(candidates=3)
    a, sa = learned_masks(model, data, bank, target_retained=0.4, steps=60, seed=1, options=opts)
    data.x_test = torch.full_like(data.x_test, model.cfg.vocab_size + 99)  # would fail if read
    b, _ = learned_masks(model, data, bank, target_retained=0.4, steps=60, seed=1, options=opts)
    assert sa["candidates_per_example"] == 3
    tagger, tags = fitted("gru", "M:N")
    with pytest.raises(RnnmodError, match="one-output classifiers"):
        learned_masks(tagger, tags, bank_of(tagger, tags), steps=2, candidates=3)
    _, st = learned_masks(tagger, tags, bank_of(tagger, tags), steps=2, candidates=0)
    assert st["candidates_per_example"] is None
    assert all(torch.equal(x, y) for x, y in zip(a.unit_masks, b.unit_masks, strict=True))
    assert abs(float(a.retained_fraction().mean()) - 0.4) <= 0.15
    # a budget under candidates: auto leaves the learned fill out (a fill per example row);
    # asked for, it learns through the candidates' rows
    opts = LearnedOptions(candidates=3, check_every=5, patience=1)
    kw = dict(tolerance_pp=5.0, steps=10, options=opts)
    _, s = learned_masks(model, data, bank, **kw)
    assert s["removed_units"] == "linear" and s["candidates_per_example"] == 3
    c, s = learned_masks(model, data, bank, **kw, removed_units="learned")
    assert s["removed_units"] == "learned" and c.filled and s["candidates_per_example"] == 3


def test_cli_learn_candidates(tmp_path, capsys):
    import json

    from rnnmod.cli import main

    base = decompose_argv(tmp_path, "gru", "--quiet")
    rank = ["--out", str(tmp_path / "r"), "--budget", "1pp", "--method", "rank"]
    assert main([*base, *rank, "--learn-candidates", "2"]) == 2
    assert "--learn-candidates needs --method learned" in capsys.readouterr().err
    learn = ["--method", "learned", "--learn-steps", "10"]
    assert main([*base, "--out", str(tmp_path / "x"), *learn, "--learn-candidates", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err
    out = tmp_path / "c"
    assert main([*base, "--out", str(out), *learn, "--learn-candidates", "2"]) == 0
    learned = json.loads((out / "manifest.json").read_text())["learned"]
    assert learned["request"]["candidates"] == 2 and learned["candidates_per_example"] == 2
