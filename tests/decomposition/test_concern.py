"""Statistics and the removal rule on hand-made numbers (paper-method §6.3-6.4)."""

import math

import numpy as np
import pytest
import torch

from rnnmod.decomposition.concern import (
    active_rate,
    robust_mean_abs,
    select_active_rate,
    select_comparison,
    select_per_gate,
)
from rnnmod.errors import RnnmodError


def _np_robust_mean(a):
    a = np.abs(np.asarray(a, dtype=np.float64))
    med = np.median(a)
    dev = np.abs(a - med)
    mad = np.median(dev)
    kept = a if mad == 0 else a[dev / mad < 2]
    return kept.mean()


def test_robust_mean_matches_numpy_reference():
    g = torch.Generator().manual_seed(0)
    vals = torch.randn(3, 9, 5, generator=g)
    vals[0, 0, 0] = 40.0  # an outlier that must be cut
    valid = torch.ones(3, 9, dtype=torch.bool)
    valid[1, 6:] = False  # a group with fewer observations (even count: median averages two)
    got = robust_mean_abs(vals, valid)
    for k in range(3):
        n = int(valid[k].sum())
        for w in range(5):
            assert got[k, w].item() == pytest.approx(
                _np_robust_mean(vals[k, :n, w].numpy()), rel=1e-5
            )
    assert got[0, 0] < 5


def test_robust_mean_zero_mad_keeps_everything_and_empty_is_nan():
    vals = torch.tensor([[[1.0], [1.0], [1.0], [7.0]]])
    assert robust_mean_abs(vals, torch.ones(1, 4, dtype=torch.bool)).item() == pytest.approx(2.5)
    assert math.isnan(robust_mean_abs(vals, torch.zeros(1, 4, dtype=torch.bool)).item())


def test_active_rate():
    vals = torch.tensor([[[0.5, -1.0], [0.0, 0.2], [-0.6, 0.7]]])
    valid = torch.ones(1, 3, dtype=torch.bool)
    torch.testing.assert_close(
        active_rate(vals, valid), torch.tensor([[1 / 3, 2 / 3]], dtype=torch.float64)
    )
    gate = active_rate(vals, valid, 0.5, absolute=True, inclusive=True)
    torch.testing.assert_close(gate, torch.tensor([[2 / 3, 2 / 3]], dtype=torch.float64))


def _removed(d, cap, **kw):
    return (
        select_comparison(torch.tensor(d, dtype=torch.float32), cap, **kw)
        .nonzero()
        .flatten()
        .tolist()
    )


def test_cap_limits_removal_to_the_most_negative():
    # 10 units, cap 20 % → 2 units; the 1.1 rule does not fire (−1 / −0.5 = 2)
    d = [0.3, -0.5, -1.0, -0.8, 0.1, -0.2, 0.0, 0.4, 0.2, -0.1]
    assert _removed(d, 0.2) == [2, 3]


def test_ratio_rule_removes_units_close_to_the_worst_past_the_cap():
    # cap 10 % of 10 = 1; −0.95 is within 1.1× of −1.0 → removed too; −0.8 is not (1.25)
    d = [-1.0, -0.95, -0.8, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    assert _removed(d, 0.1) == [0, 1]


def test_default_preset_stops_at_the_cap_and_paper_preset_keeps_the_ratio_rule():
    from rnnmod.decomposition.config import preset

    d = torch.tensor([-1.0, -0.95, -0.8, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    stop = select_comparison(d, 0.1, ratio=preset("default").ratio_rule)
    assert stop.nonzero().flatten().tolist() == [0]  # the paper's stated rule: at most the cap
    paper = select_comparison(d, 0.1, ratio=preset("paper").ratio_rule)
    assert paper.nonzero().flatten().tolist() == [0, 1]  # the authors' code: 1.1 rule past it
    with pytest.raises(RnnmodError, match="ratio_rule"):
        preset("default", ratio_rule=-1.0)


def test_all_positive_d_removes_nothing_and_ties_are_stable():
    assert _removed([0.1] * 10, 0.5) == []
    assert _removed([0.0] * 10, 0.5) == []
    # equal d: the first units in index order go first (stable sort)
    assert _removed([-0.5] * 4 + [1.0] * 16, 0.1) == [0, 1, 2, 3]  # 1.1 rule: −0.5/−0.5 = 1 < 1.1
    assert _removed([-0.5, -0.5, -0.3, -0.3] + [1.0] * 16, 0.05) == [0, 1]


def test_nan_means_keep():
    assert _removed([math.nan] * 10, 0.5) == []


def test_cap_count_on_256_units_is_13():
    d = torch.linspace(-2, -1, 256)  # all negative, ratio rule only for those within 1.1×
    removed = select_comparison(d, 0.05, ratio=0.0)
    assert int(removed.sum()) == 13


def test_relu_rule():
    d = torch.tensor([-0.9, -0.6, -0.5, -0.4, 0.2] + [0.0] * 15)
    assert select_active_rate(d, 0.1).nonzero().flatten().tolist() == [0, 1]  # cap 2 of 20
    assert select_active_rate(d, 0.5).nonzero().flatten().tolist() == [0, 1, 2]  # -0.5 counts (≤)


def test_per_gate_caps_each_block():
    d = torch.tensor([-3.0, -2.0, -1.0, 1.0] * 2 + [1.0] * 4)  # 3 blocks of 4 columns
    got = select_per_gate(d, 3, 0.5)  # cap 2 per block
    assert got.nonzero().flatten().tolist() == [0, 1, 4, 5]


def test_selection_is_vectorised_over_leading_dims():
    d = torch.tensor([[[-1.0, 0.5, -2.0, 0.1]], [[0.3, -0.4, 0.2, 0.2]]])
    got = select_comparison(d, 0.25)
    assert got.shape == d.shape
    assert got[0, 0].nonzero().flatten().tolist() == [2]
    assert got[1, 0].nonzero().flatten().tolist() == [1]
