"""The executors of a task graph: a local process pool and Ray, and the driver that submits
what is ready, skips what is cached, retries what failed and blocks only its dependents."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from rnnmod import RnnmodError

from .task_graph import KINDS, Task
from .task_kinds import execute, is_done

#: Ray resource request per task kind. All are single-threaded CPU work on this project's model
#: sizes; a task kind that should run on an accelerator gets ``"num_gpus": 1`` here.
RESOURCES: dict[str, dict[str, float]] = {k: {"num_cpus": 1} for k in KINDS}

#: Test hook: a task whose name contains this string SIGKILLs its own worker on its first attempt.
KILL_ENV = "RNNMOD_TEST_KILL_TASK"


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
        try:
            f = self._pool.submit(execute, t, attempt, kill, 1)
        except BrokenProcessPool:
            # a worker died and the pool noticed before :meth:`wait` saw the failed future: its
            # tasks in flight fail through their futures; new work goes to a new pool
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
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
