"""Measurement, not a feature: refit a module set's linear fills on the filled modules' own
states (closed loop) and score each refit (docs/budget.md, "Why dead units stop short of 20 %").

The library fits a fill to the monolithic model's states (open loop). Here, for a module set
made with ``--removed-units linear``, each refit takes the states the filled modules themselves
produce on 3,000 seeded training examples as the features (their kept units) and the monolithic
model's removed units' states as the targets, ``--damp`` the share of the new map (1: replace).
Prints the composed − monolithic accuracy (pp) on the validation and the test split per refit.

    RNNMOD_DATA=../shared/data .venv/bin/python scripts/fill_refit.py /tmp/n-g1 --refits 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import rnnmod
from rnnmod.decomposition.mask_objective import composed_accuracy, monolithic_accuracy
from rnnmod.kinds import kind_of
from rnnmod.modules.fill import fit_linear_fills


@torch.no_grad()
def closed_loop_fills(model, bank, x: torch.Tensor, mono: list[torch.Tensor]) -> list:
    """Per layer, the least-squares map from each filled module's own kept states to the
    monolithic model's states ``mono`` (only the removed units' columns kept)."""
    k = len(bank)
    run = model.run_engine(
        x, unit_masks=[m.float() for m in bank.unit_masks], batch_groups=k,
        unit_fills=bank.unit_fills,
    )  # fmt: skip
    grams, cross = [], []
    for h_mod, h_mono in zip(run.hidden, mono, strict=True):
        width = h_mono.shape[-1]
        feats = h_mod.reshape(k, -1, width).double()  # removed units: masked out by the fit
        design = torch.cat([feats, torch.ones(k, feats.shape[1], 1, dtype=torch.float64)], 2)
        grams.append(design.transpose(1, 2) @ design / design.shape[1])  # [K, H+1, H+1]
        target = h_mono.reshape(1, -1, width).double()
        cross.append(design.transpose(1, 2) @ target / design.shape[1])  # [K, H+1, H]
    return fit_linear_fills(grams, bank.unit_masks, cross=cross)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("moduleset", type=Path)
    p.add_argument("--refits", type=int, default=1)
    p.add_argument("--damp", type=float, default=1.0, help="share of the new map per refit")
    a = p.parse_args()
    torch.set_num_threads(1)
    ms = rnnmod.load(a.moduleset)
    bank, run = next(iter(ms.banks.values())), next(iter(ms.sources.values()))
    if not bank.filled:
        raise SystemExit(f"{a.moduleset}: its removed units are dead; nothing to refit")
    model = run.model.eval()
    data = kind_of(run).load_data(run, None)
    pick = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(2))[:3000]
    x = data.x_train[pick]
    mono = model.run_engine(x).hidden

    def report(tag: str, b) -> None:
        deltas = [
            round(100 * (composed_accuracy(model, b, xs, ys) - monolithic_accuracy(model, b, xs, ys, None)), 2)
            for xs, ys in ((data.x_val, data.y_val), (data.x_test, data.y_test))
        ]  # fmt: skip
        print(f"{tag}: Δ validation {deltas[0]:+.2f} pp, test {deltas[1]:+.2f} pp", flush=True)

    report("open loop (as stored)", bank)
    for i in range(a.refits):
        new = closed_loop_fills(model, bank, x, mono)
        mixed = [
            (a.damp * n[0] + (1 - a.damp) * o[0], a.damp * n[1] + (1 - a.damp) * o[1])
            for n, o in zip(new, bank.unit_fills, strict=True)
        ]
        bank = bank.select(list(range(len(bank))))
        bank.unit_fills = mixed
        report(f"closed-loop refit {i + 1}", bank)


if __name__ == "__main__":
    main()
