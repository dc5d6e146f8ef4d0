"""Many-output models (1:N, M:N): per-step sampling, per-step masks, padding-aware voting."""

import pytest
import torch
from torch import nn

from rnnmod.composition.evaluate import evaluate_bank
from rnnmod.decomposition import decompose, preset
from rnnmod.decomposition.sampling import sample_per_step
from rnnmod.modules import vote
from rnnmod.nn.cells import CELL_KINDS, LayerWeights, canonical_mask, run_stack
from rnnmod.runs import Run
from tests.helpers import tiny_data, tiny_model


def test_per_step_sampling_on_a_hand_made_label_matrix():
    y = torch.tensor(
        [
            [0, 1, 2],
            [0, 2, 2],
            [1, 1, 0],
            [2, 0, 1],
            [0, 1, 1],
        ]
    )
    s = sample_per_step(
        y, 3, n_positive=2, n_negative=1, method="first-n", seed=0, exclude_negative=0
    )

    def ids(t):
        return [[int(s.union[i]) for i in row if i >= 0] for row in t]

    # class 1: positives at step 0 = [2]; step 1 = [0, 2]; step 2 = [3, 4]
    assert ids(s.pos[1]) == [[2], [0, 2], [3, 4]]
    # class 1 negatives: first example whose label at t is not 1 and not padding
    assert ids(s.neg[1]) == [[3], [1], [0]]
    s2 = sample_per_step(y, 3, n_positive=2, n_negative=1, method="first-n", seed=0)
    assert ids(s2.neg[1]) == [[0], [1], [0]]  # padding positions allowed (the authors' code)


@pytest.mark.parametrize("cell", CELL_KINDS)
def test_step_masks_match_a_step_by_step_reference(cell):
    torch.manual_seed(0)
    ref = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}.get(cell, nn.RNNCell)
    kw = {"nonlinearity": "relu" if cell == "rnn-relu" else "tanh"} if ref is nn.RNNCell else {}
    cellmod = ref(3, 5, **kw)
    x = torch.randn(4, 6, 3)
    masks = torch.rand(6, 5) > 0.3
    w = LayerWeights(cellmod.weight_ih, cellmod.weight_hh, cellmod.bias_ih, cellmod.bias_hh)
    with torch.no_grad():
        got = run_stack(
            x, [w], cell, unit_masks=[canonical_mask(masks.float(), per_step=True)]
        ).output
        h = torch.zeros(4, 5)
        c = torch.zeros(4, 5)
        for t in range(6):
            if cell == "lstm":
                h, c = cellmod(x[:, t], (h, c))
                c = c * masks[t]
            else:
                h = cellmod(x[:, t], h)
            h = h * masks[t]
            torch.testing.assert_close(got[:, t], h, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("io_type", ["1:N", "M:N"])
@pytest.mark.parametrize("mode", ["rolled", "unrolled"])
def test_nothing_removed_reproduces_the_model_on_real_positions(io_type, mode):
    model, data = tiny_model("lstm", depth=2, io_type=io_type), tiny_data(io_type=io_type)
    dec = decompose(
        model, data, preset("default", mode=mode, max_remove=0.0, ratio_rule=0.0), progress=False
    )
    assert dec.bank.class_index == [1, 2, 3]  # no padding module by default
    with torch.no_grad():
        logits = model(data.x_test)  # [B, T, C]
        pred = vote(dec.bank.scores(model, data.x_test), dec.bank.class_index)
    assert torch.equal(pred, logits[..., 1:].argmax(-1) + 1)


def test_paper_preset_builds_a_padding_module_and_counts_padding():
    model, data = tiny_model("gru", io_type="M:N"), tiny_data(io_type="M:N")
    dec = decompose(model, data, preset("paper", mode="unrolled", max_remove=0.2), progress=False)
    assert dec.bank.class_index == [0, 1, 2, 3]
    assert dec.bank.unit_masks[0].shape == (4, model.steps, 8)
    run = Run(model, {"task": "tiny", "pad_label": 0}, data.vocab, data.label_names)
    res = evaluate_bank(run, dec.bank, data)
    assert res["n_modules"] == 4 and "composed_legacy" in res
    n_real = int((data.y_test != 0).sum())
    assert res["n_positions"] == n_real and res["n_positions_legacy"] == data.y_test.numel()


def test_unrolled_many_output_masks_differ_per_step():
    model, data = tiny_model("rnn", io_type="1:N"), tiny_data(io_type="1:N", n=90)
    dec = decompose(
        model, data, preset("default", mode="unrolled", max_remove=0.25), progress=False
    )
    m = dec.bank.unit_masks[0]
    assert m.shape == (3, model.steps, 8)
    assert (m != m[:, :1]).any()
