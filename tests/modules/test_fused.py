"""The fused kernel of compact banks: what runs, both ways its first layer reads its input, its
refusals, and the torch path it falls back to when it cannot be built."""

import pytest
import torch

from rnnmod.modules import compact_bank, fused
from rnnmod.modules.compact_bank import CompactBank, _width_buckets
from tests.helpers import tiny_model
from tests.modules.test_compact_bank import random_bank


@pytest.fixture
def kern():
    k = fused.kernel()
    if k is None:
        pytest.skip(f"no fused kernel here: {fused.unavailable()}")
    return k


def test_compact_banks_run_on_the_kernel_where_it_is_built(kern, monkeypatch):
    calls = []
    real = kern.fused_layer

    above = kern.fused_layer_above

    class Spy:
        def fused_layer(self, *args):
            calls.append(("first", args[4]))  # the cell code
            return real(*args)

        def fused_layer_above(self, *args):
            calls.append(("above", args[5]))
            return above(*args)

    monkeypatch.setattr(fused, "kernel", lambda: Spy())
    model = tiny_model("gru", depth=2, hidden=10).eval()
    bank = random_bank(model, k=3)
    bank.scores(model, torch.randint(1, 12, (300, 6)), kernel="compact")
    gru = fused.CELLS["gru"]
    buckets = len(bank.compact_for(model)._fused_weights(model))
    assert calls == [("first", gru), ("above", gru)] * buckets  # a call per layer and bucket


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "rnn-relu"])
@pytest.mark.parametrize("io_type", ["M:1", "M:N"])
def test_a_per_token_table_and_per_call_products_agree(kern, cell, io_type, monkeypatch):
    """One token per step reads the first layer's products from a [V, K, G·W] table; past
    FUSED_TABLE_BYTES they are multiplied per call — the same numbers either way."""
    model = tiny_model(cell, depth=2, io_type=io_type, hidden=10).eval()
    bank = random_bank(model, k=4)
    ids = torch.randint(0, 12, (9, 6))
    eng = bank.scores(model, ids, kernel="engine", output="logits")
    table = CompactBank.build(model, bank.unit_masks, bank.head_weight, bank.head_bias)
    got_table = table.logits(model, ids)
    assert all(b["table"] is not None for v in table._fused_parts.values() for b in v)
    monkeypatch.setattr(compact_bank, "FUSED_TABLE_BYTES", 0)
    dense = CompactBank.build(model, bank.unit_masks, bank.head_weight, bank.head_bias)
    got_dense = dense.logits(model, ids)
    assert all(b["table"] is None for v in dense._fused_parts.values() for b in v)
    assert torch.allclose(got_table, eng, atol=1e-5)
    assert torch.allclose(got_dense, eng, atol=1e-5)


def test_a_long_text_and_a_single_example(kern):
    model = tiny_model("lstm", hidden=10, seq_len=200).eval()
    bank = random_bank(model, k=3)
    for ids in (torch.randint(1, 12, (1, 200)), torch.randint(1, 12, (40, 200))):
        eng = bank.scores(model, ids, kernel="engine", output="logits")
        assert torch.allclose(bank.scores(model, ids, kernel="compact", output="logits"), eng,
                              atol=1e-5)  # fmt: skip


def test_token_ids_outside_the_vocabulary_are_refused(kern):
    model = tiny_model("lstm", hidden=10).eval()
    bank = random_bank(model, k=2)
    ids = torch.randint(1, 12, (3, 6))
    ids[1, 2] = model.cfg.vocab_size
    with pytest.raises(IndexError, match="token ids must be in"):
        bank.scores(model, ids, kernel="compact")
    ids[1, 2] = -1
    with pytest.raises(IndexError, match="token ids must be in"):
        bank.scores(model, ids, kernel="compact")


def test_the_kernel_refuses_weights_of_another_cell(kern):
    whh = torch.zeros(2, 3, 12)  # four gate blocks: an LSTM's
    xp = torch.zeros(5, 2, 12)
    rows = torch.zeros(4, 1, dtype=torch.long)
    with pytest.raises(RuntimeError, match="gate blocks do not match"):
        kern.fused_layer(xp, rows, whh, torch.zeros(2, 12), fused.CELLS["gru"], False)


def test_without_a_build_the_torch_path_runs_and_says_why(monkeypatch):
    def no_compiler():
        raise OSError("g++: command not found")

    monkeypatch.setattr(fused, "_built", {})
    monkeypatch.setattr(fused, "_build", no_compiler)
    assert fused.kernel() is None
    assert fused.unavailable() == (
        "the fused kernel could not be built (OSError: g++: command not found)"
    )
    model = tiny_model("rnn", hidden=10).eval()
    bank = random_bank(model, k=3)
    ids = torch.randint(1, 12, (20, 6))
    eng = bank.scores(model, ids, kernel="engine", output="logits")
    assert torch.allclose(bank.scores(model, ids, kernel="compact", output="logits"), eng,
                          atol=1e-5)  # fmt: skip


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv(fused.DISABLE_ENV, "0")
    assert fused.kernel() is None
    assert fused.unavailable() == "disabled by RNNMOD_FUSED=0"


