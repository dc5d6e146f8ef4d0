"""Module set directory: round trip, checksums, refusal of bad artifacts."""

import json
import pickle

import pytest
import torch

from rnnmod.composition import compose_modulesets
from rnnmod.composition.evaluate import evaluate_bank
from rnnmod.decomposition import decompose, preset
from rnnmod.errors import RnnmodError
from rnnmod.modules.masks import pack_mask, unpack_mask
from rnnmod.modules.store import load_moduleset, save_moduleset
from rnnmod.runs import load_run, save_run
from tests.helpers import saved_tiny_run, tiny_model


@pytest.fixture()
def saved(tmp_path):
    run, data = saved_tiny_run(tmp_path)
    dec = decompose(
        run.model, data, preset("default", mode="unrolled", max_remove=0.25), progress=False
    )
    mods = save_moduleset(
        tmp_path / "mods", [(run, dec.bank)], {"mode": "unrolled", "config": dec.config.to_dict()}
    )
    return run, data, dec, mods


def test_pack_roundtrip():
    m = torch.rand(3, 13) > 0.4
    assert torch.equal(unpack_mask(pack_mask(m), 13), m)


def test_roundtrip_gives_identical_scores(saved):
    run, data, dec, mods = saved
    ms = load_moduleset(mods)
    assert ms.labels == data.label_names
    bank = next(iter(ms.banks.values()))
    for a, b in zip(bank.unit_masks, dec.bank.unit_masks):
        assert torch.equal(a, b)
    torch.testing.assert_close(
        bank.scores(run.model, data.x_test), dec.bank.scores(run.model, data.x_test)
    )
    man = json.loads((mods / "manifest.json").read_text())
    assert set(man["checksums"]) >= {"sources/" + next(iter(man["sources"])) + "/model.safetensors"}
    assert all(0 < e["retained_units"] <= 1 for e in man["modules"])
    src_bytes = next(iter(man["sources"].values()))["model_bytes"]
    for e in man["modules"]:
        assert e["bytes"] == (mods / e["file"]).stat().st_size
        assert e["bytes_vs_source"] == pytest.approx(e["bytes"] / src_bytes, abs=1e-6)
    assert not list(mods.parent.glob(".*tmp*"))


def test_altered_module_file_is_named(saved):
    *_, mods = saved
    f = sorted((mods / "modules").iterdir())[1]
    f.write_bytes(f.read_bytes()[:-1] + b"\x01")
    with pytest.raises(RnnmodError, match=f"checksum mismatch for .*{f.name}"):
        load_moduleset(mods)


def test_pickle_payload_is_refused(saved, tmp_path):
    run, *_ = saved
    (run.path / "model.safetensors").write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(RnnmodError, match="not a valid safetensors file"):
        load_run(run.path)


def test_future_format_is_refused(saved):
    *_, mods = saved
    man = json.loads((mods / "manifest.json").read_text())
    man["format_version"] = 99
    (mods / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(RnnmodError, match="newer rnnmod"):
        load_moduleset(mods)


def test_existing_output_is_refused_without_overwrite(saved):
    run, _data, dec, mods = saved
    with pytest.raises(RnnmodError, match="already exists"):
        save_moduleset(mods, [(run, dec.bank)], {})


def test_compose_subset_and_errors(saved, tmp_path):
    run, data, _dec, mods = saved
    ms = load_moduleset(mods)
    out = compose_modulesets([ms], ["c1", "c3"], tmp_path / "comp")
    comp = load_moduleset(out)
    assert comp.labels == ["c1", "c3"]
    res = evaluate_bank(comp.single_source, next(iter(comp.banks.values())), data)
    assert res["subset"] and res["n_test"] == int(((data.y_test == 1) | (data.y_test == 3)).sum())
    with pytest.raises(RnnmodError, match="no module labelled 'nope'"):
        compose_modulesets([ms], ["nope"], tmp_path / "x")
    with pytest.raises(RnnmodError, match="several module sets"):
        compose_modulesets([ms, ms], ["c1"], tmp_path / "y")
    two = compose_modulesets([ms, comp], ["1:c0", "2:c1"], tmp_path / "z")
    assert load_moduleset(two).labels == ["c0", "c1"]


def test_a_composed_set_keeps_the_label_order_chosen(saved, tmp_path):
    """Modules of two sources, interleaved: the set lists them in --labels order, and every score
    row (and the vote) belongs to the label at that position."""
    run, data, _dec, mods = saved
    other = load_run(save_run(tmp_path / "run2", tiny_model("gru", depth=2, seed=5), run.config,
                              data.vocab, data.label_names, {}))  # fmt: skip
    bank2 = decompose(other.model, data, preset("default", mode="unrolled"), progress=False).bank
    mods2 = save_moduleset(tmp_path / "mods2", [(other, bank2)], {"mode": "unrolled"})
    a, b = load_moduleset(mods), load_moduleset(mods2)
    out = compose_modulesets([a, b], ["2:c2", "1:c0", "2:c3", "1:c1"], tmp_path / "mix")
    ms = load_moduleset(out)
    assert ms.labels == ["c2", "c0", "c3", "c1"]
    texts = [" ".join(data.vocab.tokens[i] for i in r if i) for r in data.x_test[:20].tolist()]
    own = {"a": a.probabilities(texts), "b": b.probabilities(texts)}
    want = torch.stack([own["b"][2], own["a"][0], own["b"][3], own["a"][1]])
    assert torch.equal(ms.probabilities(texts), want)
    assert ms.predict_texts(texts) == [ms.labels[i] for i in want.argmax(0).tolist()]
