"""The reproduction grid as independent, idempotent tasks, run by a process pool or by Ray.

A profile (:mod:`.profile`) becomes a graph of tasks, one per artifact:

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
``ensure_run``, ``run_d1``) and so writes the same cache file under the same key — a content hash
of the source model(s) and the configuration — with write-then-rename. A task whose artifact
exists is skipped (checked by the driver before it is submitted, and again by the function), and
a task that crashed left nothing behind and is simply run again. The driver submits tasks as their
dependencies finish, retries a failed one a bounded number of times, reports what failed and goes
on with everything that does not depend on it; the reports are rebuilt at the end from every
cached artifact, so both executors — and the sequential path — give the same tables.

What each kind of task does is in :mod:`.task_kinds`, the executors that run the graph in
:mod:`.executors` (``local``: a spawn-started process pool, one torch thread per worker;
``ray``: remote tasks with a resource request per task kind, ``ray.init(address=...)`` joins a
cluster whose nodes share the runs and results folders), the whole profile in
:mod:`.task_profile`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnmod import RnnmodError
from rnnmod.data.base import TASKS

from .intra_models import RQ23Options
from .rq1_cost import RQ1Options

KINDS = ("train", "rq1", "rq2", "rq3", "d1", "inter", "tatoeba", "tatoeba-rq3", "scenario")

#: Class pairs per rq2 task: each pair trains a baseline from scratch, and the model's module
#: scores are computed once per task, so a few pairs amortise that without serialising much.
PAIRS_PER_TASK = 4

#: (class, label) combos per inter task: each trains that many scratch baselines and scores the
#: run pair's modules once (cached on disk after the first task of the pair).
COMBOS_PER_TASK = 12


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
    from .intra_reuse import class_pairs
    from .rq1_cost import rq1_settings

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
    driver then assembles their reports from the caches (``profile.run_extras``)."""
    from .inter_problems import PROBLEMS, combos
    from .profile import extras_options

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
    from rnnmod import load_task

    data = load_task(task, data_dir)
    return data.n_classes, data.pad_label
