"""End-to-end decomposition identities on tiny random models."""

import pytest
import torch

from rnnmod.decomposition import decompose, preset
from rnnmod.decomposition.channel import channel_heads, positive_probability
from rnnmod.errors import RnnmodError
from rnnmod.modules import vote
from rnnmod.nn.cells import CELL_KINDS
from tests.helpers import tiny_data, tiny_model


@pytest.mark.parametrize("cell", CELL_KINDS)
@pytest.mark.parametrize("mode", ["rolled", "unrolled"])
def test_module_with_nothing_removed_reproduces_the_model(cell, mode):
    model, data = tiny_model(cell, depth=2), tiny_data()
    dec = decompose(
        model, data, preset("default", mode=mode, max_remove=0.0, ratio_rule=0.0), progress=False
    )
    assert all(m.all() for m in dec.bank.unit_masks)
    with torch.no_grad():
        logits = model(data.x_test)
        scores = dec.bank.scores(model, data.x_test)
    c = logits.shape[1]
    neg = (logits.sum(1, keepdim=True) - logits) / (c - 1)
    torch.testing.assert_close(scores, torch.sigmoid(logits - neg).T, atol=1e-5, rtol=1e-5)
    assert torch.equal(vote(scores, dec.bank.class_index), logits.argmax(1))


@pytest.mark.parametrize("cell", CELL_KINDS)
def test_removed_units_are_dead_in_every_module(cell):
    model, data = tiny_model(cell, depth=2), tiny_data()
    cfg = preset(
        "default", max_remove=0.3, relu_tangle_threshold=0.0
    )  # tiny ReLU nets rarely reach −0.5
    dec = decompose(model, data, cfg, progress=False)
    keep = dec.bank.unit_masks
    assert any((~m).any() for m in keep)
    with torch.no_grad():
        run = model.run_engine(
            data.x_test, unit_masks=[m.float() for m in keep], batch_groups=len(dec.bank)
        )
    b = len(data.x_test)
    for layer, h in enumerate(run.hidden):
        h = h.view(len(dec.bank), b, *h.shape[1:])
        dead = ~keep[layer][:, 0]  # [K, H]
        assert torch.all(h.permute(0, 3, 1, 2)[dead] == 0)


def test_unrolled_with_identical_masks_equals_rolled():
    model, data = tiny_model("gru", depth=2), tiny_data()
    rolled = decompose(model, data, preset("default", max_remove=0.25), progress=False).bank
    unrolled = decompose(
        model, data, preset("default", max_remove=0.25, mode="unrolled"), progress=False
    ).bank
    unrolled.unit_masks = [m.expand(-1, model.steps, -1).clone() for m in rolled.unit_masks]
    torch.testing.assert_close(
        rolled.scores(model, data.x_test, kernel="engine"),
        unrolled.scores(model, data.x_test, kernel="engine"),
        atol=0,
        rtol=0,
    )
    torch.testing.assert_close(  # the default (native) rolled path agrees to rounding
        rolled.scores(model, data.x_test), unrolled.scores(model, data.x_test)
    )


def test_fused_bank_equals_modules_run_one_by_one():
    model, data = tiny_model("lstm", depth=3), tiny_data()
    bank = decompose(
        model, data, preset("default", max_remove=0.3, mode="unrolled"), progress=False
    ).bank
    fused = bank.scores(model, data.x_test)
    for k in range(len(bank)):
        one = bank.select([k]).scores(model, data.x_test)
        torch.testing.assert_close(fused[k : k + 1], one, atol=1e-5, rtol=1e-5)


def test_per_gate_strategy_produces_gate_masks():
    model, data = tiny_model("lstm"), tiny_data()
    dec = decompose(
        model, data, preset("default", gate_strategy="per-gate", max_remove=0.3), progress=False
    )
    assert dec.bank.unit_masks is None and dec.bank.gate_masks[0].shape == (4, 1, 32)
    assert dec.bank.scores(model, data.x_test).shape == (4, len(data.x_test))


