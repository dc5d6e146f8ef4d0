"""What each kind of task of :mod:`.task_graph` does and whether its artifact is there: one
function pair per kind (``RUN``, ``DONE``), both calling the same per-artifact functions as the
sequential commands, and :func:`execute`, the body of a worker."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rnnmod import RnnmodError
from rnnmod.storage import sha256_file, write_json

from .intra_models import RQ23Options
from .rq1_cost import RQ1Options, run_dir
from .task_graph import Task

_DATA: dict[tuple, Any] = {}  # per worker process: a dataset is loaded once, reused by its tasks


def _rq1_data(task: str, opts: RQ1Options):
    from .rq1_cost import rq1_data

    k = ("rq1", task, str(opts.data_dir), opts.max_test, opts.seed)
    if k not in _DATA:
        _DATA[k] = rq1_data(task, opts)
    return _DATA[k]


def _eval_data(task: str, opts: RQ23Options):
    from .intra_models import eval_data

    k = ("rq23", task, str(opts.data_dir), opts.max_test, opts.seed)
    if k not in _DATA:
        _DATA[k] = eval_data(task, opts)
    return _DATA[k]


def _model_sha(opts: RQ1Options | RQ23Options, task: str, cell: str, depth: int) -> str:
    return sha256_file(run_dir(opts.runs_dir, task, cell, depth) / "model.safetensors")


def _do_train(t: Task) -> None:
    from .rq1_cost import ensure_run

    task, cell, depth = t.params
    ensure_run(task, cell, depth, _rq1_data(task, t.opts), t.opts)


def _done_train(t: Task) -> bool:
    return (run_dir(t.opts.runs_dir, *t.params) / "metrics.json").is_file()


def _do_rq1(t: Task) -> None:
    from .rq1_cost import checked_run, rq1_row

    task, cell, depth, pname, mode = t.params
    data = _rq1_data(task, t.opts)
    rq1_row(
        checked_run(run_dir(t.opts.runs_dir, task, cell, depth), data), data, pname, mode, t.opts
    )


def _done_rq1(t: Task) -> bool:
    from .rq1_cost import rq1_cache_file

    task, cell, depth, pname, mode = t.params
    return rq1_cache_file(_model_sha(t.opts, task, cell, depth), pname, mode, t.opts).is_file()


def _do_rq2(t: Task) -> None:
    from .intra_models import load_family_run
    from .intra_reuse import reuse_rows

    task, cell, depth, pairs = t.params
    data = _eval_data(task, t.opts)
    run = load_family_run(task, cell, depth, data, t.opts)
    reuse_rows(run, data, t.opts, _cache(t.opts, "rq2"), pairs=[tuple(p) for p in pairs])


def _done_rq2(t: Task) -> bool:
    from rnnmod import load_run

    from .intra_models import mode_for
    from .intra_reuse import pair_cache_file

    task, cell, depth, pairs = t.params
    run = load_run(run_dir(t.opts.runs_dir, task, cell, depth))
    sha, mode = run.model_sha256(), mode_for(run, t.opts)
    cache = _cache(t.opts, "rq2")
    return all(pair_cache_file(sha, mode, a, b, t.opts, cache).is_file() for a, b in pairs)


def _do_rq3(t: Task) -> None:
    from .intra_replace import replace_rows

    task, cell = t.params
    replace_rows(task, cell, _eval_data(task, t.opts), t.opts, _cache(t.opts, "rq3"))


def _done_rq3(t: Task) -> bool:
    from .intra_replace import replace_cache_file

    task, cell = t.params
    shas = [_model_sha(t.opts, task, cell, d) for d in t.opts.family_depths]
    return replace_cache_file(shas, t.opts, _cache(t.opts, "rq3")).is_file()


def _d1_marker(t: Task) -> Path:
    """D1 is cheap and rewrites d1.csv whole; its marker is keyed by the hashes of its runs."""
    tasks, cells, depths = t.params
    found = [
        f"{p.name}:{sha256_file(p / 'model.safetensors')}"
        for p in (run_dir(t.opts.runs_dir, a, c, d) for a in tasks for c in cells for d in depths)
        if (p / "metrics.json").is_file()
    ]
    key = hashlib.sha256("\n".join(found).encode()).hexdigest()[:20]
    return Path(t.opts.results_dir) / "d1" / "cache" / f"{key}.json"


def _do_d1(t: Task) -> None:
    from .defective_evaluator import run_d1

    tasks, cells, depths = t.params
    o = t.opts
    rows = run_d1(list(tasks), list(cells), list(depths), o.runs_dir, o.results_dir, o.data_dir)
    write_json(_d1_marker(t), rows)


def _done_d1(t: Task) -> bool:
    return (Path(t.opts.results_dir) / "d1.csv").is_file() and _d1_marker(t).is_file()


def _cache(opts: RQ23Options, name: str) -> Path:
    return Path(opts.results_dir) / name / "cache"


def _marker(t: Task, runs: Iterable[Path] = ()) -> Path:
    """The done-marker of a task whose artifacts are many cache files: keyed by the task and the
    hashes of the runs it reads, written after the task's function returned."""
    hashes = [sha256_file(Path(r) / "model.safetensors") for r in runs]
    key = hashlib.sha256(f"{t.key()}:{':'.join(hashes)}".encode()).hexdigest()[:20]
    return Path(t.opts.results_dir) / "tasks_done" / f"{key}.json"


