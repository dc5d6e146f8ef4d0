"""Budgeted decomposition: nested removal sets, the bisection, the held-out split, the cost model."""

import math

import pytest
import torch

from rnnmod.decomposition import decompose, preset
from rnnmod.decomposition.budget import (
    Ranking,
    bisect_largest_feasible,
    budget_search,
    budgeted_decompose,
    keep_mask,
    parse_tolerance,
    unit_ranks,
    validation_split,
)
from rnnmod.errors import RnnmodError
from rnnmod.metrics.cost import composed_cost, module_macs, monolithic_macs
from rnnmod.nn.cells import CELL_KINDS, N_GATES
from tests.helpers import tiny_data, tiny_model


def test_ties_go_to_the_lower_unit_index():
    d = torch.tensor([[[0.5, -1.0, 0.5, -1.0, float("nan"), 0.0]]])
    assert unit_ranks(d)[0, 0].tolist() == [3, 0, 4, 1, 5, 2]


@pytest.mark.parametrize("cell", CELL_KINDS)
@pytest.mark.parametrize(
    "io_type,mode,strategy",
    [
        ("M:1", "rolled", "hidden-state"),
        ("M:1", "unrolled", "hidden-state"),
        ("M:N", "rolled", "hidden-state"),
        ("M:1", "rolled", "per-gate"),
    ],
)
def test_removal_sets_are_nested(cell, io_type, mode, strategy):
    model = tiny_model(cell, depth=2, io_type=io_type)
    data = tiny_data(io_type)
    cfg = preset("default", mode=mode, gate_strategy=strategy, min_observations=1)
    dec = decompose(model, data, cfg, progress=False)
    ranking = Ranking.of(dec, cell)
    blocks = N_GATES[cell] if strategy == "per-gate" else 1
    k = len(dec.bank)
    for layer in range(ranking.depth):
        ranks, thin = ranking.ranks[layer], ranking.thin[layer]
        prev = None
        for r in range(ranking.group_width + 1):
            keep = keep_mask(ranks, thin, torch.full((k,), r))
            removed = ~keep
            per_block = removed.reshape(*removed.shape[:-1], blocks, -1).sum(-1)
            assert torch.all(per_block[~thin] == r)  # exactly r per group (and gate block)
            assert not removed[thin].any()  # thin groups keep every unit
            if prev is not None:
                assert torch.all(removed | ~prev)  # removed(r-1) ⊆ removed(r)
            prev = removed


