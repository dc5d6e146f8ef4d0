"""Estimate the wall time of ``reproduce all --profile full`` on N one-CPU workers.

Every task of the full profile's graph (rnnmod_repro.task_graph) gets a time from measurements on
this machine, then the graph is list-scheduled on N workers (``task_profile.simulate``):

* train — the model's ``train_seconds`` in ``results/rq1.csv`` (the measured full RQ1 grid);
* rq1 — that row's ``decompose_seconds + seconds`` (decompose, then evaluate);
* rq2 — per pair, the measured depth-1 scratch baseline of that task and cell (``results/rq2.csv``)
  scaled to the profile's depth by the task's measured train-time ratio (depth d over depth 1,
  pooled over the cells) and to the task's default epochs, plus one decomposition + scoring of
  the model per task;
* rq3 — decompose + evaluate of the two models of the family (worst and best depth);
* d1 — a constant (it trains nothing);
* the stages after the grid (``task_graph.plan_extras``): an inter chunk, the measured mean seconds per
  combo (``results/rq2_inter.csv``, ``rq3_inter.csv``) times its combos plus a minute of
  scoring; a translator, its measured training time (``results/rq1_tatoeba.csv``; a missing
  depth extrapolated from the cell's depth 1–2) plus its RQ1 rows; translation replace and the
  scenarios, their measured seconds.

``--quick DIR`` also simulates the quick profile from the per-task times one measured run of it
wrote (``DIR/task_times.json``), to compare the simulation with that run's measured wall time.

    python benchmarks/scale_out_estimate.py --quick /tmp/q-local/results
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path

from rnnmod.data.base import TASKS
from rnnmod_repro.profile import PROFILES, profile_options
from rnnmod_repro.task_graph import PAIRS_PER_TASK, plan
from rnnmod_repro.task_profile import simulate


def _csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def full_times(results: Path, tasks: list) -> dict[str, float]:
    rq1 = {
        (r["task"], r["cell"], int(r["depth"]), r["preset"], r["mode"]): r
        for r in _csv(results / "rq1.csv")
    }
    train = {(t, c, d): float(r["train_seconds"]) for (t, c, d, _p, _m), r in rq1.items()}
    pair: dict[tuple, list[float]] = {}
    epochs: dict[tuple, int] = {}
    for r in _csv(results / "rq2.csv"):
        if r["baseline_kind"] == "scratch" and r["depth"] == "1":
            pair.setdefault((r["task"], r["cell"]), []).append(float(r["baseline_train_seconds"]))
            epochs[(r["task"], r["cell"])] = int(r["baseline_epochs"])

    def depth_ratio(t: str, d: int) -> float:
        """Train time at depth d over depth 1, pooled over the cells: single measurements on
        a loaded machine are too noisy to scale by."""
        cells = [c for (t2, c, d2) in train if t2 == t and d2 == 1 and (t, c, d) in train]
        return sum(train[(t, c, d)] for c in cells) / sum(train[(t, c, 1)] for c in cells)

    def evaluate(t: str, c: str, d: int, p: str, m: str) -> float:
        r = rq1[(t, c, d, p, m)]
        return float(r["decompose_seconds"]) + float(r["seconds"])

    def mode(t: str, m: str | None) -> str:
        return m or ("rolled" if TASKS[t].io_type == "1:1" else "unrolled")

    out = {}
    for k in tasks:
        if k.kind == "train":
            out[k.name] = train[k.params]
        elif k.kind == "rq1":
            out[k.name] = evaluate(*k.params)
        elif k.kind == "rq2":
            t, c, d, pairs = k.params
            scale = depth_ratio(t, d) * TASKS[t].epochs / epochs[(t, c)]
            one = statistics.fmean(pair[(t, c)]) * scale
            out[k.name] = evaluate(t, c, d, k.opts.preset, mode(t, k.opts.mode)) + len(pairs) * one
        elif k.kind == "rq3":
            t, c = k.params
            each = [
                evaluate(t, c, d, k.opts.preset, mode(t, k.opts.mode)) for d in k.opts.family_depths
            ]
            out[k.name] = sum(sorted(each)[-2:])  # worst and best: the dearest two, to be safe
        else:
            out[k.name] = 10.0
    return out


def extra_task_times(results: Path, tasks: list) -> dict[str, float]:
    """Seconds of the tasks of the stages after the grid (``task_graph.plan_extras``)."""
    inter_secs: dict[tuple, float] = {}
    for name, rq in (("rq2_inter", "reuse"), ("rq3_inter", "replace")):
        rows = _csv(results / f"{name}.csv") if (results / f"{name}.csv").is_file() else []
        for problem in {r["io_type"] for r in rows}:
            secs = [float(r["combo_seconds"]) for r in rows if r["io_type"] == problem]
            inter_secs[(rq, problem)] = statistics.fmean(secs)
    train: dict[tuple, float] = {}
    if (results / "rq1_tatoeba.csv").is_file():
        for r in _csv(results / "rq1_tatoeba.csv"):
            train[(r["cell"], int(r["depth"]))] = float(r["train_seconds"])
    by_depth = {d: statistics.fmean(v for (_c, d2), v in train.items() if d2 == d) for d in (1, 2)}

    def train_time(c: str, d: int) -> float:
        """Measured, else the cell's own depth-1 time plus its depth-1-to-2 step per extra layer
        (the mean over the measured cells when the cell has none)."""
        if (c, d) in train:
            return train[(c, d)]
        one, two = (train.get((c, k), by_depth[k]) for k in (1, 2))
        return one + (two - one) * (d - 1)

    # decompose + BLEU of one (model, preset, mode): docs/results.md measured 16 in 650 s;
    # translation replace: 66 s for 2 families x 2 modes
    evaluate, replace = 650 / 16, 66 / 4
    out = {}
    scored: set[tuple] = set()  # a run pair's modules are scored once, then loaded from disk
    for k in tasks:
        if k.kind == "inter":
            rq, problem, c, d, chunk = k.params
            first = (problem, c, d) not in scored
            scored.add((problem, c, d))
            out[k.name] = (60.0 if first else 15.0) + len(chunk) * inter_secs[(rq, problem)]
        elif k.kind == "tatoeba":
            c, d = k.params
            out[k.name] = train_time(c, d) + len(k.opts.presets) * len(k.opts.modes) * evaluate
        elif k.kind == "tatoeba-rq3":
            out[k.name] = len(k.opts.modes) * replace
        elif k.kind == "scenario":
            out[k.name] = float(
                json.loads((results / f"scenario_{k.params[0]}.json").read_text())["seconds"]
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("results"), help="the full-grid CSVs")
    ap.add_argument("--quick", type=Path, default=None, help="results dir of a measured quick run")
    ap.add_argument("--workers", default="1,2,4,8,16,32,64,128")
    ap.add_argument("--pairs-per-task", type=int, default=PAIRS_PER_TASK, help="rq2 chunk size")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/scale_out.json"))
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    report: dict = {}
    if args.quick:
        opts = profile_options(PROFILES["quick"], Path("runs"), args.quick, None, False)
        tasks = plan(*opts)
        measured = json.loads((args.quick / "task_times.json").read_text())
        secs = {k: v["seconds"] for k, v in measured.items()}
        timing = json.loads((args.quick / "all_timing.json").read_text())
        report["quick"] = {
            "tasks": len(tasks),
            "task_seconds_sum": round(sum(secs.values()), 1),
            "measured_wall": timing["seconds"],
            "workers": timing.get("workers"),
            "simulated_wall": {n: round(simulate(tasks, secs, n), 1) for n in workers},
        }
    full = PROFILES["full"]
    opts = profile_options(full, Path("runs"), args.results, None, False)
    tasks = plan(*opts, full.d1_tasks, args.pairs_per_task, extras=full)
    grid = [t for t in tasks if t.kind in ("train", "rq1", "rq2", "rq3", "d1")]
    secs = {**full_times(args.results, grid), **extra_task_times(args.results, tasks)}
    by_kind: dict[str, list[float]] = {}
    for k in tasks:
        by_kind.setdefault(k.kind, []).append(secs[k.name])
    report["full"] = {
        "pairs_per_task": args.pairs_per_task,
        "tasks": {kind: len(v) for kind, v in by_kind.items()},
        "task_hours_by_kind": {kind: round(sum(v) / 3600, 2) for kind, v in by_kind.items()},
        "task_hours": round(sum(secs.values()) / 3600, 2),
        "longest_task_hours": round(max(secs.values()) / 3600, 2),
        "simulated_wall_hours": {n: round(simulate(tasks, secs, n) / 3600, 2) for n in workers},
    }
    report["full"]["grid_only_wall_hours"] = {
        n: round(simulate(grid, secs, n) / 3600, 2) for n in workers
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
