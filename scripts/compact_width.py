"""Measurement behind ``COMPACT_MAX_WIDTH_MANY_ROWS`` (docs/budget.md, "The compact bank"): up to
which module width the compact bank beats the full-width native bank on many examples.

For each Clinc run: the default decomposition's heads with random masks keeping 50 / 70 / 90 % of
the units, the validation split scored once through ``kernel="native"`` and once through
``kernel="compact"`` (a fresh bank each time, so building it is included), one thread.

    RNNMOD_DATA=../shared/data .venv/bin/python scripts/compact_width.py /tmp/l1 /tmp/g1 /tmp/r1
"""

from __future__ import annotations

import sys
import time

import torch

import rnnmod
from rnnmod.decomposition.config import DecompositionConfig
from rnnmod.kinds import kind_of
from rnnmod.modules.module import ModuleBank


def main(paths: list[str]) -> None:
    torch.set_num_threads(1)
    for path in paths:
        run = rnnmod.load(path)
        data = kind_of(run).load_data(run, None)
        model = run.model.eval()
        src = kind_of(run).decompose(run, data, DecompositionConfig(seed=0), progress=False).bank
        g = torch.Generator().manual_seed(0)
        for keep in (0.5, 0.7, 0.9):
            masks = [torch.rand(m.shape, generator=g) < keep for m in src.unit_masks]
            secs = []
            for kernel in ("native", "compact"):
                bank = ModuleBank(src.class_index, src.head_weight, src.head_bias, unit_masks=masks)
                t0 = time.perf_counter()
                bank.scores(model, data.x_val, kernel=kernel)
                secs.append(time.perf_counter() - t0)
            print(
                f"{path} keep {keep}: native {secs[0]:.2f} s, compact {secs[1]:.2f} s", flush=True
            )


if __name__ == "__main__":
    main(sys.argv[1:])
