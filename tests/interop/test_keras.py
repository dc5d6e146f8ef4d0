"""Keras .h5 import: every supported layer against a NumPy reference of the Keras equations,
both semantics, and one-line errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnmod.errors import RnnmodError
from rnnmod.interop import check_fits_data, import_keras
from tests.helpers import tiny_data
from tests.interop.kerasfile import KerasFile, keras_predict, softmax

V, E, L, H, C = 13, 5, 7, 6, 4


def ids(n=9, seq=L, seed=3):
    g = np.random.default_rng(seed)
    x = g.integers(1, V, size=(n, seq))
    x[:3, :2] = 0  # pre-padding runs through the RNN like any token (no masking)
    return x


def m1(kind, depth=1, **rnn):
    kf = KerasFile()
    kf.embedding(V, E, L)
    for i in range(depth):
        kf.rnn(kind, H, E if i == 0 else H, return_sequences=i < depth - 1, **rnn)
        if i < depth - 1:
            kf.dropout(0.3)
    kf.dense(C, H)
    return kf


def probs(model, x):
    with torch.no_grad():
        return softmax(model(torch.as_tensor(x)).double().numpy())


def check(kf, tmp_path, semantics, atol=1e-5):
    path = kf.save(tmp_path / "model.h5")
    model, info = import_keras(path, semantics)
    x = ids()
    np.testing.assert_allclose(probs(model, x), keras_predict(kf, x, semantics), atol=atol)
    assert info["semantics"] == semantics
    return model, info


CASES = {
    "rnn-tanh": ("SimpleRNN", {"activation": "tanh"}),
    "rnn-relu": ("SimpleRNN", {"activation": "relu"}),
    "lstm-hard": ("LSTM", {"recurrent_activation": "hard_sigmoid"}),
    "lstm-sigmoid": ("LSTM", {"recurrent_activation": "sigmoid"}),
    "gru-hard-reset-before": (
        "GRU",
        {"recurrent_activation": "hard_sigmoid", "reset_after": False},
    ),
    "gru-sigmoid-reset-after": ("GRU", {"recurrent_activation": "sigmoid", "reset_after": True}),
    "gru-hard-reset-after": ("GRU", {"recurrent_activation": "hard_sigmoid", "reset_after": True}),
    "lstm-nobias": ("LSTM", {"use_bias": False}),
}


@pytest.mark.parametrize("semantics", ["keras", "paper"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_many_to_one_matches_keras_equations(case, semantics, tmp_path):
    kind, kw = CASES[case]
    model, _ = check(m1(kind, depth=2, **kw), tmp_path, semantics)
    assert model.cfg.io_type == "M:1" and model.cfg.depth == 2


def test_semantics_differ_where_the_paper_says(tmp_path):
    """hard_sigmoid and reset-before GRU change predictions; the paper form is native torch."""
    for kind, kw in (("LSTM", {}), ("GRU", {"reset_after": False})):
        path = m1(kind, **kw).save(tmp_path / f"{kind}.h5")
        keras, _ = import_keras(path, "keras")
        paper, _ = import_keras(path, "paper")
        assert not keras.native and paper.native
        x = torch.as_tensor(ids())
        with torch.no_grad():
            assert (keras(x) - paper(x)).abs().max() > 1e-3


def test_many_to_many_time_distributed_and_plain_dense(tmp_path):
    for td in (True, False):
        kf = KerasFile(seed=1)
        kf.embedding(V, E, L)
        kf.rnn("GRU", H, E, return_sequences=True, reset_after=False)
        kf.rnn("GRU", H, H, return_sequences=True, reset_after=False)
        kf.dropout()
        kf.dense(C, H, time_distributed=td)
        model, _ = check(kf, tmp_path, "keras")
        assert model.cfg.io_type == "M:N" and model.steps == L


def test_one_to_one_flatten_repeat(tmp_path):
    kf = KerasFile(seed=2, scale=0.3)
    kf.embedding(V, E, L)
    kf.flatten()
    kf.repeat(1)
    kf.rnn("LSTM", H, E * L, return_sequences=False)
    kf.dense(C, H)
    model, _ = check(kf, tmp_path, "keras")
    assert model.cfg.io_type == "1:1" and model.flattens


def test_one_to_many_flatten_repeat_dropout(tmp_path):
    kf = KerasFile(seed=3, scale=0.3)
    kf.embedding(V, E, L)
    kf.flatten()
    kf.repeat(4)
    kf.rnn("SimpleRNN", H, E * L, return_sequences=True, activation="relu")
    kf.dropout(0.2)
    kf.dense(C, H, time_distributed=True)
    model, info = check(kf, tmp_path, "paper")
    assert model.cfg.io_type == "1:N" and model.steps == 4 and model.cfg.dropout == 0.2
    assert info["head_activation"] == "softmax"


def test_functional_single_chain(tmp_path):
    kf = m1("LSTM")
    path = kf.save(tmp_path / "f.h5", functional=True)
    model, info = import_keras(path)
    assert info["model_class"] == "Functional"
    np.testing.assert_allclose(probs(model, ids()), keras_predict(kf, ids()), atol=1e-5)


def test_imported_model_decomposes_on_the_engine(tmp_path):
    """Keras semantics run through the cell engine everywhere, decomposition included."""
    from rnnmod.decomposition import decompose, preset
    from rnnmod.modules import vote

    kf = KerasFile(seed=4)
    kf.embedding(12, E, 6)
    kf.rnn("GRU", 8, E, return_sequences=False, reset_after=False)
    kf.dense(4, 8)
    model, _ = import_keras(kf.save(tmp_path / "g.h5"), "keras")
    data = tiny_data()
    check_fits_data(model, data)
    dec = decompose(model, data, preset("default", max_remove=0.0, ratio_rule=0.0), progress=False)
    with torch.no_grad():
        logits = model(data.x_test)
        scores = dec.bank.scores(model, data.x_test)
    assert torch.equal(vote(scores, dec.bank.class_index), logits.argmax(1))


# ---------------------------------------------------------------- bad input
def test_unsupported_layer_is_named(tmp_path):
    kf = KerasFile()
    kf.embedding(V, E, L)
    kf.layer("Conv1D", "conv1d", {"filters": 3})
    kf.rnn("LSTM", H, 3, return_sequences=False)
    kf.dense(C, H)
    with pytest.raises(
        RnnmodError, match=r"layer 'conv1d' \(Conv1D\) is not supported; supported layers: .*LSTM"
    ):
        import_keras(kf.save(tmp_path / "c.h5"))


def test_time_distributed_of_other_layer_refused(tmp_path):
    kf = KerasFile()
    kf.embedding(V, E, L)
    kf.rnn("LSTM", H, E, return_sequences=True)
    kf.layer(
        "TimeDistributed", "time_distributed", {"layer": {"class_name": "Conv1D", "config": {}}}
    )
    with pytest.raises(RnnmodError, match="wraps 'Conv1D'"):
        import_keras(kf.save(tmp_path / "t.h5"))


def test_kernel_shape_disagreeing_with_config(tmp_path):
    kf = m1("LSTM")
    name, arrays = "lstm", kf.weights["lstm"]
    kf.weights[name] = [(n, a[:, :-4] if n.endswith("/kernel:0") else a) for n, a in arrays]
    with pytest.raises(
        RnnmodError,
        match=r"layer 'lstm' \(LSTM\): kernel has shape \(5, 20\), but its config needs \(5, 24\)",
    ):
        import_keras(kf.save(tmp_path / "k.h5"))


def test_not_hdf5_and_truncated(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_text("not an hdf5 file")
    with pytest.raises(RnnmodError, match="not a readable HDF5 file"):
        import_keras(junk)
    good = m1("GRU").save(tmp_path / "good.h5").read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(
        RnnmodError, match="cut.h5: (not a readable HDF5 file|damaged or truncated)"
    ):
        import_keras(cut)
    with pytest.raises(RnnmodError, match="no such file"):
        import_keras(tmp_path / "missing.h5")


def test_weights_only_file(tmp_path):
    import h5py

    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f.create_group("lstm")
    with pytest.raises(RnnmodError, match="no 'model_config' attribute"):
        import_keras(path)


def test_encoder_decoder_refused_clearly(tmp_path):
    kf = KerasFile()
    kf.embedding(V, E, L)
    kf.layers[-1]["config"]["name"] = "encoder_embedding"
    kf.weights["encoder_embedding"] = kf.weights.pop("embedding")
    kf.rnn("LSTM", H, E, return_sequences=False)
    kf.dense(C, H)
    with pytest.raises(
        RnnmodError, match="encoder–decoder .* not supported yet .*encoder_embedding"
    ):
        import_keras(kf.save(tmp_path / "ed.h5", functional=True))


def test_mixed_kinds_and_masking_refused(tmp_path):
    kf = KerasFile()
    kf.embedding(V, E, L)
    kf.rnn("LSTM", H, E, return_sequences=True)
    kf.rnn("GRU", H, H, return_sequences=False)
    kf.dense(C, H)
    with pytest.raises(RnnmodError, match="mixed recurrent layer kinds"):
        import_keras(kf.save(tmp_path / "mix.h5"))
    kf = KerasFile()
    kf.embedding(V, E, L, mask_zero=True)
    kf.rnn("LSTM", H, E, return_sequences=False)
    kf.dense(C, H)
    with pytest.raises(RnnmodError, match="mask_zero"):
        import_keras(kf.save(tmp_path / "mask.h5"))


def test_vocabulary_must_match_the_embedding(tmp_path):
    data = tiny_data()  # 12 ids
    for rows, word in ((13, "fewer than"), (11, "only")):
        kf = KerasFile()
        kf.embedding(rows, E, 6)
        kf.rnn("LSTM", H, E, return_sequences=False)
        kf.dense(4, H)
        model, _ = import_keras(kf.save(tmp_path / f"v{rows}.h5"))
        with pytest.raises(RnnmodError, match=word):
            check_fits_data(model, data)
