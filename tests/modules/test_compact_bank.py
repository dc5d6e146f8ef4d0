"""The compact bank (removed units sliced away, modules padded to the widest) scores exactly as the
masked engine does, and refuses what it cannot slice."""

import pytest
import torch

from rnnmod.modules.compact_bank import (
    GROUP_WIDTH,
    PER_MODULE_ROWS,
    CompactBank,
    _groups,
    compact_unsupported,
)
from rnnmod.modules.module import ModuleBank
from rnnmod.nn.zoo import build_classifier
from tests.helpers import tiny_model


def random_bank(model, k=3, keep=0.4, seed=0, steps=1):
    g = torch.Generator().manual_seed(seed)
    h = model.cfg.hidden
    masks = []
    for _ in range(model.cfg.depth):
        m = torch.rand(k, 1, h, generator=g) < keep
        m[:, 0, 0] = True  # every layer keeps a unit
        masks.append(m.expand(k, steps, h).clone())
    rows = 2
    return ModuleBank(
        class_index=list(range(k)),
        head_weight=torch.randn(k, rows, h, generator=g),
        head_bias=torch.randn(k, rows, generator=g),
        unit_masks=masks,
    )


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "rnn-relu"])
@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("io_type", ["M:1", "M:N", "1:1"])
@pytest.mark.parametrize("rows", [7, PER_MODULE_ROWS + 5])  # torch path: padded / module by module
def test_compact_scores_equal_the_engine(cell, depth, io_type, rows, compact_path):
    model = tiny_model(cell, depth=depth, io_type=io_type, hidden=10).eval()
    bank = random_bank(model, k=4, seed=depth)
    ids = torch.randint(1, 12, (rows, 6))
    ids[:3, :2] = 0
    eng = bank.scores(model, ids, kernel="engine", output="logits")
    got = bank.scores(model, ids, kernel="compact", output="logits")
    assert got.shape == eng.shape
    assert torch.allclose(got, eng, atol=1e-5)


def test_padding_matches_the_widest_module_and_counts_are_real():
    model = tiny_model("lstm", hidden=10).eval()
    bank = random_bank(model, k=3, keep=0.3)
    cb = CompactBank.build(model, bank.unit_masks, bank.head_weight, bank.head_bias)
    kept = bank.unit_masks[0][:, 0].sum(1)
    assert cb.widths == [int(kept.max())]
    assert torch.equal(cb.kept[0], kept)
    assert cb.w_hh[0].shape == (3, cb.widths[0], 4 * cb.widths[0])


def test_auto_uses_compact_only_for_small_modules(compact_path):
    model = tiny_model("gru", hidden=10).eval()
    small = random_bank(model, keep=0.2)
    small.unit_masks = [m & (torch.arange(10) < 4) for m in small.unit_masks]
    assert small.compact_pays(model)
    big = random_bank(model, keep=1.1)
    assert not big.compact_pays(model)
    # fused or module by module, the compact bank beats the full-width native bank at any width
    # from PER_MODULE_ROWS rows on; users' shapes only up to COMPACT_MAX_WIDTH_MANY_ROWS
    assert big.compact_pays(model, rows=1000)
    shaped = tiny_model("gru", hidden=10, head_hidden=(6,)).eval()
    assert not random_bank(shaped, keep=1.1).compact_pays(shaped, rows=1000)
    mid = random_bank(model, keep=1.1)
    mid.unit_masks = [m & (torch.arange(10) < 7) for m in mid.unit_masks]  # 70 % kept
    assert not mid.compact_pays(model, rows=PER_MODULE_ROWS - 1)
    assert mid.compact_pays(model, rows=PER_MODULE_ROWS)  # fused, or module by module


def test_what_cannot_be_sliced_is_refused():
    model = tiny_model("lstm", hidden=10).eval()
    bank = random_bank(model, steps=6)
    bank.unit_masks[0][:, 3, 1] = ~bank.unit_masks[0][:, 3, 1]
    assert "differ between steps" in compact_unsupported(bank, model)
    with pytest.raises(ValueError, match="cannot run compact"):
        bank.scores(model, torch.randint(1, 12, (2, 6)), kernel="compact")
    gated = random_bank(model)
    gated.gate_masks, gated.unit_masks = gated.unit_masks, None
    assert "per-gate" in compact_unsupported(gated, model)
    legacy = random_bank(model)
    legacy.unit_semantics = "legacy-edits"
    assert compact_unsupported(legacy, model) in ("", "removed units keep a state (legacy-edits)")
    keras = build_classifier(
        cell="lstm",
        vocab_size=12,
        embed_dim=4,
        hidden=10,
        n_classes=4,
        seq_len=6,
        gate_activation="hard_sigmoid",
        io_type="M:1",
        depth=1,
    )
    assert "Keras" in compact_unsupported(random_bank(keras), keras)


