"""Composed inference with removed units sliced away (the compact bank) vs the monolithic model.

For one or more module sets (e.g. learned masks, docs/budget.md), time at each batch size, in
interleaved rounds (median of per-round ratios; the machine is shared):

* ``monolithic`` — the source model, native torch, one forward pass;
* ``compact``    — every module at once, removed units gone (``ModuleBank.scores(kernel="compact")``):
  on the fused kernel (``rnnmod.modules.fused``) where it is built, else its torch path;
* ``compact_torch`` — the same bank on its torch path (``RNNMOD_FUSED=0``): from 16 examples per
  call module by module on torch's native layers, below that padded batched products;
* ``native``     — every module at once at full width on torch's native kernels (the bank the
  paper-rule modules use), for reference; ``engine`` (the cell engine) instead where the native
  bank cannot run them (a linear fill, skipped padding);
* ``compact_one_per_call`` — the torch path with every module in a native layer of its own
  (narrow modules otherwise share one, block-diagonal: ``GROUP_WIDTH``).

Beside the wall-time ratios: the MAC model's ``cost_vs_monolithic`` (rnnmod.metrics.cost, kept
units only) and the MACs the padded compact bank really computes (every module padded to the
widest). The check of docs/budget.md: compact wall ratio ≤ 1.3 × ``cost_vs_monolithic``.
Without a C++ compiler (or with ``RNNMOD_FUSED=0``) ``compact`` is the torch path too; every row
says which (``fused_kernel``).

    .venv/bin/python benchmarks/compact_bank.py MODULESET [MODULESET ...] --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from contextlib import contextmanager
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, per_call, result_header, write_result  # noqa: E402

import rnnmod  # noqa: E402
from rnnmod.kinds import kind_of  # noqa: E402
from rnnmod.metrics.cost import composed_cost  # noqa: E402
from rnnmod.modules import fused  # noqa: E402


@contextmanager
def torch_path():
    """The compact bank's torch path: the fused kernel switched off (``RNNMOD_FUSED=0``)."""
    from rnnmod.modules.fused import DISABLE_ENV

    saved = os.environ.get(DISABLE_ENV)
    os.environ[DISABLE_ENV] = "0"
    try:
        yield
    finally:
        if saved is None:
            del os.environ[DISABLE_ENV]
        else:
            os.environ[DISABLE_ENV] = saved


def on_torch_path(fn):
    def run():
        with torch_path():
            return fn()

    return run


def one_module_per_call(model, bank):
    """The compact bank with every module in its own native layer (no groups side by side)."""
    from rnnmod.modules import compact_bank

    saved = dict(compact_bank.GROUP_WIDTH)
    compact_bank.GROUP_WIDTH.clear()
    try:
        return compact_bank.CompactBank.build(
            model, bank.unit_masks, bank.head_weight, bank.head_bias, bank.unit_fills
        )
    finally:
        compact_bank.GROUP_WIDTH.update(saved)


def bench_set(path: Path, batches: list[int], rounds: int) -> dict:
    ms = rnnmod.load(path)
    bank, run = next(iter(ms.banks.values())), next(iter(ms.sources.values()))
    model = run.model.eval()
    data = kind_of(run).load_data(run, None)
    cost = composed_cost(model, bank)
    compact = bank.compact_for(model)
    first_in = model.recurrent_input(data.x_test[:1]).shape[-1]
    padded = compact.macs_per_example(model.steps, first_in) if compact else None
    rows = []
    g = torch.Generator().manual_seed(0)
    for b in batches:
        ids = data.x_test[torch.randint(0, len(data.x_test), (b,), generator=g)]
        with torch.no_grad():
            ref = bank.scores(model, ids, kernel="engine", output="logits")
            paths = {"monolithic": lambda ids=ids: model(ids)}
            # the full-width reference: the native bank, or the cell engine where it cannot run
            # (a linear fill, skipped padding)
            full = "native" if bank.native_for(model) is not None else "engine"
            paths[full] = lambda ids=ids, full=full: bank.scores(
                model, ids, kernel=full, output="logits"
            )
            if compact is not None:
                got = bank.scores(model, ids, kernel="compact", output="logits")
                diff = float((got - ref).abs().max())
                paths["compact"] = lambda ids=ids: bank.scores(
                    model, ids, kernel="compact", output="logits"
                )
                paths["compact_torch"] = on_torch_path(paths["compact"])
                with torch_path():
                    diff_torch = float((paths["compact_torch"]() - ref).abs().max())
                alone = one_module_per_call(model, bank)
                paths["compact_one_per_call"] = on_torch_path(
                    lambda ids=ids, alone=alone: alone.logits(model, ids)
                )
            calls = 50 if b == 1 else 5
            for fn in paths.values():
                fn()
            seen = {k: [] for k in paths}
            for _ in range(rounds):
                for name, fn in paths.items():
                    seen[name].append(per_call(fn, calls))
        row = {"batch": b, "seconds": {k: statistics.median(v) for k, v in seen.items()}}
        for name in paths:
            if name != "monolithic":
                row[f"{name}_vs_monolithic"] = statistics.median(
                    x / y for x, y in zip(seen[name], seen["monolithic"], strict=True)
                )
        if compact is not None:
            row["compact_max_abs_diff_vs_engine"] = diff
            row["compact_torch_max_abs_diff_vs_engine"] = diff_torch
            row["fused_kernel"] = not fused.unavailable()
            row["compact_wall_over_arithmetic"] = (
                row["compact_vs_monolithic"] / cost["cost_vs_monolithic"]
            )
        rows.append(row)
        print(
            f"{path.name} batch {b}: "
            + ", ".join(f"{k} {v:.3f}" for k, v in row.items() if k.endswith("monolithic"))
            + f" (arithmetic {cost['cost_vs_monolithic']:.3f})"
        )
    return {
        "module_set": str(path),
        "n_modules": len(bank),
        "removed_units": "linear" if bank.filled else "dead",
        "retained_mean": float(bank.retained_fraction().mean()),
        "cost_vs_monolithic": cost["cost_vs_monolithic"],
        "padded_compact_macs_vs_monolithic": None
        if padded is None
        else padded / cost["macs_monolithic"],
        "compact_widths": None if compact is None else compact.widths,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("sets", nargs="+", type=Path, help="module set directories")
    p.add_argument("--batches", default="1,256")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument(
        "--in-row-width",
        type=int,
        default=None,
        help="the fused kernel's FUSED_IN_ROW_WIDTH: a deeper layer gets its input products in the "
        "kernel's rows up to this width of the layer below (0: always one batched product)",
    )
    p.add_argument(
        "--bucket-saving",
        type=float,
        default=None,
        help="the fused kernel's FUSED_BUCKET_SAVING: the share of padded work two buckets of "
        "modules must save (1: always one bucket)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from rnnmod.modules import compact_bank

    if args.in_row_width is not None:
        compact_bank.FUSED_IN_ROW_WIDTH = args.in_row_width
    if args.bucket_saving is not None:
        compact_bank.FUSED_BUCKET_SAVING = args.bucket_saving
    batches = [int(x) for x in args.batches.split(",")]
    result = result_header("compact_bank", argv)
    result["sets"] = [bench_set(s, batches, args.rounds) for s in args.sets]
    print(write_result(args.out, "compact_bank", result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
