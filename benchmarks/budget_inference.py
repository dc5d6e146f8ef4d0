"""Real inference time of composed *compact* modules vs the monolithic model (docs/budget.md).

For Clinc models (LSTM-1 and GRU-1 by default), decompose once and build three module sets —
the paper's 5 % cap rule, a fixed removal fraction, and budgeted modules — export every module
with ``export_module(compact=True)`` (removed units sliced out: smaller ``nn.LSTM``/``nn.GRU``),
then time, at batch 1 and 256, in interleaved rounds (median kept; the machine is shared):

* ``monolithic`` — the source model, native torch, one forward pass;
* ``composed``   — the C compact modules one after another (``ExportedModule.scores``).

Reports seconds, composed / monolithic, composed / (C × monolithic) and the MAC-model cost
(rnnmod.metrics.cost) beside it.

    .venv/bin/python benchmarks/budget_inference.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, per_call, result_header, write_result  # noqa: E402

from rnnmod.data import load_task  # noqa: E402
from rnnmod.decomposition import decompose, preset  # noqa: E402
from rnnmod.decomposition.budget import Ranking, budget_search, validation_split  # noqa: E402
from rnnmod.metrics.cost import composed_cost  # noqa: E402
from rnnmod.modules.compact import export_module  # noqa: E402
from rnnmod.modules.store import load_moduleset, save_moduleset  # noqa: E402
from rnnmod.runs import load_run  # noqa: E402


def banks(run, data, fraction: float, tolerance: float) -> dict:
    dec = decompose(run.model, data, preset("default"), progress=False)
    ranking = Ranking.of(dec, run.model.cfg.cell)
    x, y, _ = validation_split(data)
    res = budget_search(run.model, dec.bank, ranking, x, y, tolerance_pp=tolerance, metric="vote")
    return {
        "rule-5%": dec.bank,
        f"fixed {fraction:.0%}": ranking.fraction_bank(dec.bank, fraction),
        f"budget {tolerance:g} pp (vote)": res.bank,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", default="clinc-lstm1,clinc-gru1")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "rq1")
    p.add_argument("--batches", default="1,256")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--fraction", type=float, default=0.5)
    p.add_argument("--tolerance", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument(
        "--data-dir", default=os.environ.get("RNNMOD_DATA") or str(ROOT.parent / "shared" / "data")
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.runs.split(","):
        run = load_run(args.runs_dir / name)
        model = run.model.eval()
        data = load_task(run.task, args.data_dir)
        g = torch.Generator().manual_seed(0)
        for setting, bank in banks(run, data, args.fraction, args.tolerance).items():
            with tempfile.TemporaryDirectory() as tmp:
                ms = load_moduleset(save_moduleset(Path(tmp) / "m", [(run, bank)], {}))
            compact = [export_module(ms, label, compact=True) for label in ms.labels]
            cost = composed_cost(model, bank)
            for b in (int(x) for x in args.batches.split(",")):
                ids = data.x_test[torch.randint(0, len(data.x_test), (b,), generator=g)]
                calls = 100 if b == 1 else 5
                with torch.no_grad():
                    mono = lambda ids=ids, model=model: model(ids)  # noqa: E731
                    comp = lambda ids=ids, mods=compact: [m.scores(ids) for m in mods]  # noqa: E731
                    mono(), comp()
                    seen = {"monolithic": [], "composed": []}
                    for _ in range(args.rounds):
                        seen["monolithic"].append(per_call(mono, calls))
                        seen["composed"].append(per_call(comp, calls))
                ratio = statistics.median(
                    c / m for c, m in zip(seen["composed"], seen["monolithic"])
                )
                row = {
                    "run": name,
                    "setting": setting,
                    "batch": b,
                    "modules": len(compact),
                    "retained_units": float(bank.retained_fraction().mean()),
                    "hidden_sizes": [m.cfg.hidden_sizes for m in compact],
                    "seconds": {k: statistics.median(v) for k, v in seen.items()},
                    "composed_over_monolithic": ratio,
                    "composed_over_c_monolithic": ratio / len(compact),
                    "mac_cost_relative": cost["cost_relative"],
                }
                rows.append(row)
                print(
                    f"{name} {setting:24s} batch {b:3d}: retained {row['retained_units']:.1%}, "
                    f"monolithic {row['seconds']['monolithic'] * 1e3:.3f} ms, composed "
                    f"{row['seconds']['composed'] * 1e3:.3f} ms = {ratio:.2f}× monolithic = "
                    f"{row['composed_over_c_monolithic']:.1%} of C× (MACs {cost['cost_relative']:.1%})"
                )
    out = write_result(
        args.out, "budget_inference", {**result_header("budget_inference", argv), "rows": rows}
    )
    print(f"→ {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
