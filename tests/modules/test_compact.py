"""Exported modules: sliced (compact) and baked models equal the masked module to 1e-5."""

import pytest
import torch

from rnnmod.errors import RnnmodError
from rnnmod.modules.compact import export_module, load_exported, save_exported
from rnnmod.modules.module import ModuleBank
from rnnmod.modules.store import load_moduleset, save_moduleset
from rnnmod.nn.cells import CELL_KINDS, N_GATES
from rnnmod.runs import load_run, save_run
from tests.helpers import tiny_data, tiny_model

HIDDEN = 8


def _moduleset(tmp_path, cell, depth, io_type, *, steps=1, gate=False, differ=False, seed=0):
    """A saved module set of 2 modules with random rolled (or unrolled) masks and heads."""
    model, data = tiny_model(cell, depth, io_type, hidden=HIDDEN, seed=seed), tiny_data(io_type)
    run = load_run(
        save_run(
            tmp_path / "run",
            model,
            {"task": "tiny", "io_type": io_type, "pad_label": data.pad_label},
            data.vocab,
            data.label_names,
            {},
        )
    )
    g = torch.Generator().manual_seed(seed)
    width = HIDDEN * (N_GATES[cell] if gate else 1)
    masks = []
    for _ in range(depth):
        m = torch.rand(2, 1, width, generator=g) > 0.4
        m[..., 0] = True  # never an empty layer
        m = m.expand(-1, steps, -1).clone()
        if differ:
            m[:, -1, 1] = ~m[:, 0, 1]
        masks.append(m)
    rows = 3 if io_type in ("1:N", "M:N") else 2
    bank = ModuleBank(
        [1, 2],
        torch.randn(2, rows, HIDDEN, generator=g),
        torch.randn(2, rows, generator=g),
        unit_masks=None if gate else masks,
        gate_masks=masks if gate else None,
    )
    ms = load_moduleset(save_moduleset(tmp_path / "mods", [(run, bank)], {"mode": "rolled"}))
    return ms, run, data


@pytest.mark.parametrize("cell", CELL_KINDS)
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_compact_equals_masked_module(tmp_path, cell, depth):
    io_type = ("M:1", "1:1", "M:N", "1:N")[depth - 1]  # every I/O type across the depths
    ms, run, data = _moduleset(tmp_path, cell, depth, io_type, seed=depth)
    bank = ms.banks[next(iter(ms.banks))]
    expected = bank.scores(run.model, data.x_test)
    for k, label in enumerate(ms.labels):
        mod = export_module(ms, label, compact=True)
        kept = [int(m[k, 0].sum()) for m in bank.unit_masks]
        assert [r.hidden_size for r in mod.rnns] == kept
        assert mod.n_parameters() < sum(p.numel() for p in run.model.parameters())
        torch.testing.assert_close(mod.scores(data.x_test), expected[k], atol=1e-5, rtol=1e-5)
        baked = export_module(ms, label, compact=False)
        torch.testing.assert_close(baked.scores(data.x_test), expected[k], atol=1e-5, rtol=1e-5)


def test_unrolled_with_equal_steps_is_compacted(tmp_path):
    ms, run, data = _moduleset(tmp_path, "lstm", 2, "M:1", steps=6)
    bank = ms.banks[next(iter(ms.banks))]
    mod = export_module(ms, ms.labels[0])
    torch.testing.assert_close(
        mod.scores(data.x_test), bank.scores(run.model, data.x_test)[0], atol=1e-5, rtol=1e-5
    )


def test_unrolled_with_different_steps_is_refused(tmp_path):
    ms, _, _ = _moduleset(tmp_path, "gru", 1, "M:1", steps=6, differ=True)
    with pytest.raises(RnnmodError, match="different masks at different time steps"):
        export_module(ms, ms.labels[0])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_per_gate_modules_bake_but_do_not_compact(tmp_path, cell):
    ms, run, data = _moduleset(tmp_path, cell, 2, "M:1", gate=True)
    with pytest.raises(RnnmodError, match="per-gate"):
        export_module(ms, ms.labels[0], compact=True)
    bank = ms.banks[next(iter(ms.banks))]
    baked = export_module(ms, ms.labels[1], compact=False)
    torch.testing.assert_close(
        baked.scores(data.x_test), bank.scores(run.model, data.x_test)[1], atol=1e-5, rtol=1e-5
    )


