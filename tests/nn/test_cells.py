"""The cell engine reproduces torch.nn layers and applies masks with dead-unit semantics."""

import pytest
import torch
from torch import nn

from rnnmod.nn.cells import CELL_KINDS, LayerWeights, canonical_mask, run_stack


def _native(cell: str, inp: int, hidden: int, depth: int) -> nn.RNNBase:
    if cell == "lstm":
        return nn.LSTM(inp, hidden, depth, batch_first=True)
    if cell == "gru":
        return nn.GRU(inp, hidden, depth, batch_first=True)
    return nn.RNN(
        inp, hidden, depth, batch_first=True, nonlinearity="relu" if cell == "rnn-relu" else "tanh"
    )


def _layers_of(ref: nn.RNNBase) -> list[LayerWeights]:
    return [
        LayerWeights(
            getattr(ref, f"weight_ih_l{k}"),
            getattr(ref, f"weight_hh_l{k}"),
            getattr(ref, f"bias_ih_l{k}"),
            getattr(ref, f"bias_hh_l{k}"),
        )
        for k in range(ref.num_layers)
    ]


@pytest.mark.parametrize("cell", CELL_KINDS)
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_engine_matches_torch(cell, depth):
    torch.manual_seed(depth)
    ref = _native(cell, 7, 11, depth)
    x = torch.randn(5, 9, 7)
    with torch.no_grad():
        want, state = ref(x)
        got = run_stack(x, _layers_of(ref), cell, record_gates=True)
    torch.testing.assert_close(got.output, want, atol=1e-5, rtol=1e-5)
    final = state[0] if cell == "lstm" else state
    for k in range(depth):
        torch.testing.assert_close(got.final_h[k], final[k], atol=1e-5, rtol=1e-5)
    if cell == "lstm":
        for k in range(depth):
            torch.testing.assert_close(got.final_c[k], state[1][k], atol=1e-5, rtol=1e-5)
    g = {"lstm": 4, "gru": 3}.get(cell, 1)
    assert all(t.shape == (5, 9, g * 11) for t in got.gates)


@pytest.mark.parametrize("cell", CELL_KINDS)
def test_removed_units_are_exactly_zero(cell):
    torch.manual_seed(0)
    ref = _native(cell, 4, 8, 2)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.5)  # make sure dead units would be non-zero if they were alive
        keep = torch.ones(8)
        keep[[1, 5]] = 0
        out = run_stack(
            torch.randn(3, 6, 4), _layers_of(ref), cell, unit_masks=[canonical_mask(keep)] * 2
        )
    for h in out.hidden:
        assert torch.all(h[..., [1, 5]] == 0)
        assert torch.all(h[..., 0] != 0)


@pytest.mark.parametrize("cell", CELL_KINDS)
def test_mask_equals_zeroed_weights(cell):
    """Masking a unit equals deleting its incoming, recurrent and bias weights (dead-unit semantics)."""
    torch.manual_seed(1)
    ref = _native(cell, 4, 6, 1)
    x = torch.randn(3, 5, 4)
    keep = torch.tensor([1.0, 0, 1, 1, 0, 1])
    with torch.no_grad():
        masked = run_stack(x, _layers_of(ref), cell, unit_masks=[canonical_mask(keep)]).output
        g = ref.weight_ih_l0.shape[0] // 6
        rows = keep.repeat(g).bool()
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(ref, name)[~rows] = 0
        ref.weight_hh_l0[:, ~keep.bool()] = 0
        want, _ = ref(x)
    torch.testing.assert_close(masked, want, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("cell", CELL_KINDS)
def test_unrolled_same_mask_equals_rolled(cell):
    torch.manual_seed(2)
    ref = _native(cell, 4, 6, 2)
    x = torch.randn(3, 5, 4)
    keep = torch.tensor([1.0, 0, 1, 1, 0, 1])
    with torch.no_grad():
        rolled = run_stack(x, _layers_of(ref), cell, unit_masks=[canonical_mask(keep)] * 2).output
        per_step = canonical_mask(keep.expand(5, 6), per_step=True)
        unrolled = run_stack(x, _layers_of(ref), cell, unit_masks=[per_step] * 2).output
    torch.testing.assert_close(rolled, unrolled, atol=0, rtol=0)


def test_grouped_masks_equal_separate_runs():
    torch.manual_seed(3)
    ref = _native("lstm", 4, 6, 2)
    x = torch.randn(3, 5, 4)
    masks = torch.bernoulli(torch.full((4, 6), 0.7))
    with torch.no_grad():
        fused = run_stack(
            x.repeat(4, 1, 1), _layers_of(ref), "lstm", unit_masks=[canonical_mask(masks)] * 2
        )
        for m in range(4):
            one = run_stack(x, _layers_of(ref), "lstm", unit_masks=[canonical_mask(masks[m])] * 2)
            torch.testing.assert_close(
                fused.output[m * 3 : (m + 1) * 3], one.output, atol=1e-6, rtol=1e-6
            )


def test_step_valid_carries_state():
    torch.manual_seed(4)
    ref = _native("gru", 3, 5, 1)
    x = torch.randn(2, 4, 3)
    valid = torch.tensor([[True, True, False, False], [True, True, True, True]])
    with torch.no_grad():
        out = run_stack(x, _layers_of(ref), "gru", step_valid=valid).output
    torch.testing.assert_close(out[0, 2], out[0, 1])
    torch.testing.assert_close(out[0, 3], out[0, 1])
