"""Training defaults: the paper's Keras initialisation (paper-method §2.2) and its record."""

from __future__ import annotations

import pytest
import torch

from rnnmod.errors import RnnmodError
from rnnmod.training import TrainConfig, build_for, train_classifier
from tests.helpers import tiny_data


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "rnn-relu"])
@pytest.mark.parametrize("depth", [1, 2])
def test_keras_init_matches_keras_defaults(cell, depth):
    data = tiny_data("M:1")
    torch.manual_seed(0)
    m = build_for(data, TrainConfig(cell=cell, depth=depth, hidden=6, init="keras"))
    g = {"lstm": 4, "gru": 3}.get(cell, 1)
    assert m.embedding.weight.abs().max() <= 0.05
    for rnn in m.rnns:
        h = rnn.hidden_size
        # Keras recurrent kernel [H, G·H] is orthogonal: its rows are orthonormal
        u = rnn.weight_hh_l0.detach().t()
        assert u.shape == (h, g * h)
        torch.testing.assert_close(u @ u.t(), torch.eye(h), atol=1e-5, rtol=0)
        fan_in, fan_out = rnn.weight_ih_l0.shape[1], g * h  # Glorot over the whole kernel
        limit = (6 / (fan_in + fan_out)) ** 0.5
        assert rnn.weight_ih_l0.abs().max() <= limit
        assert rnn.weight_ih_l0.abs().max() > 0.5 * limit
        expected = torch.zeros(g * h)
        if cell == "lstm":
            expected[h : 2 * h] = 1.0  # unit_forget_bias, torch gate order i, f, g, o
        torch.testing.assert_close(rnn.bias_ih_l0.detach(), expected)
        torch.testing.assert_close(rnn.bias_hh_l0.detach(), torch.zeros(g * h))
    assert torch.count_nonzero(m.head.bias) == 0


def test_torch_init_keeps_pytorch_defaults():
    data = tiny_data("M:1")
    torch.manual_seed(0)
    m = build_for(data, TrainConfig(cell="rnn", hidden=6, init="torch"))
    # PyTorch: every recurrent parameter U(−1/√H, 1/√H), biases not zero
    assert torch.count_nonzero(m.rnns[0].bias_hh_l0) > 0
    u = m.rnns[0].weight_hh_l0.detach().t()
    assert not torch.allclose(u @ u.t(), torch.eye(6), atol=1e-2)


def test_init_is_recorded_and_validated():
    data = tiny_data("M:1")
    _, metrics = train_classifier(data, TrainConfig(cell="gru", epochs=1, progress=False))
    assert metrics["init"] == "keras"
    model, _ = train_classifier(data, TrainConfig(cell="gru", epochs=1, progress=False))
    _, tuned = train_classifier(data, TrainConfig(epochs=1, progress=False), model=model)
    assert tuned["init"] == "given model"
    with pytest.raises(RnnmodError, match="unknown init"):
        build_for(data, TrainConfig(init="xavier"))


def test_init_is_seeded():
    data = tiny_data("M:1")
    a, _ = train_classifier(data, TrainConfig(cell="lstm", epochs=1, progress=False))
    b, _ = train_classifier(data, TrainConfig(cell="lstm", epochs=1, progress=False))
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
