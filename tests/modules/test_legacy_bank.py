"""Module banks under ``legacy-edits``: the fused bank's float32 scores against the original
tool's edited weight copies (tests/legacy_reference.py) for every model kind, the native-kernel
path refusing them, exports, and the module set round trip."""

import numpy as np
import pytest
import torch

from rnnmod.errors import RnnmodError
from rnnmod.interop.onnx_export import BankScorer
from rnnmod.modules.compact import export_module
from rnnmod.modules.module import ModuleBank
from rnnmod.modules.store import load_moduleset, save_moduleset
from rnnmod.runs import load_run, save_run
from tests.helpers import tiny_data, tiny_model
from tests.legacy_reference import original_module, run_original

HIDDEN = 8
CELLS = [("lstm", True), ("gru", True), ("gru", False), ("rnn", True), ("rnn-relu", True)]


def _model(cell, reset_after, depth, io_type, seed):
    model = tiny_model(cell, depth, io_type, hidden=HIDDEN, seed=seed)
    model.cfg.gru_reset_after = reset_after  # Keras' reset_after=False: the engine runs it
    return model


def _bank(model, k=3, steps=1, seed=0, semantics="legacy-edits"):
    """K modules with random masks (a quarter of the units removed, different at every step)
    and random channelled heads."""
    g = torch.Generator().manual_seed(seed)
    rows = 2 if model.one_output else 3
    masks = [torch.rand(k, steps, HIDDEN, generator=g) > 0.25 for _ in model.rnns]
    return ModuleBank(
        list(range(k)),
        torch.randn(k, rows, HIDDEN, generator=g),
        torch.randn(k, rows, generator=g),
        unit_masks=masks,
        unit_semantics=semantics,
    )


def _script(model, steps):
    if model.one_output:
        return "m1-unrolled" if steps > 1 else "m1-rolled"
    return "many-unrolled" if steps > 1 else "many-rolled"


def _reference_logits(model, bank, ids, reset_after):
    x = model.recurrent_input(ids).detach().numpy()
    out = []
    for k in range(len(bank)):
        keep = [m[k].numpy() for m in bank.unit_masks]
        weights, head = original_module(
            model.layer_weights(),
            bank.head_weight[k].double().numpy(),
            keep,
            _script(model, bank.steps),
            seed=k,
        )
        _, z = run_original(
            weights,
            head,
            x,
            model.cfg.cell,
            gru_reset_after=reset_after,
            one_output=model.one_output,
        )
        out.append(z + bank.head_bias[k].double().numpy())
    return np.stack(out)


@pytest.mark.parametrize(("cell", "reset_after"), CELLS)
@pytest.mark.parametrize(
    ("depth", "io_type", "unrolled"),
    [
        (1, "M:1", True),
        (2, "M:1", True),
        (3, "M:1", False),
        (2, "M:N", True),
        (1, "M:N", False),
        (2, "1:N", True),
        (3, "1:N", False),
        (2, "1:1", False),
    ],
)
def test_bank_scores_equal_the_original_modules(cell, reset_after, depth, io_type, unrolled):
    """The fused bank (float32, K modules in one pass) gives the original's logits for every
    model kind, rolled and unrolled, to 1e-5."""
    model, data = _model(cell, reset_after, depth, io_type, depth), tiny_data(io_type)
    bank = _bank(model, steps=model.steps if unrolled else 1, seed=depth)
    got = bank.scores(model, data.x_test, output="logits").double().numpy()
    want = _reference_logits(model, bank, data.x_test, reset_after)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_unrolled_legacy_differs_from_dead_and_never_runs_natively():
    model, data = tiny_model("lstm", 2, hidden=HIDDEN, seed=1), tiny_data()
    legacy = _bank(model, steps=model.steps, seed=1)
    dead = _bank(model, steps=model.steps, seed=1, semantics="dead")
    assert legacy.engine_semantics(model) == "legacy-edits"
    assert legacy.native_for(model) is None and dead.native_for(model) is not None
    with pytest.raises(ValueError, match="legacy-edits"):
        legacy.scores(model, data.x_test, kernel="native")
    few = data.x_test[:4]  # small enough that "auto" would pick the native path for dead masks
    assert torch.equal(legacy.scores(model, few), legacy.scores(model, few, kernel="engine"))
    assert not torch.allclose(legacy.scores(model, data.x_test), dead.scores(model, data.x_test))
    picked = legacy.select([2, 0])
    assert picked.unit_semantics == "legacy-edits"
    torch.testing.assert_close(
        picked.scores(model, data.x_test), legacy.scores(model, data.x_test)[[2, 0]]
    )


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_rolled_one_output_legacy_is_dead_and_runs_natively(cell):
    """The original's rolled M:1 decomposers edit the weights in place: dead units (see
    tests/nn/test_legacy_edits.py), so such a bank scores as the dead bank and may use the
    native kernels."""
    model, data = tiny_model(cell, 2, hidden=HIDDEN, seed=2), tiny_data()
    legacy, dead = _bank(model, seed=2), _bank(model, seed=2, semantics="dead")
    assert legacy.engine_semantics(model) == "dead"
    assert legacy.native_for(model) is not None
    assert torch.equal(legacy.scores(model, data.x_test), dead.scores(model, data.x_test))


