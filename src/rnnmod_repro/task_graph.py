"""The reproduction grid as independent, idempotent tasks, run by a process pool or by Ray.

A profile (experiments/all.py) becomes a graph of tasks, one per artifact:

* ``train``  — one run directory ``RUNS/<task>-<cell><depth>`` (written by a rename),
* ``rq1``    — one RQ1 row (decompose + evaluate) per model × preset × mode,
* ``rq2``    — a chunk of class pairs of one model (composed pair vs a scratch baseline each),
* ``rq3``    — one replacement family (a task and cell over its depths),
* ``d1``     — the authors' rolled-evaluator defect over the many-output runs,

and for the full profile's later stages (:func:`plan_extras`): ``inter`` (a chunk of inter
reuse/replace combos), ``tatoeba`` (one translator and its RQ1 rows), ``tatoeba-rq3`` (one
translation-replace family) and ``scenario``; the driver assembles their reports afterwards.

Every evaluation task depends on the train tasks of the models it reads. Each task calls the same
per-artifact function as the sequential commands (``rq1_row``, ``reuse_rows``, ``replace_rows``,
``_ensure_run``, ``run_d1``) and so writes the same cache file under the same key — a content hash
of the source model(s) and the configuration — with write-then-rename. A task whose artifact
exists is skipped (checked by the driver before it is submitted, and again by the function), and
a task that crashed left nothing behind and is simply run again. The driver submits tasks as their
dependencies finish, retries a failed one a bounded number of times, reports what failed and goes
on with everything that does not depend on it; the reports are rebuilt at the end from every
cached artifact, so both executors — and the sequential path — give the same tables.

Executors: ``local`` (a spawn-started process pool, one torch thread per worker) and ``ray``
(remote tasks with a resource request per task kind; ``ray.init(address=...)`` joins a cluster
whose nodes share the runs and results folders).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from rnnmod.data.base import TASKS
from rnnmod.errors import RnnmodError
from rnnmod.storage import read_json, sha256_file, write_json
from .reuse_replace import RQ23Options
from .rq1 import RQ1Options

KINDS = ("train", "rq1", "rq2", "rq3", "d1", "inter", "tatoeba", "tatoeba-rq3", "scenario")

#: Ray resource request per task kind. All are single-threaded CPU work on this project's model
#: sizes; a task kind that should run on an accelerator gets ``"num_gpus": 1`` here.
RESOURCES: dict[str, dict[str, float]] = {k: {"num_cpus": 1} for k in KINDS}

#: Class pairs per rq2 task: each pair trains a baseline from scratch, and the model's module
#: scores are computed once per task, so a few pairs amortise that without serialising much.
PAIRS_PER_TASK = 4

#: (class, label) combos per inter task: each trains that many scratch baselines and scores the
#: run pair's modules once (cached on disk after the first task of the pair).
COMBOS_PER_TASK = 12

#: Test hook: a task whose name contains this string SIGKILLs its own worker on its first attempt.
KILL_ENV = "RNNMOD_TEST_KILL_TASK"


@dataclass
class Task:
    kind: str
    name: str  # unique and readable: "train mathqa-gru1", "rq1 clinc-lstm2 default/unrolled"
    params: tuple
    opts: Any  # RQ1Options (train, rq1, d1) or RQ23Options (rq2, rq3)
    deps: tuple[str, ...] = ()

    def key(self) -> str:
        """A content hash of what the task is: kind, parameters and configuration."""
        spec = {"kind": self.kind, "params": self.params, "opts": vars(self.opts)}
        blob = json.dumps(spec, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:20]


# ---------------------------------------------------------------------------------------------
# planning


def plan(
    rq1: RQ1Options,
    rq2: RQ23Options,
    rq3: RQ23Options,
    d1_tasks: Iterable[str] = (),
    pairs_per_task: int = PAIRS_PER_TASK,
    extras: Any = None,
) -> list[Task]:
    """The task graph of one profile's options, in an order that starts training first;
    ``extras`` (a Profile) adds the stages after the grid (:func:`plan_extras`)."""
    from .reuse_replace import class_pairs
    from .rq1 import rq1_settings

    tasks: list[Task] = []

    def train(task: str, cell: str, depth: int) -> str:
        return f"train {task}-{cell}{depth}"

    for t in rq1.tasks:
        for c in rq1.cells:
            for d in rq1.depths:
                tasks.append(Task("train", train(t, c, d), (t, c, d), rq1))
    for t in rq1.tasks:
        for c in rq1.cells:
            for d in rq1.depths:
                for pname, mode in rq1_settings(TASKS[t].io_type, rq1):
                    name = f"rq1 {t}-{c}{d} {pname}/{mode}"
                    tasks.append(Task("rq1", name, (t, c, d, pname, mode), rq1, (train(t, c, d),)))
    for t in rq2.tasks:
        n_classes, pad = _labels(t, rq2.data_dir)
        pairs = class_pairs(n_classes, pad, rq2)
        for c in rq2.cells:
            for d in rq2.depths:
                for i in range(0, len(pairs), pairs_per_task):
                    chunk = tuple(pairs[i : i + pairs_per_task])
                    name = f"rq2 {t}-{c}{d} pairs {i + 1}-{i + len(chunk)}"
                    tasks.append(Task("rq2", name, (t, c, d, chunk), rq2, (train(t, c, d),)))
    for t in rq3.tasks:
        for c in rq3.cells:
            deps = tuple(train(t, c, d) for d in rq3.family_depths)
            tasks.append(Task("rq3", f"rq3 {t}-{c}", (t, c), rq3, deps))
    d1_tasks = tuple(d1_tasks)
    if d1_tasks:
        deps = tuple(train(t, c, d) for t in d1_tasks for c in rq1.cells for d in rq1.depths)
        tasks.append(Task("d1", "d1", (d1_tasks, tuple(rq1.cells), tuple(rq1.depths)), rq1, deps))
    if extras is not None:
        tasks += plan_extras(extras, rq1, train)
    names = {t.name for t in tasks}
    for t in tasks:  # a dependency outside the grid (e.g. reuse depth not trained) is an error
        missing = [d for d in t.deps if d not in names]
        if missing:
            raise RnnmodError(f"{t.name} needs {missing[0]}, which is not part of this grid")
    return tasks


def plan_extras(p: Any, rq1: RQ1Options, train: Callable[[str, str, int], str]) -> list[Task]:
    """Tasks for a profile's stages after the grid: inter reuse/replace in chunks of
    ``COMBOS_PER_TASK`` combos (after the two runs' train tasks), one Tatoeba translator each
    (training and its RQ1 rows), translation replace per family, one task per scenario. The
    driver then assembles their reports from the caches (``all.run_extras``)."""
    from .all import extras_options
    from .inter import PROBLEMS, combos

    tasks: list[Task] = []
    iopts, topts, sopts = extras_options(
        p, Path(rq1.runs_dir), Path(rq1.results_dir), rq1.data_dir, progress=False
    )
    for problem in iopts.problems if iopts else []:
        one, many = PROBLEMS[problem]
        (n_one, _), (n_many, pad) = _labels(one, rq1.data_dir), _labels(many, rq1.data_dir)
        grid = combos(list(range(n_one)), [c for c in range(n_many) if c != pad], iopts)
        for rq in ("reuse", "replace"):
            for c in iopts.cells:
                for d in iopts.depths:
                    for i in range(0, len(grid), COMBOS_PER_TASK):
                        chunk = tuple(grid[i : i + COMBOS_PER_TASK])
                        name = f"inter {rq} {problem} {c}{d} combos {i + 1}-{i + len(chunk)}"
                        deps = (train(one, c, d), train(many, c, d))
                        tasks.append(Task("inter", name, (rq, problem, c, d, chunk), iopts, deps))
    for c in topts.cells if topts else []:
        deps = tuple(f"tatoeba {c}{d}" for d in topts.depths)
        for d in topts.depths:
            tasks.append(Task("tatoeba", f"tatoeba {c}{d}", (c, d), topts))
        tasks.append(Task("tatoeba-rq3", f"tatoeba-rq3 {c}", (c,), topts, deps))
    for so in sopts:
        tasks.append(Task("scenario", f"scenario {so.scenario}", (so.scenario,), so))
    return tasks


def _labels(task: str, data_dir: Path | None) -> tuple[int, int | None]:
    from rnnmod.data import load_task

    data = load_task(task, data_dir)
    return data.n_classes, data.pad_label


# ---------------------------------------------------------------------------------------------
# what each kind does, and whether its artifact is there

_DATA: dict[tuple, Any] = {}  # per worker process: a dataset is loaded once, reused by its tasks


def _rq1_data(task: str, opts: RQ1Options):
    from .rq1 import rq1_data

    k = ("rq1", task, str(opts.data_dir), opts.max_test, opts.seed)
    if k not in _DATA:
        _DATA[k] = rq1_data(task, opts)
    return _DATA[k]


def _eval_data(task: str, opts: RQ23Options):
    from .reuse_replace import eval_data

    k = ("rq23", task, str(opts.data_dir), opts.max_test, opts.seed)
    if k not in _DATA:
        _DATA[k] = eval_data(task, opts)
    return _DATA[k]


def _run_dir(opts: RQ1Options | RQ23Options, task: str, cell: str, depth: int) -> Path:
    return Path(opts.runs_dir) / f"{task}-{cell}{depth}"


def _model_sha(opts: RQ1Options | RQ23Options, task: str, cell: str, depth: int) -> str:
    return sha256_file(_run_dir(opts, task, cell, depth) / "model.safetensors")


def _do_train(t: Task) -> None:
    from .rq1 import _ensure_run

    task, cell, depth = t.params
    _ensure_run(task, cell, depth, _rq1_data(task, t.opts), t.opts)


def _done_train(t: Task) -> bool:
    return (_run_dir(t.opts, *t.params) / "metrics.json").is_file()


def _do_rq1(t: Task) -> None:
    from .rq1 import checked_run, rq1_row

    task, cell, depth, pname, mode = t.params
    data = _rq1_data(task, t.opts)
    rq1_row(checked_run(_run_dir(t.opts, task, cell, depth), data), data, pname, mode, t.opts)


def _done_rq1(t: Task) -> bool:
    from .rq1 import rq1_cache_file

    task, cell, depth, pname, mode = t.params
    return rq1_cache_file(_model_sha(t.opts, task, cell, depth), pname, mode, t.opts).is_file()


def _do_rq2(t: Task) -> None:
    from .reuse_replace import load_family_run, reuse_rows

    task, cell, depth, pairs = t.params
    data = _eval_data(task, t.opts)
    run = load_family_run(task, cell, depth, data, t.opts)
    reuse_rows(run, data, t.opts, _cache(t.opts, "rq2"), pairs=[tuple(p) for p in pairs])


def _done_rq2(t: Task) -> bool:
    from rnnmod.runs import load_run
    from .reuse_replace import mode_for, pair_cache_file

    task, cell, depth, pairs = t.params
    run = load_run(_run_dir(t.opts, task, cell, depth))
    sha, mode = run.model_sha256(), mode_for(run, t.opts)
    cache = _cache(t.opts, "rq2")
    return all(pair_cache_file(sha, mode, a, b, t.opts, cache).is_file() for a, b in pairs)


def _do_rq3(t: Task) -> None:
    from .reuse_replace import replace_rows

    task, cell = t.params
    replace_rows(task, cell, _eval_data(task, t.opts), t.opts, _cache(t.opts, "rq3"))


def _done_rq3(t: Task) -> bool:
    from .reuse_replace import replace_cache_file

    task, cell = t.params
    shas = [_model_sha(t.opts, task, cell, d) for d in t.opts.family_depths]
    return replace_cache_file(shas, t.opts, _cache(t.opts, "rq3")).is_file()


def _d1_marker(t: Task) -> Path:
    """D1 is cheap and rewrites d1.csv whole; its marker is keyed by the hashes of its runs."""
    tasks, cells, depths = t.params
    found = [
        f"{p.name}:{sha256_file(p / 'model.safetensors')}"
        for p in (_run_dir(t.opts, a, c, d) for a in tasks for c in cells for d in depths)
        if (p / "metrics.json").is_file()
    ]
    key = hashlib.sha256("\n".join(found).encode()).hexdigest()[:20]
    return Path(t.opts.results_dir) / "d1" / "cache" / f"{key}.json"


def _do_d1(t: Task) -> None:
    from .d1 import run_d1

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
    from .inter import PROBLEMS

    _rq, problem, cell, depth, _chunk = t.params
    return [Path(t.opts.runs_dir) / f"{task}-{cell}{depth}" for task in PROBLEMS[problem]]


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


# ---------------------------------------------------------------------------------------------
# executors


class LocalBackend:
    """A process pool (spawned workers, one torch thread each). A worker that dies breaks the
    whole pool: every task in flight then counts one failed attempt and the pool is rebuilt."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.capacity = self.workers  # at most one task per worker in flight
        self._owner: dict[Future, ProcessPoolExecutor] = {}
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))

    def submit(self, t: Task, attempt: int, kill: bool) -> Future:
        f = self._pool.submit(execute, t, attempt, kill, 1)
        self._owner[f] = self._pool
        return f

    def wait(self, handles: list) -> list[tuple[Any, dict | None, BaseException | None]]:
        done, _ = futures_wait(handles, timeout=5.0, return_when=FIRST_COMPLETED)
        out, broken = [], False
        for f in done:
            try:
                err = f.exception()
            except CancelledError as e:
                err = e
            pool = self._owner.pop(f, None)
            broken |= isinstance(err, BrokenProcessPool) and pool is self._pool
            out.append((f, None if err else f.result(), err))
        if broken:  # futures of the dead pool that come later are failures, not a new break
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayBackend:
    """Ray remote tasks, ``RESOURCES[kind]`` each; Ray's own retries are off so the driver counts
    attempts the same way for a raised error and for a worker that died."""

    def __init__(self, address: str | None = None, workers: int | None = None):
        try:
            import ray
        except ImportError:
            raise RnnmodError(
                "--executor ray needs Ray: pip install 'rnnmod[ray]' (or pip install ray)"
            ) from None
        self.ray = ray
        self._started = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, logging_level="warning")
            else:  # a private single-machine instance, on the loopback interface only
                ray.init(
                    num_cpus=workers or os.cpu_count(),
                    include_dashboard=False,
                    logging_level="warning",
                    _node_ip_address="127.0.0.1",
                )
            self._started = True
        self.workers = int(ray.cluster_resources().get("CPU", 0))
        self.capacity = 1 << 30  # Ray queues tasks by their resource requests
        self._remote = ray.remote(max_retries=0)(execute)

    def submit(self, t: Task, attempt: int, kill: bool) -> Any:
        res = RESOURCES[t.kind]
        threads = max(1, int(res.get("num_cpus", 1)))
        return self._remote.options(name=t.name, **res).remote(t, attempt, kill, threads)

    def wait(self, handles: list) -> list[tuple[Any, dict | None, BaseException | None]]:
        ready, _ = self.ray.wait(handles, num_returns=1, timeout=5.0)
        out = []
        for h in ready:
            try:
                out.append((h, self.ray.get(h), None))
            except Exception as e:  # RayTaskError, WorkerCrashedError, ...
                out.append((h, None, e))
        return out

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()


