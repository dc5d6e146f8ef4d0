import torch

from rnnmod.decomposition.sampling import largest_remainder, sample_one_output


def test_first_n_follows_dataset_order():
    y = torch.tensor([0, 1, 0, 2, 1, 0, 2, 2, 1, 0])
    s = sample_one_output(y, 3, n_positive=2, n_negative=None, method="first-n", seed=0)
    pos = [[int(s.union[i]) for i in row if i >= 0] for row in s.pos]
    neg = [[int(s.union[i]) for i in row if i >= 0] for row in s.neg]
    assert pos == [[0, 2], [1, 4], [3, 6]]
    assert neg == [[1], [0], [0]]  # ceil(2 / 2) = 1 first non-class example
    assert s.n_pos == [2, 2, 2] and s.wanted_neg == 1


def test_stratified_negatives_are_proportional_and_seeded():
    y = torch.cat([torch.zeros(50), torch.ones(30), torch.full((20,), 2)]).long()
    a = sample_one_output(y, 3, n_positive=10, n_negative=10, method="stratified", seed=1)
    b = sample_one_output(y, 3, n_positive=10, n_negative=10, method="stratified", seed=1)
    assert torch.equal(a.union, b.union) and torch.equal(a.neg, b.neg)
    neg_labels = y[a.union[a.neg[0]]]
    assert (neg_labels == 1).sum() == 6 and (neg_labels == 2).sum() == 4  # 30:20 of 10
    assert all((y[a.union[a.pos[c]]] == c).all() for c in range(3))


def test_short_classes_use_what_exists():
    y = torch.tensor([0] * 5 + [1] * 2)
    s = sample_one_output(y, 2, n_positive=4, n_negative=None, method="stratified", seed=0)
    assert s.n_pos == [4, 2]


def test_largest_remainder_sums_exactly():
    q = largest_remainder(7, torch.tensor([[0, 1, 1, 1], [5, 0, 3, 0]]))
    assert q.sum(1).tolist() == [7, 7]
    assert q[1].tolist() == [4, 0, 3, 0]
