"""``legacy-edits`` unit semantics: the cell engine against a direct re-implementation of the
original tool's edited weight copies (tests/legacy_reference.py), on tiny hand-made stacks.
Both run in float64 here, so 1e-6 checks the algebra, not rounding; the module bank's float32
scores are checked against the same reference in tests/modules/test_legacy_bank.py."""

import numpy as np
import pytest
import torch
from torch import nn

from rnnmod.nn.cells import N_GATES, LayerWeights, canonical_mask, legacy_head_features, run_stack
from tests.legacy_reference import original_module, run_original

# (cell, GRU reset_after): torch's GRU and Keras' reset_after=False
CELLS = [("lstm", True), ("gru", True), ("gru", False), ("rnn", True), ("rnn-relu", True)]
HIDDEN, STEPS, INPUT, BATCH, CLASSES = 6, 5, 3, 4, 3


def _stack(cell: str, depth: int, seed: int) -> list[LayerWeights]:
    torch.manual_seed(seed)
    if cell == "lstm":
        ref = nn.LSTM(INPUT, HIDDEN, depth)
    elif cell == "gru":
        ref = nn.GRU(INPUT, HIDDEN, depth)
    else:
        ref = nn.RNN(INPUT, HIDDEN, depth, nonlinearity="relu" if cell == "rnn-relu" else "tanh")
    with torch.no_grad():
        for p in ref.parameters():
            p.mul_(3.0)  # larger weights: removed units carry clearly non-zero states
    return [
        LayerWeights(
            *(
                getattr(ref, f"{n}_l{k}").detach().double()
                for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            )
        )
        for k in range(depth)
    ]


