import numpy as np
import pytest
import torch

from rnnmod.metrics.accuracy import accuracy
from rnnmod.metrics.jaccard import jaccard_legacy, jaccard_mask, value_jaccard
from rnnmod.modules.module import ModuleBank, vote
from tests.helpers import tiny_model


def _bank(model, keep):
    c, h = model.cfg.n_classes, model.cfg.hidden
    return ModuleBank(list(range(c)), torch.zeros(c, 2, h), torch.zeros(c, 2), unit_masks=keep)


def testvalue_jaccard_formula():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([1.0, 2.0, 0.0, 0.0])
    assert value_jaccard(a, b) == pytest.approx(2 / (4 + 4 - 2))
    assert value_jaccard(a, a) == 1.0


def test_mask_jaccard_is_one_without_removal_and_counts_positions():
    model = tiny_model("lstm", depth=1, hidden=8, n_classes=4)
    full = [torch.ones(4, 1, 8, dtype=torch.bool)]
    assert jaccard_mask(model, _bank(model, full)) == pytest.approx(1.0)
    one_off = full[0].clone()
    one_off[:, :, 0] = False
    # layer: 4 gates × (in 5 + rec 8 + 2 biases) per unit; head: 4 classes per unit + 4 biases
    total = 4 * 8 * (5 + 8 + 2) + 4 * 8 + 4
    kept = 4 * 7 * (5 + 7 + 2) + 4 * 7 + 4
    assert jaccard_mask(model, _bank(model, [one_off])) == pytest.approx(kept / total)


def test_legacy_jaccard_drops_with_removal():
    model = tiny_model("gru", depth=2, hidden=8, n_classes=4)
    full = [torch.ones(4, 1, 8, dtype=torch.bool)] * 2
    part = [m.clone() for m in full]
    part[0][:, :, :3] = False
    assert (
        jaccard_legacy(model, _bank(model, part)) < jaccard_legacy(model, _bank(model, full)) <= 1
    )


def test_vote_ties_go_to_the_lowest_label_and_accuracy_skips_padding():
    scores = torch.tensor([[0.5, 0.2], [0.5, 0.9], [0.1, 0.9]])
    assert vote(scores, [0, 1, 2]).tolist() == [0, 1]
    pred, y = torch.tensor([1, 2, 0, 0]), torch.tensor([1, 3, 0, 0])
    assert accuracy(pred, y) == 0.75
    assert accuracy(pred, y, pad_label=0) == 0.5