@pytest.mark.parametrize("width", [1, 7, 100, 256])
def test_bisection_finds_the_largest_feasible_value(width):
    g = torch.Generator().manual_seed(width)
    r_star = torch.randint(0, width + 1, (25,), generator=g)
    r_star[:3] = torch.tensor([0, width, width // 2])
    calls = []

    def oracle(items, r):  # hand-made monotone oracle: feasible iff r ≤ r*
        calls.append(len(items))
        assert torch.all(r <= width) and torch.all(r >= 0)
        return r <= r_star[items]

    found, rounds = bisect_largest_feasible(oracle, torch.zeros(25), torch.full((25,), width))
    assert torch.equal(found, r_star)
    assert rounds == len(calls) <= math.ceil(math.log2(width + 1))
    lo = torch.minimum(r_star, torch.full((25,), 3))  # a feasible lower start
    found, _ = bisect_largest_feasible(oracle, lo, torch.full((25,), width))
    assert torch.equal(found, r_star)


def _search(data, metric="ovr", tol=1.0):
    model = tiny_model("lstm", depth=2)
    dec, summary = budgeted_decompose(
        model, data, preset("default", min_observations=1), tolerance_pp=tol, metric=metric,
        progress=False,
    )  # fmt: skip
    return dec, summary


@pytest.mark.parametrize("with_validation", [False, True])
def test_search_never_reads_the_test_split(with_validation):
    data = tiny_data(n=80)
    if with_validation:
        data.x_val, data.y_val = tiny_data(n=40, seed=5).x_train, tiny_data(n=40, seed=5).y_train
    dec, summary = _search(data, "vote")
    # poison the test split: ids outside the vocabulary would fail any embedding lookup
    data.x_test = torch.full_like(data.x_test, -1)
    data.y_test = torch.full_like(data.y_test, 99)
    dec2, summary2 = _search(data, "vote")
    for a, b in zip(dec.bank.unit_masks, dec2.bank.unit_masks):
        assert torch.equal(a, b)
    assert [i["budget"] for i in dec.bank.info] == [i["budget"] for i in dec2.bank.info]
    assert ("validation split" in summary["validation"]) == with_validation


def test_validation_carved_from_train_is_seeded_and_stratified():
    data = tiny_data(n=100)
    x1, y1, _ = validation_split(data, 0.2, seed=3)
    x2, y2, _ = validation_split(data, 0.2, seed=3)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert torch.equal(torch.bincount(y1), torch.full((4,), 5))


@pytest.mark.parametrize("metric", ["ovr", "vote"])
def test_budget_stays_within_tolerance_and_zero_tolerance_allows_no_loss(metric):
    model, data = tiny_model("gru", depth=2), tiny_data(n=80)
    dec = decompose(model, data, preset("default", min_observations=1), progress=False)
    ranking = Ranking.of(dec, "gru")
    x, y, _ = validation_split(data, 0.25, 0)
    for tol in (0.0, 5.0):
        res = budget_search(model, dec.bank, ranking, x, y, tolerance_pp=tol, metric=metric)
        assert torch.all(res.final >= res.reference - tol / 100 - 1e-9)
        assert res.counts.shape == (len(dec.bank), 2)
        info = res.bank.info[0]["budget"]
        assert len(info["retained_per_layer"]) == 2


def test_everything_removed_is_allowed_by_a_full_tolerance():
    model, data = tiny_model("rnn"), tiny_data()
    dec = decompose(model, data, preset("default", min_observations=1), progress=False)
    x, y, _ = validation_split(data, 0.25, 0)
    res = budget_search(model, dec.bank, Ranking.of(dec, "rnn"), x, y, tolerance_pp=100)
    assert torch.all(res.counts == model.cfg.hidden)


def test_fraction_bank_matches_the_rounded_count():
    model, data = tiny_model("lstm", hidden=10), tiny_data()
    dec = decompose(model, data, preset("default", min_observations=1), progress=False)
    bank = Ranking.of(dec, "lstm").fraction_bank(dec.bank, 0.35)
    assert torch.all(bank.unit_masks[0].sum(-1) == 7)  # floor(3.5) = 3 removed


def test_parse_tolerance():
    assert parse_tolerance("1pp") == 1.0 and parse_tolerance(" 0.5 PP ") == 0.5
    assert parse_tolerance("2") == 2.0
    with pytest.raises(RnnmodError):
        parse_tolerance("a lot")
    with pytest.raises(RnnmodError):
        parse_tolerance("-1pp")


@pytest.mark.parametrize("cell", CELL_KINDS)
def test_cost_model(cell):
    model, data = tiny_model(cell, depth=2, hidden=8), tiny_data()
    g, h, e, t, c = N_GATES[cell], 8, 5, model.steps, 4
    mono = monolithic_macs(model)
    assert mono == t * (g * h * (e + h) + g * h * (h + h)) + c * h
    dec = decompose(model, data, preset("default", max_remove=0.0, ratio_rule=0.0), progress=False)
    full = module_macs(model, dec.bank)
    assert torch.all(full == mono - c * h + 2 * h)  # only the head differs
    half = Ranking.of(dec, cell).fraction_bank(dec.bank, 0.5)
    k = 4
    want = t * (g * k * (e + k) + g * k * (k + k)) + 2 * k
    assert torch.all(module_macs(model, half) == want)
    cost = composed_cost(model, half)
    assert cost["cost_relative"] == pytest.approx(want / mono)


@pytest.mark.parametrize("cell", CELL_KINDS)
@pytest.mark.parametrize(
    "io_type,mode,strategy",
    [("M:N", "rolled", "hidden-state"), ("M:1", "unrolled", "hidden-state"),
     ("1:N", "unrolled", "hidden-state"), ("M:1", "rolled", "per-gate")],
)  # fmt: skip
def test_budget_runs_for_every_shape(cell, io_type, mode, strategy):
    model, data = tiny_model(cell, depth=2, io_type=io_type), tiny_data(io_type, n=80)
    cfg = preset("default", mode=mode, gate_strategy=strategy, min_observations=1)
    for metric in ("ovr", "vote"):
        dec, summary = budgeted_decompose(
            model, data, cfg, tolerance_pp=2.0, metric=metric, progress=False
        )
        masks = dec.bank.unit_masks or dec.bank.gate_masks
        assert masks[0].shape[1] == (model.steps if mode == "unrolled" else 1)
        assert summary["fused_passes"] >= 2 and "training split" in summary["validation"]
        for info in dec.bank.info:
            b = info["budget"]
            assert b[f"val_{metric}"] >= b[f"val_{metric}_unpruned"] - 0.02 - 1e-9