def _masks(depth: int, steps: int, seed: int) -> list[torch.Tensor]:
    """Per layer [steps, H] bool: two random units removed at every step."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(depth):
        m = torch.ones(steps, HIDDEN, dtype=torch.bool)
        for t in range(steps):
            m[t, torch.randperm(HIDDEN, generator=g)[:2]] = False
        out.append(m)
    return out


def _engine(layers, x, cell, reset_after, masks, semantics, head_step):
    unit = [canonical_mask(m.float(), per_step=True) for m in masks]
    out = run_stack(
        x, layers, cell, unit_masks=unit, gru_reset_after=reset_after, unit_semantics=semantics
    )
    return out, unit


@pytest.mark.parametrize(("cell", "reset_after"), CELLS)
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("script", ["m1-unrolled", "many-unrolled", "many-rolled"])
def test_engine_equals_the_originals_edited_weight_copies(cell, reset_after, depth, script):
    """Every hidden state of every layer, and the output layer's logits, equal the original's
    step loop over its edited weight copies to 1e-6 — for M:1 unrolled modules (the head drops
    the units removed at the last step) and for many-output ones, unrolled (the head is step 0's)
    and rolled (one mask, the same algebra at every step)."""
    seed = depth * 10 + len(script)
    layers = _stack(cell, depth, seed)
    steps = 1 if script == "many-rolled" else STEPS
    masks = _masks(depth, steps, seed)
    head = torch.randn(
        CLASSES, HIDDEN, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    x = torch.randn(
        BATCH, STEPS, INPUT, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64
    )
    one_output = script.startswith("m1")
    with torch.no_grad():
        out, unit = _engine(layers, x, cell, reset_after, masks, "legacy-edits", None)
        feats = out.output[:, -1] if one_output else out.output
        logits = legacy_head_features(feats, unit[-1], -1 if one_output else 0) @ head.T
    weights, head_edited = original_module(
        layers, head.numpy(), [m.numpy() for m in masks], script, seed=seed
    )
    states, want = run_original(
        weights, head_edited, x.numpy(), cell, gru_reset_after=reset_after, one_output=one_output
    )
    for got, ref in zip(out.hidden, states):
        np.testing.assert_allclose(got.numpy(), ref, atol=1e-6, rtol=0)
    np.testing.assert_allclose(logits.numpy(), want, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("cell", "reset_after"), CELLS)
def test_removed_units_carry_a_state_under_legacy_edits_and_none_when_dead(cell, reset_after):
    layers = _stack(cell, 2, 7)
    masks = _masks(2, STEPS, 7)
    x = torch.randn(
        BATCH, STEPS, INPUT, generator=torch.Generator().manual_seed(8), dtype=torch.float64
    )
    with torch.no_grad():
        legacy, _ = _engine(layers, x, cell, reset_after, masks, "legacy-edits", -1)
        dead, _ = _engine(layers, x, cell, reset_after, masks, "dead", -1)
    for m, hl, hd in zip(masks, legacy.hidden, dead.hidden):
        removed = ~m.expand(BATCH, -1, -1)
        assert torch.all(hd[removed] == 0)  # dead: exactly zero at every step it is removed
        later = removed.clone()
        later[:, 0] = False  # at step 0 the recurrent input is the zero initial state
        # legacy: a state, from the kept units (ReLU: where that input is positive)
        assert (hl[later] != 0).float().mean() > (0.25 if cell == "rnn-relu" else 0.9)


@pytest.mark.parametrize(("cell", "reset_after"), CELLS)
@pytest.mark.parametrize("depth", [1, 2])
def test_only_removed_to_removed_recurrent_weights_are_cut(cell, reset_after, depth):
    """The original's per-step copies, visited removed-first: a removed unit's kernel column(s)
    and biases are zero; a recurrent weight is zero iff both of its units are removed at that
    step (in every gate block); the next layer's kernel is untouched (its own fresh copies
    replace the rows the layer below zeroed); the output layer loses the rows of the last
    layer's units removed at the last step, and nothing else."""
    layers = _stack(cell, depth, 3)
    masks = _masks(depth, STEPS, 3)
    head = np.random.default_rng(0).normal(size=(CLASSES, HIDDEN))
    weights, head_edited = original_module(
        layers, head, [m.numpy() for m in masks], "m1-unrolled", seed=3
    )
    g = N_GATES[cell]
    for w, m, per_step in zip(layers, masks, weights):
        kernel = w.weight_ih.double().numpy().T
        rec = w.weight_hh.double().numpy().T  # [H (from), G·H (into)]
        for t, (dw, du, bi, bh) in enumerate(per_step):
            keep = m[t].numpy()
            cols = np.tile(keep, g)  # gate columns of kept units
            np.testing.assert_array_equal(dw, np.where(cols[None], kernel, 0))
            both_removed = ~keep[:, None] & ~cols[None, :]
            np.testing.assert_array_equal(du, np.where(both_removed, 0, rec))
            assert (du == 0).sum() == both_removed.sum()
            np.testing.assert_array_equal(bi, np.where(cols, w.bias_ih.double().numpy(), 0))
            np.testing.assert_array_equal(bh, np.where(cols, w.bias_hh.double().numpy(), 0))
    np.testing.assert_array_equal(head_edited, np.where(masks[-1][-1].numpy()[:, None], head.T, 0))


@pytest.mark.parametrize(("cell", "reset_after"), CELLS)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_rolled_in_place_edits_are_dead_units(cell, reset_after, depth):
    """Rolled one-output modules: the original edits the weights in place (``DW = W``), so every
    weight of a removed unit ends at zero whatever the visiting order — the order-free zeroing.
    From the zero initial state that is a dead unit, exactly: the bank runs such modules as
    ``dead`` (rnnmod.modules.module.engine_semantics)."""
    layers = _stack(cell, depth, 11)
    masks = _masks(depth, 1, 11)
    x = torch.randn(
        BATCH, STEPS, INPUT, generator=torch.Generator().manual_seed(12), dtype=torch.float64
    )
    head = np.random.default_rng(1).normal(size=(CLASSES, HIDDEN))
    with torch.no_grad():
        dead, _ = _engine(layers, x, cell, reset_after, masks, "dead", None)
    weights, head_edited = original_module(layers, head, [m.numpy() for m in masks], "m1-rolled")
    states, logits = run_original(
        weights, head_edited, x.numpy(), cell, gru_reset_after=reset_after
    )
    for got, ref in zip(dead.hidden, states):
        np.testing.assert_allclose(got.numpy(), ref, atol=1e-6, rtol=0)
    np.testing.assert_allclose(dead.output[:, -1].numpy() @ head.T, logits, atol=1e-6)