def make_backend(executor: str, workers: int | None = None, address: str | None = None):
    if executor == "local":
        if address:
            raise RnnmodError("--address applies to --executor ray")
        return LocalBackend(workers)
    if executor == "ray":
        return RayBackend(address, workers)
    raise RnnmodError(f"unknown executor {executor!r}; expected local or ray")


@dataclass
class Outcome:
    """What one execution of a graph did."""

    executed: list[str] = field(default_factory=list)  # ran (and succeeded) now
    cached: list[str] = field(default_factory=list)  # artifact already there: skipped
    failed: dict[str, str] = field(default_factory=dict)  # out of attempts: the last error
    blocked: list[str] = field(default_factory=list)  # a dependency failed: not run
    seconds: dict[str, float] = field(default_factory=dict)  # executed task → its wall seconds
    attempts: dict[str, int] = field(default_factory=dict)  # tasks that needed more than one
    wall_seconds: float = 0.0


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[-1] if text else ''}"[:300]


def run_tasks(
    tasks: list[Task], backend: Any, *, retries: int = 2, progress: bool = True
) -> Outcome:
    """Run the graph on ``backend``: submit what is ready, skip what is cached, retry a failure up
    to ``retries`` times, then record it and block only its dependents."""
    start = time.perf_counter()
    by_name = {t.name: t for t in tasks}
    waiting = {t.name: set(t.deps) for t in tasks}
    dependents: dict[str, list[str]] = {t.name: [] for t in tasks}
    for t in tasks:
        for d in t.deps:
            dependents[d].append(t.name)
    kill = os.environ.get(KILL_ENV) or None
    out = Outcome()
    tries: dict[str, int] = {}
    ready = deque(t for t in tasks if not t.deps)
    inflight: dict[Any, Task] = {}
    bar = tqdm(total=len(tasks), desc="tasks", unit="task", disable=not progress)

    def settle(name: str, ok: bool) -> None:
        bar.update()
        for d in dependents[name]:
            if ok:
                waiting[d].discard(name)
                if not waiting[d]:
                    ready.append(by_name[d])
            elif d not in out.blocked:
                out.blocked.append(d)
                settle(d, False)

    try:
        while ready or inflight:
            while ready and len(inflight) < backend.capacity:
                t = ready.popleft()
                if t.name not in tries and is_done(t):
                    out.cached.append(t.name)
                    settle(t.name, True)
                    continue
                attempt = tries.setdefault(t.name, 0)
                inflight[backend.submit(t, attempt, bool(kill and kill in t.name))] = t
            if not inflight:
                continue
            for h, result, err in backend.wait(list(inflight)):
                t = inflight.pop(h)
                if err is None:
                    out.executed.append(t.name)
                    out.seconds[t.name] = round(result["seconds"], 3)
                    if tries[t.name]:
                        out.attempts[t.name] = tries[t.name] + 1
                    bar.set_postfix_str(t.name, refresh=False)
                    settle(t.name, True)
                    continue
                tries[t.name] += 1
                if tries[t.name] <= retries:
                    tqdm.write(f"retrying {t.name} (attempt {tries[t.name] + 1}): {_short(err)}")
                    ready.append(t)
                else:
                    out.failed[t.name] = _short(err)
                    tqdm.write(f"FAILED {t.name} after {tries[t.name]} attempts: {_short(err)}")
                    settle(t.name, False)
    finally:
        bar.close()
    out.wall_seconds = time.perf_counter() - start
    return out


# ---------------------------------------------------------------------------------------------
# the whole profile


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
    from rnnmod.data.base import default_data_dir
    from .report import build_report
    from .all import profile_options
    from .reuse_replace import collect_cached, write_report
    from .rq1 import collect_cached_rows, write_reports

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

        from .all import run_extras

        extras = run_extras(
            dataclasses.replace(p, scenarios=()), runs_dir, results_dir, data_dir, progress
        )
    write_reports(collect_cached_rows(results_dir), results_dir, time.perf_counter() - t0)
    write_report(collect_cached(results_dir, "rq2"), results_dir, "rq2", "table3_reuse.csv")
    write_report(collect_cached(results_dir, "rq3"), results_dir, "rq3", "table4_replace.csv")
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
