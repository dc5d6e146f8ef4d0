"""Compact export of modules of users' shapes: bidirectional layers (each direction keeps its
own units), skipped padding, pooled readouts and MLP heads score exactly as the fused bank."""

from __future__ import annotations

import pytest
import torch

from rnnmod.decomposition import decompose, preset
from rnnmod.errors import RnnmodError
from rnnmod.interop import save_model_run
from rnnmod.modules.compact import export_module, export_module_to, load_exported
from rnnmod.modules.store import load_moduleset, save_moduleset
from rnnmod.runs import load_run
from tests.helpers import tiny_data, tiny_model
from tests.nn.test_user_shapes import SHAPES, padded_ids


def module_set(tmp_path, model, data, mode="rolled"):
    run = load_run(save_model_run(tmp_path / "run", model, data)[0])
    cfg = preset("default", mode=mode, max_remove=0.4, min_observations=1, n_positive=30)
    dec = decompose(run.model, data, cfg, progress=False)
    return load_moduleset(save_moduleset(tmp_path / "mods", [(run, dec.bank)], {"mode": mode}))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_compact_and_baked_modules_score_as_the_bank(tmp_path, cell, shape):
    model = tiny_model(cell, depth=2, **shape)
    ms = module_set(tmp_path, model, tiny_data(n=90))
    run, bank = ms.single_source, next(iter(ms.banks.values()))
    assert any((~m).any() for m in bank.unit_masks)
    for k, label in enumerate(ms.labels):
        ref = None
        for side in ("post", "pre", "holes"):
            ids = padded_ids(side)
            ref = bank.select([k]).scores(run.model, ids)[0]
            compact = export_module(ms, label, compact=True)
            baked = export_module(ms, label, compact=False)
            torch.testing.assert_close(compact.scores(ids), ref, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(baked.scores(ids), ref, atol=1e-5, rtol=1e-5)
        kept = bank.unit_masks[0][k, 0].sum()
        width = sum(compact.cfg.hidden_sizes[:1]) + sum(compact.cfg.reverse_sizes[:1])
        assert width == int(kept)


def test_a_bidirectional_tagger_module_round_trips_through_its_directory(tmp_path):
    model = tiny_model("lstm", depth=2, io_type="M:N", bidirectional=True, padding="skipped")
    ms = module_set(tmp_path, model, tiny_data("M:N", n=90), mode="rolled")
    label = ms.labels[0]
    info = export_module_to(ms, label, tmp_path / "exported")
    assert len(info["reverse_sizes"]) == 2 and info["self_check_max_abs_diff"] < 1e-5
    mod, _ = load_exported(tmp_path / "exported")
    ids = padded_ids("holes")
    torch.testing.assert_close(mod.scores(ids), export_module(ms, label).scores(ids))


def test_a_module_without_units_in_one_direction_is_refused(tmp_path):
    model = tiny_model("gru", bidirectional=True)
    ms = module_set(tmp_path, model, tiny_data(n=90))
    bank = next(iter(ms.banks.values()))
    bank.unit_masks[0][0, :, 8:] = False  # module 0 keeps no backward unit
    with pytest.raises(RnnmodError, match="removes every unit of layer 0 \\(backward direction\\)"):
        export_module(ms, ms.labels[0])


FILLABLE = [
    *(s for s in SHAPES if not s.get("bidirectional") and s.get("readout") is None),
    {"padding": "skipped", "readout": "mean", "pool_steps": "all"},
]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(
    "shape", FILLABLE, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items())
)
def test_filled_modules_of_users_shapes_export_as_the_engine_runs_them(tmp_path, cell, shape):
    """A linear fill folds through skipped padding, a mean readout and into an MLP head's first
    layer: exported modules (sliced and baked) score as the engine runs the fill."""
    from rnnmod.modules.fill import fill_unsupported
    from tests.modules.test_fill import with_random_fills

    model = tiny_model(cell, depth=2, **shape)
    ms = module_set(tmp_path, model, tiny_data(n=90))
    run, bank = ms.single_source, next(iter(ms.banks.values()))
    assert fill_unsupported(run.model, bank.unit_masks) == ""
    filled = with_random_fills(bank, seed=5)
    fs = load_moduleset(save_moduleset(tmp_path / "filled", [(run, filled)], {"mode": "rolled"}))
    back = next(iter(fs.banks.values()))
    assert back.filled
    for k, label in enumerate(fs.labels):
        for side in ("post", "pre", "holes"):
            ids = padded_ids(side)
            ref = back.select([k]).scores(run.model, ids, kernel="engine")[0]
            dead = bank.select([k]).scores(run.model, ids, kernel="engine")[0]
            assert not torch.allclose(ref, dead, atol=1e-4)
            for compact in (True, False):
                mod = export_module(fs, label, compact=compact)
                torch.testing.assert_close(mod.scores(ids), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "shape, why",
    [
        ({"bidirectional": True}, "bidirectional"),
        ({"readout": "max"}, "max pooling"),
        ({"readout": "mean"}, "mean pooling over real steps"),
    ],
)
def test_a_fill_is_refused_where_it_cannot_fold(shape, why):
    from rnnmod.modules.fill import fill_unsupported

    model = tiny_model("gru", **shape)
    masks = [torch.ones(2, 1, model.cfg.width, dtype=torch.bool)]
    assert why in fill_unsupported(model, masks)


