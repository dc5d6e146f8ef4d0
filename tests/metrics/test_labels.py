"""Macro-F1 and seqeval's entity-level scores on hand-checked examples."""

import math

import torch

from rnnmod.metrics.labels import entity_scores, is_iob, macro_f1

NAMES = ["<pad>", "O", "B-PER", "I-PER", "B-LOC"]


def test_macro_f1_averages_per_class_f1_over_classes_seen():
    pred, gold = torch.tensor([0, 0, 1, 1, 2]), torch.tensor([0, 1, 1, 1, 2])
    # class 0: 2·1/(2+1+0) = 2/3; class 1: 2·2/(4+0+1) = 4/5; class 2: 1; class 3 unseen
    assert math.isclose(macro_f1(pred, gold, [0, 1, 2, 3]), (2 / 3 + 4 / 5 + 1) / 3)


def test_iob_tag_sets():
    assert is_iob(NAMES[1:])
    assert not is_iob(["O"]) and not is_iob(["NOUN", "VERB"]) and not is_iob(["O", "PER"])


def test_entity_scores_count_real_tokens_only():
    gold = torch.tensor([[0, 2, 3, 1, 4], [0, 0, 1, 2, 1]])
    pred = torch.tensor([[1, 2, 3, 1, 1], [2, 1, 1, 2, 1]])  # the B-PER on padding is ignored
    got = entity_scores(pred, gold, 0, NAMES)
    assert got["precision"] == 1.0
    assert math.isclose(got["recall"], 2 / 3) and math.isclose(got["f1"], 0.8)
