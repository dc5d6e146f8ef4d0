"""Whole-process cost of rnnmod's commands against the work they report (docs/performance.md).

Interleaved over ``--rounds`` rounds (the machine is shared: every round runs every case once,
so drift hits all cases alike), each case a fresh process with ``--threads 1``:

* ``python -c "import torch"`` — the floor every command that touches a model pays;
* ``rnnmod --help``;
* ``decompose`` (Clinc LSTM-1; a fresh output each time) and ``evaluate`` — with a cold
  tokenised-data cache (an empty ``RNNMOD_CACHE``) and a warm one;
* ``predict`` of one text and ``translate`` of one sentence (a small translator).

Overhead of a case = median wall − median torch import − the median work the command reports in
its ``--json`` (``seconds``: decomposition or evaluation work; 0 for predict, translate, help).
Writes ``benchmarks/results/cold_start.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, clinc_run, result_header, write_result

RNNMOD = [sys.executable, "-m", "rnnmod", "--threads", "1"]


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, reported work seconds) of one process."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    work = 0.0
    if "--json" in cmd:
        work = float(json.loads(out.stdout.strip().splitlines()[-1]).get("seconds", 0.0))
    return wall, work


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--run", type=Path, default=None, help="a Clinc LSTM-1 run directory")
    p.add_argument("--translator", type=Path, required=True, help="a translation run directory")
    p.add_argument(
        "--data-dir", default=os.environ.get("RNNMOD_DATA", str(ROOT.parent / "shared" / "data"))
    )
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument(
        "--baseline-src",
        type=Path,
        default=None,
        help="the src/ folder of another rnnmod checkout (e.g. the previous release in a git "
        "worktree): its decompose and evaluate join the rounds, for the same-run comparison",
    )
    args = p.parse_args(argv)
    run = clinc_run(args.run, args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="cold-start-"))
    warm_cache = work / "warm-cache"
    env = dict(os.environ, RNNMOD_DATA=args.data_dir, RNNMOD_CACHE=str(warm_cache))
    mods = work / "mods"
    subprocess.run(
        [*RNNMOD, "decompose", str(run), "--out", str(mods), "--quiet"], env=env, check=True
    )

    def cold_env() -> dict:
        cold = work / "cold-cache"
        shutil.rmtree(cold, ignore_errors=True)
        return dict(env, RNNMOD_CACHE=str(cold))

    def decompose(e: dict) -> list[str]:
        shutil.rmtree(work / "fresh", ignore_errors=True)
        return [*RNNMOD, "decompose", str(run), "--out", str(work / "fresh"), "--quiet", "--json"]

    cases = {
        "import torch": lambda: ([sys.executable, "-c", "import torch"], env),
        "rnnmod --help": lambda: ([*RNNMOD, "--help"], env),
        "decompose (cold cache)": lambda: (lambda e: (decompose(e), e))(cold_env()),
        "decompose (warm cache)": lambda: (decompose(env), env),
        "evaluate (cold cache)": lambda: ([*RNNMOD, "evaluate", str(mods), "--json"], cold_env()),
        "evaluate (warm cache)": lambda: ([*RNNMOD, "evaluate", str(mods), "--json"], env),
        "predict one text": lambda: (
            [*RNNMOD, "predict", str(mods), "book a flight to paris", "--json"],
            env,
        ),
        "translate one sentence": lambda: (
            [*RNNMOD, "translate", str(args.translator), "--to", "fr", "how are you"],
            env,
        ),
    }
    if args.baseline_src is not None:
        old = dict(env, PYTHONPATH=str(args.baseline_src.resolve()))
        cases["decompose (baseline)"] = lambda: (decompose(old), old)
        cases["evaluate (baseline)"] = lambda: ([*RNNMOD, "evaluate", str(mods), "--json"], old)
    walls: dict[str, list[float]] = {k: [] for k in cases}
    works: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(args.rounds):
        for name, make in cases.items():
            cmd, e = make()
            w, k = timed(cmd, e)
            walls[name].append(w)
            works[name].append(k)
        print(
            f"round {r + 1}/{args.rounds}: "
            + ", ".join(f"{k} {v[-1]:.2f}" for k, v in walls.items()),
            file=sys.stderr,
        )
    torch_s = statistics.median(walls["import torch"])
    rows = {}
    for name in cases:
        wall, wk = statistics.median(walls[name]), statistics.median(works[name])
        floor = 0.0 if name in ("import torch", "rnnmod --help") else torch_s
        rows[name] = {
            "median_wall_s": round(wall, 3),
            "median_work_s": round(wk, 3),
            "overhead_s": round(wall - floor - wk, 3),
            "walls_s": [round(x, 3) for x in walls[name]],
        }
    result = result_header("cold_start", argv) | {
        "run": str(run),
        "translator": str(args.translator),
        "rounds": args.rounds,
        "baseline_src": str(args.baseline_src) if args.baseline_src else None,
        "median_torch_import_s": round(torch_s, 3),
        "cases": rows,
    }
    path = write_result(args.out, "cold_start", result)
    for name, r in rows.items():
        print(
            f"{name:26s} wall {r['median_wall_s']:6.2f} s  work {r['median_work_s']:5.2f} s  overhead {r['overhead_s']:+6.2f} s"
        )
    print(f"→ {path}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
