"""``DecompositionConfig.unit_semantics``: presets, validation, stable hashes, the decomposition,
the module set, composition and the command line."""

import json

import pytest
import torch

import rnnmod.api
from rnnmod.api import DecomposeResult, save_modules
from rnnmod.cli import build_parser, main
from rnnmod.composition import compose_modulesets
from rnnmod.decomposition import decompose, preset
from rnnmod.decomposition.config import DecompositionConfig, preset_key
from rnnmod.errors import RnnmodError
from rnnmod.kinds.translator import TranslatorKind
from tests.helpers import saved_tiny_run


def test_presets_keep_dead_units_unless_asked():
    assert preset("default").unit_semantics == "dead"
    assert preset("paper").unit_semantics == "dead"
    cfg = preset("paper", mode="unrolled", unit_semantics="legacy-edits")
    assert cfg.unit_semantics == "legacy-edits" and cfg.preset == "paper"


def test_hashes_of_dead_configurations_are_unchanged():
    """The field joined the config after module sets and result caches were keyed by these
    hashes: a ``dead`` config hashes as before, ``legacy-edits`` differently."""
    assert preset_key("default") == "default@d997cb1be2a7ea6c"
    assert preset_key("paper") == "paper@13bcca5d16604d17"
    assert preset("paper", mode="unrolled").hash() == "93bf7eaa14220797"
    legacy = preset("paper", mode="unrolled", unit_semantics="legacy-edits")
    assert legacy.hash() != "93bf7eaa14220797"
    assert legacy.to_dict()["unit_semantics"] == "legacy-edits"
    assert preset("paper").to_dict()["unit_semantics"] == "dead"  # recorded in every manifest


def test_old_config_dicts_load_as_dead():
    d = preset("paper", mode="unrolled").to_dict()
    del d["unit_semantics"]
    cfg = DecompositionConfig.from_dict(d)
    assert cfg.unit_semantics == "dead" and cfg.hash() == "93bf7eaa14220797"


def test_invalid_combinations_are_refused():
    with pytest.raises(RnnmodError, match="unit_semantics"):
        preset("default", unit_semantics="zombie")
    with pytest.raises(RnnmodError, match="per-gate"):
        preset("default", gate_strategy="per-gate", unit_semantics="legacy-edits")
    with pytest.raises(RnnmodError, match="unit-semantics"):
        TranslatorKind().decomposition_config("default", unit_semantics="legacy-edits")


@pytest.fixture()
def saved_run(tmp_path):
    return saved_tiny_run(tmp_path)


def _decompose(run, data, semantics, mode="unrolled"):
    cfg = preset("paper", mode=mode, max_remove=0.25, unit_semantics=semantics)
    dec = decompose(run.model, data, cfg, progress=False)
    dec.source = run
    return dec


def test_same_masks_other_scores_and_a_recorded_manifest(tmp_path, saved_run):
    run, data = saved_run
    dead, legacy = _decompose(run, data, "dead"), _decompose(run, data, "legacy-edits")
    for a, b in zip(dead.bank.unit_masks, legacy.bank.unit_masks):
        assert torch.equal(a, b)  # the option changes how masks run, not which units go
    assert any((~m).any() for m in legacy.bank.unit_masks)
    assert legacy.bank.unit_semantics == "legacy-edits"
    s_dead = dead.bank.scores(run.model, data.x_test)
    s_legacy = legacy.bank.scores(run.model, data.x_test)
    assert not torch.allclose(s_dead, s_legacy)
    ms = save_modules(legacy, tmp_path / "mods")
    man = json.loads((tmp_path / "mods" / "manifest.json").read_text())
    assert man["config"]["unit_semantics"] == "legacy-edits"
    assert man["config_hash"] == legacy.config.hash()
    torch.testing.assert_close(
        next(iter(ms.banks.values())).scores(run.model, data.x_test), s_legacy
    )
    dead_ms = save_modules(dead, tmp_path / "dead")
    assert (
        json.loads((tmp_path / "dead" / "manifest.json").read_text())["config"]["unit_semantics"]
        == "dead"
    )
    assert next(iter(dead_ms.banks.values())).unit_semantics == "dead"


def test_compose_refuses_mixed_semantics(tmp_path, saved_run):
    run, data = saved_run
    dead = save_modules(_decompose(run, data, "dead"), tmp_path / "dead")
    legacy = save_modules(_decompose(run, data, "legacy-edits"), tmp_path / "legacy")
    rolled = save_modules(_decompose(run, data, "legacy-edits", "rolled"), tmp_path / "rolled")
    with pytest.raises(RnnmodError, match="run removed units differently"):
        compose_modulesets([dead, legacy], ["1:c0", "2:c1"], tmp_path / "mix")
    with pytest.raises(RnnmodError, match="rolled and unrolled"):
        compose_modulesets([rolled, legacy], ["1:c0", "2:c1"], tmp_path / "modes")
    out = compose_modulesets([legacy], ["c0", "c2"], tmp_path / "comp")
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["unit_semantics"] == "legacy-edits"


def test_cli_passes_the_option(saved_run, monkeypatch, capsys):
    run, _ = saved_run
    args = build_parser().parse_args(
        ["decompose", str(run.path), "--out", "x", "--unit-semantics", "legacy-edits"]
    )
    assert args.unit_semantics == "legacy-edits"
    seen = {}

    def fake(run_, out, cfg, **_):
        seen["cfg"] = cfg
        return DecomposeResult(out, False, 4, 0.9, 0.1)

    monkeypatch.setattr(rnnmod.api, "decompose_to", fake)
    argv = ["decompose", str(run.path), "--out", "x", "--preset", "paper", "--mode", "unrolled"]
    assert main([*argv, "--unit-semantics", "legacy-edits"]) == 0
    assert seen["cfg"].unit_semantics == "legacy-edits" and seen["cfg"].preset == "paper"
    assert "legacy-edits" in capsys.readouterr().out
    assert main(argv) == 0
    assert seen["cfg"].unit_semantics == "dead"
