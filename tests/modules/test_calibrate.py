"""Score calibration of modules from different models (rnnmod.modules.calibrate)."""

import pytest
import torch

from rnnmod.modules.calibrate import Calibration, fit_calibration


def _two_scales(n: int = 400, seed: int = 0):
    """Module 0 is confident everywhere (scores shifted up by 6), module 1 is not: the raw
    comparison always picks module 0, but both scores carry the label."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    s0 = 6.0 + 2.0 * (y == 0) + 0.5 * torch.randn(n, generator=g)
    s1 = 0.1 * (2.0 * (y == 1) + 0.5 * torch.randn(n, generator=g))
    return torch.stack([s0, s1]), y


def test_calibration_fixes_a_scale_mismatch_the_raw_rule_cannot():
    s, y = _two_scales()
    raw = (s.argmax(0) == y).float().mean()
    assert raw == pytest.approx(float((y == 0).float().mean()))  # module 0 always wins raw
    cal = fit_calibration(s, y)
    s_test, y_test = _two_scales(seed=1)
    assert (cal.predict(s_test) == y_test).float().mean() > 0.95


def test_apply_is_the_per_module_affine_map_and_clamps_infinities():
    cal = Calibration(torch.tensor([2.0, -1.0]), torch.tensor([0.5, 1.0]))
    s = torch.tensor([[1.0, float("-inf")], [3.0, 0.0]])
    out = cal.apply(s)
    assert out.tolist() == [[2.5, -99.5], [-2.0, 1.0]]
    assert cal.predict(s).tolist() == [0, 1]


def test_fit_handles_separable_classes_and_a_module_without_positions():
    s = torch.tensor([[5.0, 4.0, float("-inf"), float("-inf")], [0.0, 0.1, 0.2, 0.3]])
    y = torch.tensor([0, 0, 1, 1])
    cal = fit_calibration(s, y)
    assert torch.isfinite(cal.weight).all() and torch.isfinite(cal.bias).all()
    assert cal.predict(s).tolist() == [0, 0, 1, 1]


def test_three_modules_and_bad_shapes():
    g = torch.Generator().manual_seed(2)
    y = torch.randint(0, 3, (300,), generator=g)
    s = torch.randn(3, 300, generator=g) + 3.0 * torch.nn.functional.one_hot(y, 3).T
    s[2] *= 10  # module 2 on a larger scale
    cal = fit_calibration(s, y)
    assert (cal.predict(s) == y).float().mean() > 0.9
    with pytest.raises(ValueError):
        fit_calibration(s, y[:10])
    with pytest.raises(ValueError):
        fit_calibration(s[:, :0], y[:0])
