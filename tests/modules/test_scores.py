"""Comparable per-text module scores (rnnmod.modules.scores)."""

import pytest
import torch

from rnnmod.decomposition import decompose, preset
from rnnmod.modules.scores import log_odds, max_over_positions, text_log_odds
from tests.helpers import tiny_data, tiny_model


def test_max_over_real_positions():
    s = torch.tensor([[[0.9, 0.2, 0.4], [0.1, 0.3, 0.2]]])  # [K=1, B=2, T=3]
    real = torch.tensor([[False, True, True], [False, False, False]])
    assert max_over_positions(s, real).tolist() == [[pytest.approx(0.4), float("-inf")]]
    assert max_over_positions(s, None).tolist() == [[pytest.approx(0.9), pytest.approx(0.3)]]


def test_log_odds_leaves_the_padding_slot_out():
    z = torch.tensor([[0.0, 1.0, 3.0], [2.0, 0.5, -5.0]])
    assert log_odds(z).tolist() == [1.0, -1.5]


@pytest.mark.parametrize("io_type", ["M:1", "M:N"])
def test_text_scores_are_the_banks_log_odds_reduced_per_text(io_type, tmp_path):
    from rnnmod.runs import load_run, save_run

    d = tiny_data(io_type, seed=1)
    model = tiny_model("gru", 1, io_type, n_classes=d.n_classes)
    cfg = {"task": "t", "io_type": io_type, "pad_label": d.pad_label}
    run = load_run(save_run(tmp_path / "run", model, cfg, d.vocab, d.label_names, {}))
    bank = decompose(run.model, d, preset("default", mode="rolled"), progress=False).bank
    texts = [" ".join(d.vocab.tokens[i] for i in row if i != 0) for row in d.x_test[:5].tolist()]
    got = text_log_odds(run, bank, texts)
    assert got.shape == (len(bank), 5)
    z = bank.scores(run.model, d.vocab.encode_texts(texts), output="logits")
    want = z[..., 1] - z[..., 0]
    if io_type == "M:N":
        ids = d.vocab.encode_texts(texts)
        want = want.masked_fill(ids[None] == 0, float("-inf")).amax(-1)
    assert torch.allclose(got, want)
