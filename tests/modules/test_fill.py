"""Linear fills: removed units reconstructed from kept ones. The engine runs the fill as it is;
the compact bank folds it into the kept units' weights — they must agree; the fit must recover
an exact linear relation; a module file with a fill round-trips and a malformed one is refused."""

import pytest
import torch

from rnnmod.errors import RnnmodError
from rnnmod.modules.fill import (
    check_fill,
    fill_unsupported,
    fit_linear_fills,
    module_weights,
    state_gram,
)
from rnnmod.modules.module import ModuleBank
from tests.helpers import tiny_model
from tests.modules.test_compact_bank import random_bank


def with_random_fills(bank: ModuleBank, seed: int = 0, scale: float = 0.3) -> ModuleBank:
    """A copy of ``bank`` with a random fill on every layer (reading kept units, writing removed
    ones)."""
    g = torch.Generator().manual_seed(seed)
    fills = []
    for m in bank.unit_masks:
        keep = m[:, 0].float()  # [K, H]
        k, h = keep.shape
        w = torch.randn(k, h, h, generator=g) * scale * keep[:, :, None] * (1 - keep)[:, None, :]
        c = torch.randn(k, h, generator=g) * scale * (1 - keep)
        fills.append((w, c))
    out = bank.select(list(range(len(bank))))  # a new bank: nothing cached for the dead one
    out.unit_fills = fills
    return out


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "rnn-relu"])
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("io_type", ["M:1", "M:N"])
@pytest.mark.parametrize("rows", [7, 21])  # the compact bank's batched path / module by module
def test_the_folded_compact_bank_equals_the_filled_engine(cell, depth, io_type, rows, compact_path):
    model = tiny_model(cell, depth=depth, io_type=io_type, hidden=10).eval()
    bank = with_random_fills(random_bank(model, k=4, seed=depth), seed=depth)
    ids = torch.randint(1, 12, (rows, 6))
    ids[:3, :2] = 0
    eng = bank.scores(model, ids, kernel="engine", output="logits")
    got = bank.scores(model, ids, kernel="compact", output="logits")
    assert torch.allclose(got, eng, atol=1e-5)
    dead = random_bank(model, k=4, seed=depth).scores(model, ids, kernel="engine", output="logits")
    assert not torch.allclose(eng, dead, atol=1e-3)  # the fill changes what the modules say


@pytest.mark.parametrize("rows", [7, 21])
def test_a_copy_without_its_fills_does_not_run_the_filled_kernels(rows):
    """The compact kernels are cached per bank: a dataclasses.replace copy (which keeps every
    other field) and a bank whose fills are reassigned after scoring score as what they are."""
    from dataclasses import replace

    model = tiny_model("gru", hidden=10).eval()
    filled = with_random_fills(random_bank(model, k=4, seed=1), seed=1)
    ids = torch.randint(1, 12, (rows, 6))
    dead = random_bank(model, k=4, seed=1).scores(model, ids, kernel="engine", output="logits")
    filled_scores = filled.scores(model, ids, kernel="compact", output="logits")
    copy = replace(filled, unit_fills=None)
    assert torch.allclose(
        copy.scores(model, ids, kernel="compact", output="logits"), dead, atol=1e-5
    )
    filled.unit_fills = None
    assert torch.allclose(
        filled.scores(model, ids, kernel="compact", output="logits"), dead, atol=1e-5
    )
    assert not torch.allclose(filled_scores, dead, atol=1e-3)


def test_a_removed_unit_emits_its_fill_from_the_first_step():
    model = tiny_model("gru", hidden=6).eval()
    bank = with_random_fills(random_bank(model, k=2, keep=0.5, seed=3), seed=3)
    ids = torch.randint(1, 12, (5, 4))
    run = model.run_engine(
        ids, unit_masks=[m.float() for m in bank.unit_masks], batch_groups=2,
        unit_fills=bank.unit_fills,
    )  # fmt: skip
    h = run.hidden[0].reshape(2, 5, 4, 6)
    m, c = bank.unit_fills[0]
    keep = bank.unit_masks[0][:, 0]
    for k in range(2):
        want = h[k] @ m[k] + c[k]  # kept units' states → removed units'
        assert torch.allclose(h[k][..., ~keep[k]], want[..., ~keep[k]], atol=1e-6)


def test_the_fit_recovers_an_exact_linear_relation():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(500, 4, generator=g)
    states = torch.cat([base, base @ torch.randn(4, 3, generator=g) + 0.5], 1)  # 3 = f(4)
    keep = torch.tensor([[True] * 4 + [False] * 3, [True, True, False, True, True, True, True]])
    ((m, c),) = fit_linear_fills([state_gram(states)], [keep[:, None]])
    filled = states * keep[0] + states @ m[0] + c[0]
    assert torch.allclose(filled, states, atol=1e-4)  # the removed units exactly rebuilt
    assert check_fill((m[1], c[1]), keep[1]) == ""
    assert not bool(m[1][~keep[1]].any()) and not bool(c[1][keep[1]].any())


def test_fold_is_the_source_where_nothing_is_filled():
    model = tiny_model("lstm", depth=2, hidden=8).eval()
    bank = random_bank(model, k=3)
    mw = module_weights(model, None, bank.head_weight, bank.head_bias)
    assert torch.equal(mw.w_hh[1][2], model.rnns[1].weight_hh_l0)
    assert torch.equal(mw.head_w, bank.head_weight)


def test_check_fill_refuses_a_fill_that_writes_kept_units():
    keep = torch.tensor([True, False, True])
    m = torch.zeros(3, 3)
    m[0, 2] = 1.0  # writes kept unit 2
    assert "kept units only" in check_fill((m, torch.zeros(3)), keep)
    assert "float32" in check_fill((m.double(), torch.zeros(3)), keep)


def test_fills_need_the_zoo_shapes_on_torch_gates():
    model = tiny_model("gru", hidden=6).eval()
    masks = random_bank(model, k=2).unit_masks
    assert fill_unsupported(model, masks) == ""
    assert "gate" in fill_unsupported(model, None)
    unrolled = [torch.ones(2, 3, 6, dtype=torch.bool)]  # even equal steps: learning may split them
    assert "unrolled" in fill_unsupported(model, unrolled)


def test_a_filled_bank_round_trips_through_module_tensors(tmp_path):
    from rnnmod.modules.module import _read_fills

    model = tiny_model("gru", depth=2, hidden=6).eval()
    bank = with_random_fills(random_bank(model, k=2))
    tensors, _ = bank.module_tensors(1)
    masks = [m[1] for m in bank.unit_masks]
    fills = _read_fills(tmp_path / "m.safetensors", tensors, masks, model)
    assert torch.equal(fills[1][0], bank.unit_fills[1][0][1])
    tensors["unit_fill.0.weight"] = tensors["unit_fill.0.weight"] + 1.0
    with pytest.raises(RnnmodError, match="unit_fill.0"):
        _read_fills(tmp_path / "m.safetensors", tensors, masks, model)


def test_the_native_kernel_refuses_a_filled_bank():
    model = tiny_model("lstm", hidden=6).eval()
    bank = with_random_fills(random_bank(model, k=2))
    with pytest.raises(ValueError, match="filled units"):
        bank.scores(model, torch.randint(1, 12, (3, 4)), kernel="native")
    assert bank.select([1]).unit_fills[0][0].shape == (1, 6, 6)
