"""ONNX export of composed models and source models, run with onnxruntime against PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnmod.cli import main
from rnnmod.decomposition import decompose, preset
from rnnmod.errors import RnnmodError
from rnnmod.interop import export_onnx, import_keras, save_model_run
from rnnmod.modules.store import load_moduleset, save_moduleset
from rnnmod.runs import load_run
from tests.helpers import tiny_data, tiny_model
from tests.interop.kerasfile import KerasFile

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def module_set(tmp_path, model, data, cfg, name="mods"):
    run = load_run(save_model_run(tmp_path / f"{name}-run", model, data)[0])
    dec = decompose(run.model, data, cfg, progress=False)
    return save_moduleset(tmp_path / name, [(run, dec.bank)], {"mode": cfg.mode})


def run_onnx(path, ids):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"ids": ids.numpy()})


def metadata(path):
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_composed_subset_via_cli_matches_pytorch(tmp_path, capsys):
    data = tiny_data(n=80)
    mods = module_set(
        tmp_path,
        tiny_model("lstm", depth=2),
        data,
        preset("default", mode="unrolled", max_remove=0.3, min_observations=1),
    )
    out = tmp_path / "composed.onnx"
    rc = main(["export", str(mods), "--onnx", str(out), "--labels", "c0,c2,c3", "--json"])
    assert rc == 0
    info = json.loads(capsys.readouterr().out)["exports"][0]
    assert info["labels"] == ["c0", "c2", "c3"] and info["max_abs_diff"] < 1e-5
    ms = load_moduleset(mods)
    bank = next(iter(ms.banks.values())).select([0, 2, 3])
    assert any((~m).any() for m in bank.unit_masks)  # units really removed
    run = ms.single_source
    for n in (1, 37):
        x = data.x_test[:n]
        scores, label = run_onnx(out, x)
        ref = bank.scores(run.model, x).T
        np.testing.assert_allclose(scores, ref.numpy(), atol=1e-5)
        assert np.array_equal(label, ref.argmax(1).numpy())
    meta = metadata(out)
    assert json.loads(meta["rnnmod.labels"]) == ["c0", "c2", "c3"]
    assert meta["rnnmod.kind"] == "composed"
    assert main(["export", str(mods), "--onnx", str(out)]) == 2  # exists, no --overwrite


def test_keras_semantics_tagger_per_gate_modules(tmp_path):
    """hard_sigmoid, reset-before GRU (cell engine only), per-step per-gate masks, [B, T, K]."""
    kf = KerasFile(seed=5)
    kf.embedding(12, 5, 6)
    kf.rnn("GRU", 8, 5, return_sequences=True, reset_after=False)
    kf.dense(4, 8, time_distributed=True)
    model, _ = import_keras(kf.save(tmp_path / "tagger.h5"), "keras")
    data = tiny_data("M:N", n=80)
    cfg = preset(
        "default", mode="unrolled", gate_strategy="per-gate", max_remove=0.3, min_observations=1
    )
    mods = module_set(tmp_path, model, data, cfg)
    out = tmp_path / "tagger.onnx"
    info = export_onnx(mods, out)
    assert info["max_abs_diff"] < 1e-5
    ms = load_moduleset(mods)
    bank, run = next(iter(ms.banks.values())), ms.single_source
    assert not run.model.native and any((~m).any() for m in bank.gate_masks)
    x = data.x_test[:9]
    scores, label = run_onnx(out, x)
    ref = bank.scores(run.model, x).permute(1, 2, 0)
    assert scores.shape == (9, 6, len(bank))
    np.testing.assert_allclose(scores, ref.numpy(), atol=1e-5)


def test_source_run_exports_logits(tmp_path):
    data = tiny_data()
    run_dir, _ = save_model_run(tmp_path / "run", tiny_model("lstm", depth=2), data)
    out = tmp_path / "model.onnx"
    info = export_onnx(run_dir, out)
    assert info["kind"] == "model" and info["outputs"] == ["logits", "label"]
    logits, label = run_onnx(out, data.x_test[:5])
    with torch.no_grad():
        ref = load_run(run_dir).model(data.x_test[:5])
    np.testing.assert_allclose(logits, ref.numpy(), atol=1e-5)
    assert np.array_equal(label, ref.argmax(1).numpy())


def test_bad_paths(tmp_path):
    with pytest.raises(RnnmodError, match="neither a module set"):
        export_onnx(tmp_path, tmp_path / "x.onnx")
    data = tiny_data()
    run_dir, _ = save_model_run(tmp_path / "run", tiny_model(), data)
    with pytest.raises(RnnmodError, match="a run exports whole"):
        export_onnx(run_dir, tmp_path / "x.onnx", labels=["c0"])


def test_a_filled_module_set_exports_its_fills(tmp_path, capsys):
    """Removed units rebuilt from kept ones (a linear fill) run in the exported graph too."""
    from tests.modules.test_fill import with_random_fills

    data = tiny_data(n=60)
    mods = module_set(tmp_path, tiny_model("gru"), data, preset("default", min_observations=1))
    ms = load_moduleset(mods)
    run = ms.single_source
    bank = next(iter(ms.banks.values()))
    for m in bank.unit_masks:
        m[:, :, ::2] = False  # half the units removed, so there is something to fill
    filled = save_moduleset(tmp_path / "filled", [(run, with_random_fills(bank))], {})
    out = tmp_path / "filled.onnx"
    assert main(["export", str(filled), "--onnx", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exports"][0]["max_abs_diff"] < 1e-5
    bank = next(iter(load_moduleset(filled).banks.values()))
    assert bank.filled
    for n in (1, 9):  # the batch axis stays dynamic
        x = data.x_test[:n]
        scores, _ = run_onnx(out, x)
        np.testing.assert_allclose(scores, bank.scores(run.model, x).T.numpy(), atol=1e-5)
