"""The structures of users' models (bidirectional layers, skipped padding, pooled readouts, MLP
heads): the cell engine, which masks run on, equals torch's native layers (packed where the
padding is skipped), and masks address each direction's units by position."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnmod.decomposition import decompose, preset
from rnnmod.metrics.cost import monolithic_macs
from rnnmod.nn.cells import BiLayerWeights, run_bidirectional_layer
from tests.helpers import tiny_data, tiny_model

SHAPES = [
    {"bidirectional": True},
    {"padding": "skipped"},
    {"bidirectional": True, "padding": "skipped"},
    {"bidirectional": True, "readout": "max", "pool_steps": "all"},
    {"padding": "skipped", "readout": "mean"},
    {"bidirectional": True, "padding": "skipped", "readout": "max", "head_hidden": [7, 6]},
    {"head_hidden": [9], "head_activation": "tanh"},
]


def padded_ids(side: str, n: int = 12, seq: int = 6, vocab: int = 12) -> torch.Tensor:
    """Rows of real lengths 1..seq padded with 0 after (post), before (pre), either (mixed), or
    0 ids anywhere (holes)."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, vocab, (n, seq), generator=g)
    real = torch.arange(n) % seq + 1
    steps = torch.arange(seq)
    post = steps >= real[:, None]
    pre = steps < (seq - real)[:, None]
    if side == "holes":
        ids[torch.rand(n, seq, generator=g) < 0.4] = 0
        ids[0] = 0  # a row without a real id
    elif side == "post":
        ids[post] = 0
    elif side == "pre":
        ids[pre] = 0
    else:
        ids[: n // 2][post[: n // 2]] = 0
        ids[n // 2 :][pre[n // 2 :]] = 0
    return ids


def engine_logits(model, ids):
    return model.head(model.head_features(model.run_engine(ids).output, ids))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "rnn-relu"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("side", ["post", "pre", "mixed", "holes"])
def test_engine_equals_native_layers(cell, shape, side):
    model = tiny_model(cell, depth=2, **shape)
    ids = padded_ids(side)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), engine_logits(model, ids), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_skipped_padding_is_packed_sequence_semantics(cell):
    """A bidirectional 2-layer model that skips padding = torch over packed sequences."""
    model = tiny_model(cell, depth=2, bidirectional=True, padding="skipped")
    ref = (nn.LSTM if cell == "lstm" else nn.GRU)(
        5, 8, num_layers=2, bidirectional=True, batch_first=True
    )
    state = {}
    for i, rnn in enumerate(model.rnns):
        for k, v in rnn.state_dict().items():
            state[k.replace("_l0", f"_l{i}")] = v
    ref.load_state_dict(state)
    ids = padded_ids("post")
    lengths = (ids != 0).sum(1)
    packed = nn.utils.rnn.pack_padded_sequence(
        model.embedding(ids), lengths, batch_first=True, enforce_sorted=False
    )
    with torch.no_grad():
        out, h_n = ref(packed)
        h_n = h_n[0] if cell == "lstm" else h_n
        final = torch.cat([h_n[-2], h_n[-1]], -1)
        torch.testing.assert_close(model.head(final), model(ids), atol=1e-5, rtol=1e-5)
        states, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=6)
        engine = model.run_engine(ids).output
        real = (ids != 0).unsqueeze(-1)
        torch.testing.assert_close(engine * real, states * real, atol=1e-5, rtol=1e-5)


def test_a_backward_unit_masked_at_position_t_is_dead_there_only():
    model = tiny_model("lstm", bidirectional=True)
    w = model.layer_weights()[0]
    assert isinstance(w, BiLayerWeights)
    x = model.recurrent_input(padded_ids("none"))
    mask = torch.ones(1, 6, 16)
    mask[0, 2, 8 + 3] = 0  # backward unit 3 at position 2
    with torch.no_grad():
        out, _, _, _ = run_bidirectional_layer(x, w, "lstm", unit_mask=mask)
        full, _, _, _ = run_bidirectional_layer(x, w, "lstm")
    assert bool((out[:, 2, 11] == 0).all())
    torch.testing.assert_close(out[:, 3:], full[:, 3:])  # the backward direction reads 5→0
    assert not torch.allclose(out[:, :2, 8:], full[:, :2, 8:])
    torch.testing.assert_close(out[..., :8], full[..., :8])  # the forward direction untouched


@pytest.mark.parametrize("mode", ["rolled", "unrolled"])
@pytest.mark.parametrize("io_type", ["M:1", "M:N"])
def test_modules_of_a_bidirectional_model_score_as_masked_models(mode, io_type):
    shape = {"bidirectional": True, "padding": "skipped"}
    if io_type == "M:1":
        shape |= {"readout": "max", "head_hidden": [6]}
    model = tiny_model("gru", depth=2, io_type=io_type, **shape)
    data = tiny_data(io_type, n=90)
    cfg = preset("default", mode=mode, max_remove=0.4, min_observations=1, n_positive=30)
    bank = decompose(model, data, cfg, progress=False).bank
    assert bank.unit_masks[0].shape[-1] == 16 and any((~m).any() for m in bank.unit_masks)
    ids = data.x_test[:20]
    scores = bank.scores(model, ids, output="logits")
    for k in range(len(bank)):
        with torch.no_grad():
            run = model.run_engine(ids, unit_masks=[m[k : k + 1].float() for m in bank.unit_masks])
            feats = model.head_features(run.output, ids)
            z = feats @ bank.head_weight[k].T + bank.head_bias[k]
        torch.testing.assert_close(scores[k], z, atol=1e-5, rtol=1e-5)


def test_monolithic_cost_counts_both_directions_and_the_mlp():
    model = tiny_model("lstm", depth=2, bidirectional=True, readout="mean", head_hidden=[7])
    g, h, e, t = 4, 8, 5, 6
    layer1 = 2 * g * h * (e + h) * t
    layer2 = 2 * g * h * (2 * h + h) * t
    assert monolithic_macs(model) == layer1 + layer2 + 2 * h * 7 + 7 * 4


def test_the_per_gate_strategy_is_refused_on_bidirectional_layers():
    from rnnmod.errors import RnnmodError

    model = tiny_model("lstm", bidirectional=True)
    with pytest.raises(RnnmodError, match="per-gate strategy is not supported on bidirectional"):
        decompose(model, tiny_data(), preset("default", gate_strategy="per-gate"), progress=False)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "rnn-relu"])
@pytest.mark.parametrize(
    "shape",
    [{"readout": "mean"}, {"readout": "max", "pool_steps": "all"}, {"head_hidden": [5]}],
    ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()),
)
def test_the_native_bank_runs_pooled_readouts_and_mlp_heads_as_the_engine(cell, shape):
    model = tiny_model(cell, depth=2, **shape)
    data = tiny_data(n=90)
    cfg = preset("default", max_remove=0.4, min_observations=1, n_positive=30)
    bank = decompose(model, data, cfg, progress=False).bank
    ids = padded_ids("mixed")
    engine = bank.scores(model, ids, kernel="engine")
    if cell == "rnn" and "head_hidden" in shape:
        assert bank.native_for(model) is None  # −1 forcing cannot pass an MLP
        return
    torch.testing.assert_close(
        bank.scores(model, ids, kernel="native"), engine, atol=1e-5, rtol=1e-5
    )
