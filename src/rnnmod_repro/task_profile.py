"""``rnnmod reproduce all --executor local|ray``: a profile planned as tasks, run, and its
reports rebuilt from every cached artifact; and the graph's wall time simulated on N workers
(the estimate of docs/scale-out.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rnnmod import RnnmodError
from rnnmod.storage import read_json, write_json

from .executors import Outcome, make_backend, run_tasks
from .task_graph import PAIRS_PER_TASK, Task, plan


def record_times(results_dir: Path, tasks: list[Task], out: Outcome) -> Path:
    """Merge this run's per-task wall seconds into ``results/task_times.json`` (kept across
    reruns: the measurements behind docs/scale-out.md's estimate)."""
    path = Path(results_dir) / "task_times.json"
    times = read_json(path) if path.is_file() else {}
    kinds = {t.name: t.kind for t in tasks}
    for name, s in out.seconds.items():
        times[name] = {"kind": kinds[name], "seconds": s}
    write_json(path, times)
    return path


def simulate(tasks: list[Task], seconds: dict[str, float], workers: int) -> float:
    """Wall time of the graph on ``workers`` one-CPU workers (greedy list scheduling in plan
    order, a task starts when its dependencies ended and a worker is free)."""
    import heapq

    end: dict[str, float] = {}
    free = [0.0] * max(1, workers)
    pending = list(tasks)
    while pending:
        i = next((i for i, t in enumerate(pending) if all(d in end for d in t.deps)), None)
        if i is None:  # pragma: no cover - plan() gives a DAG over its own tasks
            raise RnnmodError("cyclic task graph")
        t = pending.pop(i)
        w = heapq.heappop(free)
        start = max([w, *(end[d] for d in t.deps)])
        end[t.name] = start + seconds.get(t.name, 0.0)
        heapq.heappush(free, end[t.name])
    return max(end.values(), default=0.0)


def run_profile(
    p: Any,
    label: str = "custom",
    *,
    runs_dir: Path,
    results_dir: Path,
    data_dir: Path | None = None,
    progress: bool = True,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    retries: int = 2,
    check: bool = True,
    pairs_per_task: int | None = None,
) -> dict:
    """``rnnmod reproduce all --executor local|ray``: plan the profile's tasks, run them, rebuild
    the reports from every cached artifact. Returns timings and what ran; with ``check``, raises
    after the reports are written when a task failed for good."""
    from rnnmod.data.paths import default_data_dir

    from .profile import profile_options
    from .report import build_report
    from .reuse_replace_summary import report_cached
    from .rq1_cost import collect_cached_rows, write_reports

    t0 = time.perf_counter()
    runs_dir, results_dir = Path(runs_dir), Path(results_dir)
    if executor == "ray":  # workers may start elsewhere: absolute paths, an explicit data root
        runs_dir, results_dir = runs_dir.resolve(), results_dir.resolve()
        data_dir = Path(data_dir or default_data_dir()).resolve()
    rq1, rq2, rq3 = profile_options(p, runs_dir, results_dir, data_dir, progress=False)
    backend = make_backend(executor, workers, address)  # first: a missing Ray fails at once
    try:
        tasks = plan(rq1, rq2, rq3, p.d1_tasks, pairs_per_task or PAIRS_PER_TASK, extras=p)
        out = run_tasks(tasks, backend, retries=retries, progress=progress)
    finally:
        backend.close()
    record_times(results_dir, tasks, out)
    extras: dict[str, float] = {}
    if not out.failed:  # the later stages' reports, from what their tasks cached (fast)
        import dataclasses

        from .profile import run_extras

        extras = run_extras(
            dataclasses.replace(p, scenarios=()), runs_dir, results_dir, data_dir, progress
        )
    write_reports(collect_cached_rows(results_dir), results_dir, time.perf_counter() - t0)
    report_cached(results_dir, "rq2")
    report_cached(results_dir, "rq3")
    try:
        build_report(results_dir)
    except RnnmodError:
        if not out.failed:
            raise
    kinds = {t.name: t.kind for t in tasks}
    busy: dict[str, float] = {}
    for name, s in out.seconds.items():
        busy[kinds[name]] = busy.get(kinds[name], 0.0) + s
    timing = {
        "total": time.perf_counter() - t0,
        "tasks_wall": out.wall_seconds,
        "task_seconds_by_kind": {k: round(v, 1) for k, v in busy.items()},
        "executed": out.executed,
        "cached": out.cached,
        "failed": out.failed,
        "blocked": out.blocked,
        "attempts": out.attempts,
    }
    write_json(
        results_dir / "all_timing.json",
        {
            "profile": label,
            "executor": executor,
            "workers": getattr(backend, "workers", None) or workers,
            "seconds": {
                "total": round(timing["total"], 1),
                "tasks": round(out.wall_seconds, 1),
                **{k: round(v, 1) for k, v in extras.items()},
                **{f"{k} (sum over tasks)": v for k, v in timing["task_seconds_by_kind"].items()},
            },
            "tasks": {
                "planned": len(tasks),
                "executed": len(out.executed),
                "cached": len(out.cached),
                "failed": len(out.failed),
                "blocked": len(out.blocked),
            },
        },
    )
    if check and out.failed:
        name, err = next(iter(out.failed.items()))
        raise RnnmodError(
            f"{len(out.failed)} task(s) failed ({name}: {err}), {len(out.blocked)} not run for it; "
            "the reports hold everything else — rerun the same command to do only what is missing"
        )
    return timing
