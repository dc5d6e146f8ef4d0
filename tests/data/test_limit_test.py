"""TaskData.limit_test: a seeded subset of the test split with the raw texts kept aligned."""

import torch

from tests.helpers import tiny_data


def test_limit_test_is_seeded_sorted_and_keeps_texts_aligned():
    d = tiny_data()
    d.extra["texts_test"] = [f"t{i}" for i in range(len(d.x_test))]
    x, y = d.x_test.clone(), d.y_test.clone()
    keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(3))[:7].sort().values
    d.limit_test(7, seed=3)
    assert torch.equal(d.x_test, x[keep]) and torch.equal(d.y_test, y[keep])
    assert d.extra["texts_test"] == [f"t{i}" for i in keep.tolist()]
    assert "seeded random 7 of the 60 test examples" in d.notes[-1]
    assert d.limit_test(None) is d and len(d.x_test) == 7  # no limit: unchanged