def test_saved_export_roundtrip_and_unknown_label(tmp_path):
    ms, run, data = _moduleset(tmp_path, "rnn", 2, "M:1")
    mod = export_module(ms, ms.labels[1])
    out = save_exported(tmp_path / "exp", mod, run.vocab)
    again, vocab = load_exported(out)
    assert vocab.to_dict() == run.vocab.to_dict()
    assert torch.equal(again.scores(data.x_test), mod.scores(data.x_test))
    with pytest.raises(RnnmodError, match="no module 'nope'"):
        export_module(ms, "nope")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated in 2.13
def test_cli_export_compact_and_torchscript(tmp_path, capsys):
    import json

    from rnnmod.cli import main

    ms, run, data = _moduleset(tmp_path, "lstm", 2, "M:1")
    out = tmp_path / "one"
    assert main(["export", str(ms.path), "--label", "c2", "--out", str(out), "--compact"]) == 0
    mod, _ = load_exported(out)
    assert sum(mod.cfg.hidden_sizes) < 2 * HIDDEN
    assert main(["export", str(ms.path), "--torchscript", str(tmp_path / "m.pt"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["exports"][0]["max_abs_diff"] <= 1e-5
    traced = torch.jit.load(str(tmp_path / "m.pt"))
    scores, label = traced(data.x_test)
    bank = ms.banks[next(iter(ms.banks))]
    torch.testing.assert_close(scores.T, bank.scores(run.model, data.x_test), atol=1e-5, rtol=0)
    assert main(["export", str(ms.path), "--out", str(tmp_path / "x")]) == 2  # no --label
    assert "needs --label" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated in 2.13
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_filled_module_exports_with_its_fill_folded_in(tmp_path, cell):
    """Modules whose removed units are rebuilt from kept ones (a linear fill) round-trip through
    the module files and export — sliced and baked — to plain models that score as they do."""
    from tests.modules.test_fill import with_random_fills

    ms, run, data = _moduleset(tmp_path, cell, 2, "M:1", seed=3)
    bank = with_random_fills(ms.banks[next(iter(ms.banks))], seed=3)
    filled = load_moduleset(save_moduleset(tmp_path / "filled", [(run, bank)], {"mode": "rolled"}))
    back = filled.banks[next(iter(filled.banks))]
    assert back.filled and torch.equal(back.unit_fills[1][0], bank.unit_fills[1][0])
    expected = back.scores(run.model, data.x_test, kernel="engine")
    assert not torch.allclose(expected, ms.banks[next(iter(ms.banks))].select([0, 1]).scores(
        run.model, data.x_test, kernel="engine"), atol=1e-3)  # fmt: skip
    for k, label in enumerate(filled.labels):
        for compact in (True, False):
            mod = export_module(filled, label, compact=compact)
            torch.testing.assert_close(mod.scores(data.x_test), expected[k], atol=1e-5, rtol=1e-5)
    from rnnmod.cli import main

    traced_path = tmp_path / "filled.pt"
    assert main(["export", str(filled.path), "--torchscript", str(traced_path), "--json"]) == 0
    scores, _ = torch.jit.load(str(traced_path))(data.x_test[:7])
    torch.testing.assert_close(scores.T, expected[:, :7], atol=1e-5, rtol=0)


def test_composing_filled_modules_keeps_their_fills(tmp_path):
    """Reuse: modules picked from a filled set into a new set score as they did."""
    from rnnmod import compose
    from tests.modules.test_fill import with_random_fills

    ms, run, data = _moduleset(tmp_path, "gru", 1, "M:1", seed=4)
    bank = with_random_fills(ms.banks[next(iter(ms.banks))], seed=4)
    filled = save_moduleset(tmp_path / "filled", [(run, bank)], {"mode": "rolled"})
    label = load_moduleset(filled).labels[1]
    picked = compose([filled], [label], tmp_path / "picked", single=True)
    got = next(iter(picked.banks.values()))
    assert got.filled
    want = bank.select([1]).scores(run.model, data.x_test)
    torch.testing.assert_close(got.scores(run.model, data.x_test), want)
