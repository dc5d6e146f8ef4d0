"""Composed inference of C modules: fused bank vs module by module vs the monolithic model.

For a Clinc M:1 model (LSTM-1 by default) decomposed with the default preset (rolled), time at
batch 1 and batch 256, in interleaved rounds (median kept; the machine is shared):

* ``monolithic``       — the source model, native torch (one forward pass);
* ``fused``            — all C modules in one pass, the default path (``ModuleBank.scores``:
                         native kernels with module codes when the masks allow);
* ``fused_engine``     — all C modules in one pass of our Python-stepped cell engine;
* ``by_module_native`` — C full-size modules with the masks baked into zeroed weights (the
                         original tool's storage) as plain ``nn.LSTM`` models, one after another;
* ``by_module_compact`` — C exported compact modules (removed units sliced out), one by one;
* ``by_module_engine`` — C single-module engine passes, one after another (the original tool's
                         way: one forward pass per module).

and reports latency, throughput and the ratios of docs/performance.md, with the C × monolithic
bound beside them. Also checks that every path gives the same scores (max |Δ|).

    .venv/bin/python benchmarks/composed_inference.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, clinc_run, result_header, write_result  # noqa: E402

from rnnmod.data import load_task  # noqa: E402
from rnnmod.decomposition import decompose, preset  # noqa: E402
from rnnmod.modules.compact import export_module  # noqa: E402
from rnnmod.modules.store import load_moduleset, save_moduleset  # noqa: E402
from rnnmod.runs import load_run  # noqa: E402


def timed(fn, n: int) -> float:
    """Mean seconds per call over ``n`` calls."""
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def measure(paths: dict, rounds: int, calls: dict[str, int]) -> dict[str, list[float]]:
    """Interleave the paths round by round so drift hits them alike; seconds per round."""
    for fn in paths.values():
        fn()  # warm up (builds the native bank once)
    seen: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(rounds):
        for name, fn in paths.items():
            seen[name].append(timed(fn, calls[name]))
    return seen


def ratio(seen: dict[str, list[float]], a: str, b: str) -> float:
    """Median over rounds of a/b measured in the same round (robust to drift between rounds)."""
    return statistics.median(x / y for x, y in zip(seen[a], seen[b]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--run", type=Path, default=None, help="default: runs/rq1/clinc-lstm1, else trains one"
    )
    p.add_argument("--batches", default="1,256")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--mode", default="rolled", choices=["rolled", "unrolled"])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument(
        "--data-dir", default=os.environ.get("RNNMOD_DATA") or str(ROOT.parent / "shared" / "data")
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.run = clinc_run(args.run, args.data_dir)
    run = load_run(args.run)
    model = run.model.eval()
    data = load_task(run.task, args.data_dir)
    dec = decompose(model, data, preset("default", mode=args.mode), progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        ms = load_moduleset(save_moduleset(Path(tmp) / "mods", [(run, dec.bank)], {}))
    source_bytes = next(iter(ms.manifest["sources"].values()))["model_bytes"]
    storage = {
        "source_model_bytes": source_bytes,
        "module_bytes_max": max(e["bytes"] for e in ms.entries),
        "module_bytes_vs_source_max": max(e["bytes_vs_source"] for e in ms.entries),
        "all_modules_bytes": sum(e["bytes"] for e in ms.entries),
    }
    print(
        f"storage: {storage['module_bytes_max']} bytes per module, "
        f"{storage['module_bytes_vs_source_max']:.3%} of the source model's {source_bytes} bytes"
    )
    bank = next(iter(ms.banks.values()))
    c = len(bank)
    singles = [bank.select([k]) for k in range(c)]
    try:
        exported = [export_module(ms, label, compact=True) for label in ms.labels]
        baked = [export_module(ms, label, compact=False) for label in ms.labels]
    except Exception as e:  # unrolled modules with per-step masks cannot be exported
        exported, baked, why = None, None, str(e)
    rows = []
    g = torch.Generator().manual_seed(0)
    for b in (int(x) for x in args.batches.split(",")):
        ids = data.x_test[torch.randint(0, len(data.x_test), (b,), generator=g)]
        with torch.no_grad():
            paths = {
                "monolithic": lambda ids=ids: model(ids),
                "fused": lambda ids=ids: bank.scores(model, ids),
                "fused_engine": lambda ids=ids: bank.scores(model, ids, kernel="engine"),
                "by_module_engine": lambda ids=ids: [
                    s.scores(model, ids, kernel="engine") for s in singles
                ],
            }
            if exported:
                # the original tool's way on native kernels: C full-size models, one by one
                paths["by_module_native"] = lambda ids=ids: [m.scores(ids) for m in baked]
                paths["by_module_compact"] = lambda ids=ids: [m.scores(ids) for m in exported]
            ref = bank.scores(model, ids, kernel="engine")
            diffs = {"fused": float((bank.scores(model, ids) - ref).abs().max())}
            if exported:
                for name, mods in (("by_module_native", baked), ("by_module_compact", exported)):
                    diffs[name] = float(
                        (torch.stack([m.scores(ids) for m in mods]) - ref).abs().max()
                    )
            calls = {k: (200 if b == 1 else 3) for k in paths}
            for k in ("by_module_engine", "fused_engine"):
                calls[k] = max(1, calls[k] // (10 if b == 1 else 1))
            seen = measure(paths, args.rounds, calls)
            t = {k: statistics.median(v) for k, v in seen.items()}
        row = {
            "batch": b,
            "modules": c,
            "seconds": t,
            "seconds_per_round": seen,
            "throughput_per_s": {k: b / v for k, v in t.items()},
            "max_abs_diff_vs_engine": diffs,
            "fused_over_monolithic": ratio(seen, "fused", "monolithic"),
            "by_module_engine_over_fused": ratio(seen, "by_module_engine", "fused"),
            "fused_engine_over_fused": ratio(seen, "fused_engine", "fused"),
            "bound_c_times_monolithic_s": c * t["monolithic"],
        }
        if exported:
            row["fused_over_by_module_native"] = ratio(seen, "fused", "by_module_native")
            row["by_module_native_over_fused"] = ratio(seen, "by_module_native", "fused")
            row["fused_over_by_module_compact"] = ratio(seen, "fused", "by_module_compact")
        rows.append(row)
        print(
            f"batch {b:4d}: "
            + "  ".join(f"{k} {v * 1e3:.2f} ms" for k, v in t.items())
            + f"\n  fused/monolithic {row['fused_over_monolithic']:.2f}×, "
            f"by-module(engine)/fused {row['by_module_engine_over_fused']:.2f}×"
            + (
                f", fused/by-module(native) {row['fused_over_by_module_native']:.2f}×"
                if exported
                else ""
            )
            + f", C×monolithic {row['bound_c_times_monolithic_s'] * 1e3:.2f} ms"
        )
    result = {
        **result_header("composed_inference", argv),
        "run": str(args.run),
        "cell": model.cfg.cell,
        "depth": model.cfg.depth,
        "mode": args.mode,
        "retained_units": float(bank.retained_fraction().mean()),
        "compact_export": "yes" if exported else f"no: {why}",
        "storage": storage,
        "rows": rows,
    }
    stem = f"composed_inference-{model.cfg.cell}{model.cfg.depth}-{args.mode}"
    out = write_result(args.out, stem, result)
    print(f"→ {out}")
    print(json.dumps({"rows": [{k: r[k] for k in r if "over" in k} for r in rows]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