def _inter_runs(t: Task) -> list[Path]:
    from .inter_problems import PROBLEMS

    _rq, problem, cell, depth, _chunk = t.params
    return [run_dir(t.opts.runs_dir, task, cell, depth) for task in PROBLEMS[problem]]


def _do_inter(t: Task) -> None:
    from .inter import inter_rows

    rq, problem, cell, depth, chunk = t.params
    inter_rows(rq, problem, cell, depth, t.opts, only=[tuple(c) for c in chunk])
    write_json(_marker(t, _inter_runs(t)), {"task": t.name})


def _done_inter(t: Task) -> bool:
    return _marker(t, _inter_runs(t)).is_file()


def _translator_runs(t: Task) -> list[Path]:
    cell, *rest = t.params
    depths = rest or t.opts.depths
    return [Path(t.opts.runs_dir) / f"tatoeba-{cell}{d}" for d in depths]


def _do_tatoeba(t: Task) -> None:
    import dataclasses

    from .tatoeba_rq1 import run_tatoeba_rq1

    cell, depth = t.params
    run_tatoeba_rq1(dataclasses.replace(t.opts, cells=[cell], depths=[depth]))
    write_json(_marker(t, _translator_runs(t)), {"task": t.name})


def _do_tatoeba_rq3(t: Task) -> None:
    import dataclasses

    from .tatoeba_rq3 import run_tatoeba_rq3

    run_tatoeba_rq3(dataclasses.replace(t.opts, cells=[t.params[0]]))
    write_json(_marker(t, _translator_runs(t)), {"task": t.name})


def _done_translators(t: Task) -> bool:
    runs = _translator_runs(t)
    return all((r / "metrics.json").is_file() for r in runs) and _marker(t, runs).is_file()


def _do_scenario(t: Task) -> None:
    import dataclasses

    from .scenarios import run_scenario

    marker = _marker(t)  # before the run: ScenarioOptions collects its timings as it goes
    run_scenario(dataclasses.replace(t.opts, timings={}))
    write_json(marker, {"task": t.name})


def _done_scenario(t: Task) -> bool:
    return (Path(t.opts.results_dir) / f"scenario_{t.params[0]}.json").is_file() and _marker(
        t
    ).is_file()


RUN: dict[str, Callable[[Task], None]] = {
    "train": _do_train,
    "rq1": _do_rq1,
    "rq2": _do_rq2,
    "rq3": _do_rq3,
    "d1": _do_d1,
    "inter": _do_inter,
    "tatoeba": _do_tatoeba,
    "tatoeba-rq3": _do_tatoeba_rq3,
    "scenario": _do_scenario,
}
DONE: dict[str, Callable[[Task], bool]] = {
    "train": _done_train,
    "rq1": _done_rq1,
    "rq2": _done_rq2,
    "rq3": _done_rq3,
    "d1": _done_d1,
    "inter": _done_inter,
    "tatoeba": _done_translators,
    "tatoeba-rq3": _done_translators,
    "scenario": _done_scenario,
}


def is_done(t: Task) -> bool:
    """Whether the task's artifact exists (false when it cannot be told, e.g. a missing run)."""
    try:
        return DONE[t.kind](t)
    except (OSError, RnnmodError):
        return False


def execute(t: Task, attempt: int = 0, kill: bool = False, threads: int = 1) -> dict:
    """Run one task in a worker; returns its name, wall seconds and the worker's pid."""
    import torch

    torch.set_num_threads(threads)
    if kill and attempt == 0:  # test hook: a crash in the middle of the grid
        os.kill(os.getpid(), signal.SIGKILL)
    t0 = time.perf_counter()
    RUN[t.kind](t)
    return {"name": t.name, "seconds": time.perf_counter() - t0, "pid": os.getpid()}