def test_builds_are_kept_apart_by_source_and_processor(monkeypatch, tmp_path):
    name = fused.build_name()
    monkeypatch.setattr(fused, "_cpu_features", lambda: "flags : sse2")
    assert fused.build_name() != name  # another processor: another build
    monkeypatch.setenv(fused.KERNELS_ENV, str(tmp_path))
    assert fused.build_dir() == tmp_path
    monkeypatch.delenv(fused.KERNELS_ENV)
    assert fused.build_dir().name == "kernels"


def test_wide_banks_stay_on_the_torch_path(kern, monkeypatch):
    """Many wide modules side by side (K · G · W past FUSED_MAX_ROW) run module by module on
    torch's layers, which is faster there (docs/budget.md), with the same numbers."""
    model = tiny_model("lstm", hidden=10).eval()
    bank = random_bank(model, k=4, keep=0.5)
    cb = bank.compact_for(model)
    assert cb.runs_fused(model)
    monkeypatch.setattr(compact_bank, "FUSED_MAX_ROW", 4 * 4 * cb.widths[0] - 1)
    assert not cb.runs_fused(model)
    ids = torch.randint(1, 12, (20, 6))
    assert bank.path_for(model, len(ids), kernel="compact") == "compact, torch"
    eng = bank.scores(model, ids, kernel="engine", output="logits")
    assert torch.allclose(bank.scores(model, ids, kernel="compact", output="logits"), eng,
                          atol=1e-5)  # fmt: skip


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("in_row", [True, False])
def test_deeper_layers_read_the_states_below_either_way(kern, cell, in_row, monkeypatch):
    """A deeper layer's input products in the kernel's rows (narrow layers below) or as one
    batched product (wider ones): the same numbers."""
    if not in_row:
        monkeypatch.setattr(compact_bank, "FUSED_IN_ROW_WIDTH", 0)
    model = tiny_model(cell, depth=3, io_type="M:N", hidden=10).eval()
    bank = random_bank(model, k=3, keep=0.6)
    ids = torch.randint(0, 12, (17, 6))
    eng = bank.scores(model, ids, kernel="engine", output="logits")
    got = CompactBank.build(model, bank.unit_masks, bank.head_weight, bank.head_bias)
    assert torch.allclose(got.logits(model, ids), eng, atol=1e-5)


def test_double_precision_runs_on_the_torch_path(kern):
    model = tiny_model("gru", hidden=10).double().eval()
    bank = random_bank(model, k=3)
    bank.head_weight, bank.head_bias = bank.head_weight.double(), bank.head_bias.double()
    assert not bank.compact_for(model).runs_fused(model)
    ids = torch.randint(1, 12, (20, 6))
    eng = bank.scores(model, ids, kernel="engine", output="logits")
    assert torch.allclose(bank.scores(model, ids, kernel="compact", output="logits"), eng,
                          atol=1e-8)  # fmt: skip


def test_modules_of_different_widths_run_in_two_buckets(kern):
    assert _width_buckets([torch.tensor([20, 21, 22, 23, 24])]) == [[0, 1, 2, 3, 4]]
    # four narrow modules and two wide ones: two buckets, each padded to its own widest
    assert _width_buckets([torch.tensor([4, 30, 5, 4, 31, 6])]) == [[0, 2, 3, 5], [1, 4]]
    model = tiny_model("lstm", depth=2, io_type="M:N", hidden=12).eval()
    bank = random_bank(model, k=5, keep=1.1)
    narrow = torch.arange(12) < 2
    for m in bank.unit_masks:
        m[[0, 2, 3]] &= narrow  # three modules keep 2 units, two keep all 12
    cb = bank.compact_for(model)
    assert [b["idx"].tolist() for b in cb._fused_weights(model)] == [[0, 2, 3], [1, 4]]
    assert [b["idx"].tolist() for b in cb._fused_weights(model, bucketed=False)] == [
        [0, 1, 2, 3, 4]
    ]  # few rows: one call per layer
    for rows in (5, 20):
        ids = torch.randint(0, 12, (rows, 6))
        eng = bank.scores(model, ids, kernel="engine", output="logits")
        assert torch.allclose(cb.logits(model, ids), eng, atol=1e-5)


def test_a_killed_build_leaves_nothing_to_wait_for(kern, tmp_path):
    """A process killed while it built or loaded the kernel (a stale lock, a half-built private
    folder) does not block the next one: that one imports the built file."""
    import os
    import shutil
    import subprocess
    import sys

    name = fused.build_name()
    shutil.copy(fused.build_dir() / f"{name}.so", tmp_path / f"{name}.so")  # the built file
    (tmp_path / name).mkdir()
    (tmp_path / name / "lock").touch()  # what torch's loader leaves when killed holding it
    (tmp_path / "lock").touch()
    (tmp_path / f".{name}.killed").mkdir()  # a private build folder of a killed process
    code = "from rnnmod.modules import fused; raise SystemExit(fused.kernel() is None)"
    env = {**os.environ, fused.KERNELS_ENV: str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, timeout=120)
    assert done.returncode == 0