@pytest.mark.parametrize(("io_type", "unrolled"), [("M:1", True), ("M:N", True), ("1:N", False)])
def test_onnx_bank_scorer_follows_the_bank(io_type, unrolled):
    model, data = tiny_model("gru", 2, io_type, hidden=HIDDEN, seed=3), tiny_data(io_type)
    bank = _bank(model, steps=model.steps if unrolled else 1, seed=3)
    with torch.no_grad():
        got = BankScorer(model, bank)(data.x_test).movedim(-1, 0)
    torch.testing.assert_close(got, bank.scores(model, data.x_test), atol=1e-6, rtol=1e-6)


def _saved(tmp_path, model, data, bank, config):
    run = load_run(
        save_run(
            tmp_path / "run",
            model,
            {"task": "tiny", "io_type": model.cfg.io_type, "pad_label": data.pad_label},
            data.vocab,
            data.label_names,
            {},
        )
    )
    out = save_moduleset(tmp_path / "mods", [(run, bank)], {"mode": "rolled", "config": config})
    return load_moduleset(out), run


def test_module_set_records_and_honours_the_semantics(tmp_path):
    model, data = tiny_model("lstm", 2, hidden=HIDDEN, seed=4), tiny_data()
    bank = _bank(model, steps=model.steps, seed=4)
    ms, run = _saved(tmp_path, model, data, bank, {"unit_semantics": "legacy-edits"})
    assert ms.unit_semantics == "legacy-edits"
    loaded = next(iter(ms.banks.values()))
    assert loaded.unit_semantics == "legacy-edits"
    torch.testing.assert_close(
        loaded.scores(run.model, data.x_test), bank.scores(model, data.x_test)
    )


def test_a_manifest_without_the_field_loads_as_dead(tmp_path):
    model, data = tiny_model("lstm", 1, hidden=HIDDEN, seed=5), tiny_data()
    bank = _bank(model, steps=model.steps, seed=5)
    ms, _ = _saved(tmp_path, model, data, bank, {"preset": "paper"})
    assert ms.unit_semantics == "dead"
    assert next(iter(ms.banks.values())).unit_semantics == "dead"


def test_an_unknown_semantics_is_refused(tmp_path):
    model, data = tiny_model("lstm", 1, hidden=HIDDEN, seed=5), tiny_data()
    with pytest.raises(RnnmodError, match="unit_semantics"):
        _saved(tmp_path, model, data, _bank(model, seed=5), {"unit_semantics": "zombie"})


@pytest.mark.parametrize(("io_type", "unrolled"), [("1:N", False), ("M:1", True)])
def test_export_bakes_the_edits_and_refuses_to_slice(tmp_path, io_type, unrolled):
    """Same mask at every step (rolled 1:N; unrolled M:1 with identical steps): the baked model
    (removed units' rows and the removed→removed recurrent weights zeroed) equals the bank; a
    compact export is refused, since the removed units feed the kept ones."""
    model, data = tiny_model("gru", 2, io_type, hidden=HIDDEN, seed=6), tiny_data(io_type)
    bank = _bank(model, k=2, seed=6)
    if unrolled:
        bank.unit_masks = [m.expand(-1, model.steps, -1).clone() for m in bank.unit_masks]
    ms, run = _saved(tmp_path, model, data, bank, {"unit_semantics": "legacy-edits"})
    loaded = next(iter(ms.banks.values()))
    assert loaded.engine_semantics(run.model) == "legacy-edits"
    with pytest.raises(RnnmodError, match="legacy-edits"):
        export_module(ms, ms.labels[0], compact=True)
    expected = loaded.scores(run.model, data.x_test)
    for k, label in enumerate(ms.labels):
        baked = export_module(ms, label, compact=False)
        torch.testing.assert_close(baked.scores(data.x_test), expected[k], atol=1e-5, rtol=1e-5)


def test_rolled_one_output_legacy_exports_compact(tmp_path):
    model, data = tiny_model("lstm", 2, hidden=HIDDEN, seed=7), tiny_data()
    ms, run = _saved(
        tmp_path, model, data, _bank(model, k=2, seed=7), {"unit_semantics": "legacy-edits"}
    )
    mod = export_module(ms, ms.labels[0], compact=True)
    bank = next(iter(ms.banks.values()))
    torch.testing.assert_close(
        mod.scores(data.x_test), bank.scores(run.model, data.x_test)[0], atol=1e-5, rtol=1e-5
    )