@pytest.mark.parametrize(("cell", "reset_after"), CELLS)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_rolled_legacy_edits_equal_zeroed_weights_exactly_where_they_coincide(
    cell, reset_after, depth
):
    """A rolled mask under the engine's ``legacy-edits`` (the copy-and-restore edits of the
    original's rolled 1:1, 1:N and M:N decomposers) against the same mask with every weight of
    a removed unit zeroed order-free (its rolled M:1 decomposers, = today's dead units).

    Exact condition: the two coincide, from the zero initial state, iff no removed unit ever
    receives a non-zero pre-activation — which holds when the recurrent weights from the kept
    units into the removed units' gate columns are zero (in every gate block; the kernel rows,
    biases and removed→removed weights are zeroed by both). Then a removed unit stays at 0
    (LSTM: c = ½·c + ½·tanh 0, GRU: h = ½·h + ½·tanh(0), tanh/ReLU: act(0) = 0) and every
    kept unit, the next layer and the head read the same states. With those weights non-zero a
    removed unit carries a state and the two differ."""
    layers = _stack(cell, depth, 21)
    masks = _masks(depth, 1, 21)
    x = torch.randn(
        BATCH, STEPS, INPUT, generator=torch.Generator().manual_seed(22), dtype=torch.float64
    )
    g = N_GATES[cell]
    with torch.no_grad():
        legacy, _ = _engine(layers, x, cell, reset_after, masks, "legacy-edits", None)
        dead, _ = _engine(layers, x, cell, reset_after, masks, "dead", None)
    differs = any(not torch.equal(a, b) for a, b in zip(legacy.hidden, dead.hidden))
    assert differs  # the condition does not hold for random weights
    for w, m in zip(layers, masks):  # now make it hold: kept → removed recurrent weights = 0
        keep = m[0]
        rows = ~keep.repeat(g)
        w.weight_hh[rows[:, None] & keep[None, :]] = 0
    with torch.no_grad():
        legacy, _ = _engine(layers, x, cell, reset_after, masks, "legacy-edits", None)
        dead, _ = _engine(layers, x, cell, reset_after, masks, "dead", None)
    weights, _ = original_module(
        layers, np.zeros((CLASSES, HIDDEN)), [m.numpy() for m in masks], "m1-rolled"
    )
    zeroed, _ = run_original(
        weights, np.zeros((HIDDEN, CLASSES)), x.numpy(), cell, gru_reset_after=reset_after
    )
    for a, b, ref in zip(legacy.hidden, dead.hidden, zeroed):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
        np.testing.assert_allclose(a.numpy(), ref, atol=1e-6, rtol=0)


def test_no_masks_and_all_kept_masks_change_nothing():
    layers = _stack("gru", 2, 5)
    x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64)
    keep = [torch.ones(STEPS, HIDDEN, dtype=torch.bool)] * 2
    with torch.no_grad():
        plain = run_stack(x, layers, "gru").output
        none = run_stack(x, layers, "gru", unit_semantics="legacy-edits").output
        kept, _ = _engine(layers, x, "gru", True, keep, "legacy-edits", None)
    assert torch.equal(plain, none)
    torch.testing.assert_close(kept.output, plain, atol=0, rtol=0)


def test_legacy_edits_refuse_gate_masks_and_unknown_semantics():
    layers = _stack("lstm", 1, 0)
    x = torch.randn(2, 3, INPUT, dtype=torch.float64)
    unit = [canonical_mask(torch.ones(HIDDEN))]
    gate = [canonical_mask(torch.ones(4 * HIDDEN))]
    with pytest.raises(ValueError, match="gate masks"):
        run_stack(
            x, layers, "lstm", unit_masks=unit, gate_masks=gate, unit_semantics="legacy-edits"
        )
    with pytest.raises(ValueError, match="unknown unit semantics"):
        run_stack(x, layers, "lstm", unit_masks=unit, unit_semantics="zombie")
