"""Learned unit masks: seeded, training split only, near the target, unsupported kinds refused."""

import pytest
import torch

from rnnmod.decomposition import decompose, preset
from rnnmod.decomposition.learned import binarise, learned_masks, straight_through
from rnnmod.errors import RnnmodError
from tests.helpers import tiny_data, tiny_model


def fitted(cell: str, io_type: str = "M:1", hidden: int = 16):
    """A tiny model trained to fit its tiny data (the masks need a signal to learn from)."""
    model, data = tiny_model(cell, io_type=io_type, hidden=hidden), tiny_data(io_type, n=120)
    torch.manual_seed(0)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(data.x_train), data.y_train).backward()
        opt.step()
    model.eval()
    return model, data


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
    keep = binarise([torch.tensor([[-1.0, -0.5, -2.0], [1.0, -1.0, 0.5]])])[0]
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


@pytest.mark.parametrize("cell,io_type", [("lstm", "M:1"), ("gru", "1:1")])
def test_retained_fraction_ends_near_the_target(cell, io_type):
    model, data = fitted(cell, io_type)
    bank = bank_of(model, data)
    out, summary = learned_masks(model, data, bank, target_retained=0.3, steps=400, seed=0)
    retained = float(out.retained_fraction().mean())
    assert abs(retained - 0.3) <= 0.1, summary
    assert summary["retained_mean"] == pytest.approx(retained, abs=1e-6)


@pytest.mark.parametrize(
    "io_type,cfg,what",
    [
        ("M:N", {}, "M:N"),
        ("1:N", {}, "1:N"),
        ("M:1", {"mode": "unrolled"}, "--mode unrolled"),
        ("M:1", {"gate_strategy": "per-gate"}, "per-gate"),
    ],
)
def test_unsupported_kinds_are_refused(io_type, cfg, what):
    model, data = tiny_model("lstm", io_type=io_type), tiny_data(io_type)
    bank = bank_of(model, data, min_observations=1, **cfg)
    with pytest.raises(RnnmodError, match="not supported yet") as err:
        learned_masks(model, data, bank, target_retained=0.2, steps=2)
    assert what in str(err.value) and "\n" not in str(err.value)


def test_target_out_of_range_is_refused():
    model, data = tiny_model("lstm"), tiny_data()
    with pytest.raises(RnnmodError, match="target-retained"):
        learned_masks(model, data, bank_of(model, data), target_retained=0.0, steps=2)


def test_the_cli_budget_and_learned_paths_run(tmp_path, capsys):
    """`rnnmod decompose --budget` and `--method learned` from the command line, end to end."""
    import json

    from rnnmod.cli import main
    from tests.reliability.util import make_run, write_csv

    run = make_run(tmp_path / "run", write_csv(tmp_path / "d.csv"), cell="lstm", depth=1)
    base = ["decompose", str(run), "--n-positive", "8", "--min-observations", "1", "--json"]
    assert main([*base, "--out", str(tmp_path / "b"), "--budget", "1pp", "--quiet"]) == 0
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["budget"]["request"]
    argv = [*base, "--out", str(tmp_path / "l"), "--method", "learned", "--quiet"]
    assert main([*argv, "--target-retained", "0.5"]) == 0
    assert "learned" in json.loads((tmp_path / "l" / "manifest.json").read_text())
