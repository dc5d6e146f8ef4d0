"""The eight users' models of examples/user_models.py, untrained on tiny data: each is adapted
unchanged, agrees with its adapted copy on padded rows, and decomposes rolled and unrolled."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import rnnmod
from rnnmod.decomposition import decompose, preset
from tests.helpers import tiny_data

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user_models.py"


def example():
    spec = importlib.util.spec_from_file_location("user_models", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


EX = example()
EXPECTED = {  # what from_torch must read from each forward
    "last-state-lstm": ("M:1", "lstm", 1, False, "tokens", "last", []),
    "bilstm-maxpool-mlp": ("M:1", "lstm", 1, True, "tokens", "max", [64]),
    "packed-gru": ("M:1", "gru", 1, False, "skipped", "last", []),
    "log-softmax-tagger": ("M:N", "lstm", 1, False, "tokens", "last", []),
    "frozen-meanpool-lstm2": ("M:1", "lstm", 2, False, "tokens", "mean", []),
    "relu-rnn": ("M:1", "rnn-relu", 1, False, "tokens", "last", []),
    "bigru2-tagger": ("M:N", "gru", 2, True, "tokens", "last", []),
    "nll-classifier": ("M:1", "gru", 1, False, "tokens", "last", []),
}


@pytest.mark.parametrize("name", list(EX.MODELS))
def test_each_example_model_is_adapted_unchanged_and_decomposes(name):
    _task, side, make, _loss, _epochs = EX.MODELS[name]
    io = EXPECTED[name][0]
    data = EX.repad(tiny_data(io, n=60, vocab=20, seq_len=7), side)
    torch.manual_seed(0)
    model = make(data, torch.randn(data.vocab.size, 50)).eval()
    adapted = rnnmod.from_torch(model, vocab=data.vocab, sample=data.x_test)
    c = adapted.cfg
    got = (c.io_type, c.cell, c.depth, c.bidirectional, c.padding, c.readout, c.head_hidden)
    assert got == EXPECTED[name]
    with torch.no_grad():
        theirs = torch.log_softmax(EX.call(model, data.x_test), -1)
        torch.testing.assert_close(
            torch.log_softmax(adapted(data.x_test), -1), theirs, atol=1e-4, rtol=0
        )
    for mode in ("rolled", "unrolled"):
        cfg = preset("default", mode=mode, n_positive=10, min_observations=1, max_remove=0.3)
        bank = decompose(adapted, data, cfg, progress=False).bank
        assert bank.scores(adapted, data.x_test).shape[:2] == (len(bank), len(data.x_test))