UNIDIRECTIONAL = [s for s in SHAPES if not s.get("bidirectional")] + [
    {"padding": "skipped", "readout": "mean", "pool_steps": "all", "head_hidden": [7]}
]


CASES = [(s, "M:1") for s in UNIDIRECTIONAL] + [  # a pooled readout is for one output
    (s, "M:N") for s in UNIDIRECTIONAL if "readout" not in s and "pool_steps" not in s
]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize(
    "shape, io_type",
    CASES,
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={x}" for k, x in v.items()),
)
def test_the_compact_bank_runs_users_unidirectional_shapes(cell, shape, io_type):
    """Skipped padding (packed), pooled readouts and MLP heads, dead units or filled where a
    fill folds: the compact bank scores as the engine does, for a few rows and for many."""
    from rnnmod.modules.compact_bank import compact_unsupported
    from rnnmod.modules.fill import fill_unsupported
    from tests.modules.test_compact_bank import random_bank
    from tests.modules.test_fill import with_random_fills

    model = tiny_model(cell, depth=2, io_type=io_type, **shape).eval()
    dead = random_bank(model, k=3, keep=0.5, seed=2)
    g = torch.Generator().manual_seed(3)  # heads as wide as what they read (an MLP's output)
    dead.head_weight = torch.randn(3, 2, model.head.in_features, generator=g)
    banks = [dead]
    if fill_unsupported(model, dead.unit_masks) == "":
        banks.append(with_random_fills(dead, seed=2))
    for bank in banks:
        assert compact_unsupported(bank, model) == ""
        for side in ("post", "pre", "holes"):
            for n in (3, 12):
                ids = padded_ids(side, n=n)
                eng = bank.scores(model, ids, kernel="engine", output="logits")
                got = bank.scores(model, ids, kernel="compact", output="logits")
                torch.testing.assert_close(got, eng, atol=1e-5, rtol=1e-5)


def test_the_compact_bank_refuses_bidirectional_layers():
    from rnnmod.modules.compact_bank import compact_unsupported
    from tests.modules.test_compact_bank import random_bank

    model = tiny_model("gru", bidirectional=True).eval()
    assert "bidirectional" in compact_unsupported(random_bank(model), model)


def test_auto_keeps_few_rows_of_users_shapes_on_the_engine_unless_filled():
    from tests.modules.test_compact_bank import random_bank
    from tests.modules.test_fill import with_random_fills

    model = tiny_model("gru", padding="skipped", hidden=10).eval()
    bank = random_bank(model, k=3, keep=0.3)
    assert not bank.compact_pays(model, rows=4)  # module by module: slower than the engine
    assert bank.compact_pays(model, rows=64)
    assert with_random_fills(bank).compact_pays(model, rows=4)  # no native bank for a fill