def test_channel_algebra():
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])
    b = torch.tensor([0.5, 1.0, 3.0])
    hw, hb = channel_heads(w, b)
    torch.testing.assert_close(hw[0, 0], torch.tensor([4.0, 6.5]))  # mean of rows 1, 2
    torch.testing.assert_close(hw[0, 1], w[0])
    torch.testing.assert_close(hb[2], torch.tensor([0.75, 3.0]))
    z = torch.tensor([[1.0, 2.0]])
    assert positive_probability(z, "binary", 3).item() == pytest.approx(
        torch.sigmoid(torch.tensor(1.0)).item()
    )
    full = positive_probability(z, "softmax", 4).item()
    assert full == pytest.approx(torch.e**2 / (torch.e**2 + torch.e + 2))


def test_unrolled_one_to_one_is_refused():
    with pytest.raises(RnnmodError, match="single time step"):
        decompose(
            tiny_model(io_type="1:1"),
            tiny_data(io_type="1:1"),
            preset(mode="unrolled"),
            progress=False,
        )


def test_class_without_training_example_gets_no_module():
    model, data = tiny_model(), tiny_data()
    data.y_train[data.y_train == 3] = 0
    dec = decompose(model, data, preset("default", max_remove=0.5), progress=False)
    assert dec.bank.class_index == [0, 1, 2]
    assert "class 'c3': no training example: no module" in dec.warnings


def test_paper_preset_keeps_a_module_for_a_class_without_training_example():
    model, data = tiny_model(), tiny_data()
    data.y_train[data.y_train == 3] = 0
    dec = decompose(model, data, preset("paper", max_remove=0.5), progress=False)
    assert dec.bank.class_index == [0, 1, 2, 3]
    assert dec.bank.unit_masks[0][3].all()
    assert any("keeps every unit" in w for w in dec.warnings)


def test_thin_unrolled_groups_use_the_pooled_statistic():
    model, data = tiny_model(io_type="M:N"), tiny_data(io_type="M:N", n=60)
    cfg = preset("default", mode="unrolled", max_remove=0.3, min_observations=12)
    dec = decompose(model, data, cfg, progress=False)
    assert any("(class, step) groups had fewer than 12 observations" in w for w in dec.warnings)
    # a thin group's d is its class's d pooled over steps: the rolled statistic
    rolled = decompose(model, data, cfg.with_(mode="rolled"), progress=False)
    idx = torch.tensor(dec.bank.class_index)
    n_pos = (dec.samples.pos[idx] >= 0).sum(-1)
    n_neg = (dec.samples.neg[idx] >= 0).sum(-1)
    thin = (n_pos < 12) | (n_neg < 12)  # [K, S]
    assert thin.any() and not thin.all()
    d, d_rolled = dec.concern[0], rolled.concern[0]
    assert not torch.isnan(d).any()
    expected = d_rolled.expand_as(d)
    torch.testing.assert_close(d[thin], expected[thin])
    assert not torch.allclose(d[~thin], expected[~thin])
    assert (~dec.bank.unit_masks[0]).any()


def test_paper_preset_does_not_pool_thin_groups():
    model, data = tiny_model(io_type="M:N"), tiny_data(io_type="M:N", n=60)
    cfg = preset("paper", mode="unrolled", max_remove=0.3, min_observations=12)
    dec = decompose(model, data, cfg, progress=False)
    assert torch.isnan(dec.concern[0]).any()
    assert not any("groups had fewer" in w for w in dec.warnings)


def test_a_decomposition_that_removes_nothing_says_so():
    from rnnmod.decomposition import decompose, preset
    from tests.helpers import tiny_data, tiny_model

    cfg = preset("default", min_observations=10**6)  # every group too thin: nothing removed
    dec = decompose(tiny_model(), tiny_data(), cfg, progress=False)
    assert float(dec.bank.retained_fraction().min()) == 1.0
    assert any("modules remove no unit" in w and "--budget" in w for w in dec.warnings)
