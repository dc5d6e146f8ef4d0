"""The native-kernel module bank scores exactly as the cell engine does (to 1e-5)."""

import pytest
import torch

from rnnmod.modules.module import ModuleBank
from rnnmod.nn.cells import CELL_KINDS, N_GATES
from tests.helpers import tiny_data, tiny_model

HIDDEN = 8


def _bank(depth, k=3, steps=1, io_type="M:1", seed=0, gate=False, cell="lstm"):
    g = torch.Generator().manual_seed(seed)
    width = HIDDEN * (N_GATES[cell] if gate else 1)
    masks = [torch.rand(k, steps, width, generator=g) > 0.4 for _ in range(depth)]
    rows = 3 if io_type in ("1:N", "M:N") else 2
    return ModuleBank(
        list(range(k)),
        torch.randn(k, rows, HIDDEN, generator=g),
        torch.randn(k, rows, generator=g),
        unit_masks=None if gate else masks,
        gate_masks=masks if gate else None,
    )


@pytest.mark.parametrize("cell", CELL_KINDS)
@pytest.mark.parametrize(("depth", "io_type"), [(1, "M:1"), (2, "1:1"), (3, "M:N"), (2, "1:N")])
def test_native_rolled_equals_engine(cell, depth, io_type):
    model, data = tiny_model(cell, depth, io_type, hidden=HIDDEN, seed=depth), tiny_data(io_type)
    bank = _bank(depth, io_type=io_type, seed=depth)
    native = bank.scores(model, data.x_test, kernel="native")
    engine = bank.scores(model, data.x_test, kernel="engine")
    torch.testing.assert_close(native, engine, atol=1e-5, rtol=1e-5)
    x = data.x_test  # auto: the compact bank where its modules are small enough, else native
    picked = "compact" if bank.compact_pays(model, len(x)) else "native"
    assert torch.equal(bank.scores(model, x), bank.scores(model, x, kernel=picked))


@pytest.mark.parametrize("cell", ["lstm", "rnn-relu"])
def test_native_unrolled_equals_engine(cell):
    model, data = tiny_model(cell, 2, hidden=HIDDEN), tiny_data()
    bank = _bank(2, steps=model.steps, seed=3)
    engine = bank.scores(model, data.x_test, kernel="engine")
    torch.testing.assert_close(
        bank.scores(model, data.x_test, kernel="native"), engine, atol=1e-5, rtol=1e-5
    )
    # auto: per-step codes only for small batches (3 modules x 60 examples > 128 rows)
    assert torch.equal(bank.scores(model, data.x_test), engine)
    few = data.x_test[:5]
    assert torch.equal(bank.scores(model, few), bank.scores(model, few, kernel="native"))


def test_native_chunks_and_bank_without_masks():
    model, data = tiny_model("gru", 2, hidden=HIDDEN), tiny_data()
    bank = _bank(2, k=4)
    torch.testing.assert_close(
        bank.scores(model, data.x_test, kernel="native", max_rows=20),
        bank.scores(model, data.x_test, kernel="engine"),
        atol=1e-5,
        rtol=1e-5,
    )
    bare = ModuleBank([0, 1], bank.head_weight[:2], bank.head_bias[:2])
    torch.testing.assert_close(
        bare.scores(model, data.x_test), bare.scores(model, data.x_test, kernel="engine")
    )


@pytest.mark.parametrize(
    ("cell", "steps", "gate", "reason"),
    [("gru", 6, False, "per-step masks"), ("rnn", 6, False, "per-step"), ("lstm", 1, True, "gate")],
)
def test_unsupported_banks_fall_back_to_the_engine(cell, steps, gate, reason):
    model, data = tiny_model(cell, 1, hidden=HIDDEN), tiny_data()
    bank = _bank(1, steps=steps, gate=gate, cell=cell)
    assert bank.native_for(model) is None
    with pytest.raises(ValueError, match=reason):
        bank.scores(model, data.x_test, kernel="native")
    torch.testing.assert_close(
        bank.scores(model, data.x_test), bank.scores(model, data.x_test, kernel="engine")
    )


def test_native_cache_is_not_fooled_by_a_reused_id():
    """A cache entry under another model's id (as after that model was freed and its id
    reused) is rebuilt, not used with the old weights."""
    old, new = tiny_model("lstm", 1, hidden=HIDDEN, seed=1), tiny_model("lstm", 1, hidden=HIDDEN)
    data = tiny_data()
    bank = _bank(1)
    stale = bank.native_for(old)
    key = "build_native_bank"
    bank._native[key, id(new)] = bank._native.pop((key, id(old)))  # new's id, the old entry
    assert bank.native_for(new) is not stale
    torch.testing.assert_close(
        bank.scores(new, data.x_test),
        bank.scores(new, data.x_test, kernel="engine"),
        atol=1e-5,
        rtol=1e-5,
    )