def test_narrow_modules_are_packed_side_by_side_up_to_the_cells_width():
    def masks(*widths):
        m = torch.zeros(len(widths), 1, 64, dtype=torch.bool)
        for k, w in enumerate(widths):
            m[k, 0, :w] = True
        return [m]

    assert GROUP_WIDTH["lstm"] == 48 and GROUP_WIDTH["gru"] == 48
    assert _groups("lstm", masks(20, 28, 10, 38, 16)) == [[0, 1], [2, 3], [4]]
    assert _groups("gru", masks(20, 30, 10)) == [[0], [1, 2]]
    assert _groups("gru", masks(25, 24, 23)) == [[0], [1, 2]]
    deep = masks(20, 20, 20) + masks(30, 20, 10)  # every layer must fit
    assert _groups("lstm", deep) == [[0], [1, 2]]


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_a_group_is_one_native_layer_and_scores_as_its_modules(cell):
    model = tiny_model(cell, depth=2, hidden=10).eval()
    bank = random_bank(model, k=5, keep=0.4, seed=3)
    cb = CompactBank.build(model, bank.unit_masks, bank.head_weight, bank.head_bias)
    assert len(cb.native) < len(bank)  # 10-unit layers: several modules per group
    first = cb.native[0][1][0]
    assert first.hidden_size == sum(int(bank.unit_masks[0][k, 0].sum()) for k in cb.native[0][0])
    ids = torch.randint(1, 12, (PER_MODULE_ROWS + 3, 6))
    eng = bank.scores(model, ids, kernel="engine", output="logits")
    assert torch.allclose(
        bank.scores(model, ids, kernel="compact", output="logits"), eng, atol=1e-5
    )


def test_the_path_a_bank_runs_on_is_said(compact_path):
    model = tiny_model("lstm", hidden=10).eval()
    small = random_bank(model, keep=0.2)
    small.unit_masks = [m & (torch.arange(10) < 3) for m in small.unit_masks]
    want = "compact, fused kernel" if compact_path == "fused" else "compact, torch"
    assert small.path_for(model, 300) == want
    assert small.path_for(model, 300, kernel="engine") == "engine"
    assert small.path_for(model, 300, kernel="native") == "native"
    full = random_bank(model, keep=1.1)
    assert full.path_for(model, 1) == "native"  # few rows, every unit: the full-width bank


def test_what_the_bank_can_run_is_worked_out_again_for_new_masks():
    model = tiny_model("lstm", hidden=10).eval()
    bank = random_bank(model, keep=0.3, steps=6)
    bank.unit_masks = [m & (torch.arange(10) < 3) for m in bank.unit_masks]
    ids = torch.randint(1, 12, (2, 6))
    assert bank.path_for(model, len(ids)).startswith("compact")
    new = [m.clone() for m in bank.unit_masks]
    new[0][:, 3, 1] = ~new[0][:, 3, 1]  # masks that differ between steps cannot be sliced
    bank.unit_masks = new
    assert not bank.path_for(model, len(ids)).startswith("compact")  # native, per-step codes
    with pytest.raises(ValueError, match="differ between steps"):
        bank.scores(model, ids, kernel="compact")


def test_a_bank_is_freed_as_soon_as_it_is_dropped():
    """What a bank caches never holds the bank itself: its compact kernels (a fused per-token
    table can take hundreds of MB) go with it, not at the next cyclic garbage collection."""
    import gc
    import weakref

    model = tiny_model("lstm", hidden=10).eval()
    bank = random_bank(model, keep=0.2)
    bank.scores(model, torch.randint(1, 12, (20, 6)))
    gone = weakref.ref(bank)
    was = gc.isenabled()
    gc.disable()
    try:
        del bank
        assert gone() is None
    finally:
        if was:
            gc.enable()
