"""Prototype (not a feature): a removed unit emits a constant instead of 0 (docs/results.md, RQ1).

For each module of the default rolled decomposition, a copy of the model whose removed units are
disconnected and whose constant output is folded into the next biases: ``zero`` (= dead units,
checks the prototype against the module bank), ``pos`` (the unit's mean over real-token steps of
the module's class), ``all`` (its mean over every training example). Loops over modules: a
measurement script, not a hot path.

Usage: RNNMOD_DATA=../shared/data python scripts/prototype_mean_fill.py RUN [RUN ...]
Prints per run: Δ pp of the module bank and of each fill vs the monolithic model.
"""

from __future__ import annotations

import copy
import os
import sys

import torch

from rnnmod.data import load_task
from rnnmod.decomposition import decompose, preset
from rnnmod.modules import vote
from rnnmod.runs import load_run


def module_model(model, masks, k: int, fills: list[torch.Tensor]):
    m = copy.deepcopy(model).eval()
    with torch.no_grad():
        for layer, rnn in enumerate(m.rnns):
            rem = ~masks[layer][k, 0]
            f = fills[layer] * rem.float()
            rnn.bias_hh_l0 += rnn.weight_hh_l0 @ f
            rnn.weight_hh_l0[:, rem] = 0
            nxt = m.rnns[layer + 1] if layer + 1 < len(m.rnns) else None
            if nxt is not None:
                nxt.bias_ih_l0 += nxt.weight_ih_l0 @ f
                nxt.weight_ih_l0[:, rem] = 0
            else:
                m.head.bias += m.head.weight @ f
                m.head.weight[:, rem] = 0
    return m


def measure(path: str) -> None:
    run = load_run(path)
    data = load_task(run.task, os.environ.get("RNNMOD_DATA"))
    model = run.model.eval()
    bank = decompose(model, data, preset("default", mode="rolled"), progress=False).bank
    y, n_classes = data.y_test, model.cfg.n_classes
    with torch.no_grad():
        mono = (model(data.x_test).argmax(-1) == y).float().mean().item()
        hidden = model.run_engine(data.x_train).hidden
    tok = (data.x_train != 0).float()
    out = {}
    for fill in ("zero", "pos", "all"):
        scores = []
        for k, c in enumerate(bank.class_index):
            sel = (
                data.y_train == c
                if fill == "pos"
                else torch.ones_like(data.y_train, dtype=torch.bool)
            )
            w = tok[sel].unsqueeze(-1)
            fills = [
                torch.zeros(h.shape[-1])
                if fill == "zero"
                else (h[sel] * w).sum((0, 1)) / w.sum((0, 1))
                for h in hidden
            ]
            with torch.no_grad():
                z = module_model(model, bank.unit_masks, k, fills)(data.x_test)
            scores.append(torch.sigmoid(z[:, c] - (z.sum(1) - z[:, c]) / (n_classes - 1)))
        out[fill] = (vote(torch.stack(scores), bank.class_index) == y).float().mean().item()
    base = (vote(bank.scores(model, data.x_test), bank.class_index) == y).float().mean().item()
    cols = " ".join(f"{k} {100 * (v - mono):+.2f}" for k, v in out.items())
    print(f"{path} mono {mono:.4f} bank {100 * (base - mono):+.2f} {cols}", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    for p in sys.argv[1:]:
        measure(p)
