"""The profiles of ``rnnmod reproduce all --profile quick|full`` and their sequential run: RQ1, RQ2,
RQ3 (and D1) in one resumable command.

Every stage caches what it computed (trained runs in ``--runs-dir``, result rows under
``results/<rq>/cache``), so a rerun — or a run resumed after an interruption — only does what is
missing. The report (``results/report.md`` and ``report.html``) is rebuilt from all cached rows.

* ``quick`` — MathQA and Clinc, lstm/gru/rnn at depth 1–2, default preset, both modes; RQ2 on
  depth 1 with the first 3 class pairs; RQ3 worst/best among depths 1–2. Sized for CI and
  ``make demo`` on a 2-core machine (wall time recorded in ``results/all_timing.json``).
* ``full`` — the paper's grid: all four tasks, depth 1–4, both presets and modes, every class pair
  of the depth-1 models (the paper's text says RNN-4, its scripts used model1 for some cells and
  model4 for others, paper-method §13.3; ``reproduce rq2 --depths 4`` gives the other), RQ3
  over depths 1–4, D1 on the many-output tasks, then inter reuse and replace (every combo, depth
  1), the Tatoeba translators (depth 1–4) with their RQ1 and translation-replace rows, and the
  two motivating scenarios. Hours on this machine; meant for a bigger one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rnnmod.storage import write_json

from .defective_evaluator import run_d1
from .intra_models import RQ23Options
from .intra_replace import run_rq3
from .intra_reuse import run_rq2
from .rq1_cost import RQ1Options, run_rq1

CELLS = ["lstm", "gru", "rnn"]


@dataclass(frozen=True)
class Profile:
    tasks: tuple[str, ...]
    depths: tuple[int, ...]
    presets: tuple[str, ...]
    reuse_depths: tuple[int, ...]
    max_pairs: int | None
    d1_tasks: tuple[str, ...]
    cells: tuple[str, ...] = tuple(CELLS)
    epochs: int | None = None  # training and scratch-baseline epochs (None: the paper's)
    max_test: int | None = None  # evaluate on a seeded random subset of the test split
    # stages after the grid (run_extras): inter reuse/replace of these one-output tasks
    # (mathqa: 1:1-1:N with emotions, clinc: M:1-M:N with Brown) at inter_depths, the Tatoeba
    # translators' RQ1 and RQ3 rows at translation_depths, and the two motivating scenarios
    inter: tuple[str, ...] = ()
    inter_depths: tuple[int, ...] = (1,)
    inter_max_combos: int | None = None
    translation_depths: tuple[int, ...] = ()
    scenarios: tuple[str, ...] = ()


PROFILES = {
    "quick": Profile(("mathqa", "clinc"), (1, 2), ("default",), (1,), 3, ()),
    "full": Profile(
        ("mathqa", "clinc", "emotions", "brown"),
        (1, 2, 3, 4),
        ("default", "paper"),
        (1,),
        None,
        ("emotions", "brown"),
        inter=("mathqa", "clinc"),
        translation_depths=(1, 2, 3, 4),
        scenarios=("add-language", "fix-language"),
    ),
}


def extras_options(
    p: Profile, runs_dir: Path, results_dir: Path, data_dir: Path | None, progress: bool
) -> tuple:
    """The options of a profile's stages after the grid: (InterOptions or None,
    TatoebaRQ1Options or None, ScenarioOptions per scenario); the sequential and the task path
    share them."""
    from .inter_problems import PROBLEMS, InterOptions
    from .scenarios import ScenarioOptions
    from .tatoeba_rq1 import TatoebaRQ1Options

    common = dict(runs_dir=runs_dir, results_dir=results_dir, data_dir=data_dir)
    inter = None
    if p.inter:
        inter = InterOptions(
            problems=[name for name, (one, _m) in PROBLEMS.items() if one in p.inter],
            cells=list(p.cells),
            depths=list(p.inter_depths),
            max_combos=p.inter_max_combos,
            progress=progress,
            **common,
        )
    translation = None
    if p.translation_depths:
        translation = TatoebaRQ1Options(
            cells=list(p.cells),
            depths=list(p.translation_depths),
            presets=list(p.presets),
            progress=progress,
            **common,
        )
    scenarios = [
        ScenarioOptions(
            name,
            runs_dir=runs_dir / "scenarios",
            results_dir=results_dir,
            data_dir=data_dir,
            progress=progress,
        )
        for name in p.scenarios
    ]
    return inter, translation, scenarios


def _timed(timing: dict[str, float], name: str, fn, *args) -> None:
    """Run ``fn(*args)`` and record its wall seconds under ``name``."""
    t = time.perf_counter()
    fn(*args)
    timing[name] = time.perf_counter() - t


def run_extras(
    p: Profile, runs_dir: Path, results_dir: Path, data_dir: Path | None, progress: bool
) -> dict[str, float]:
    """The profile's stages beyond the classifier grid, one after the other (each caches what it
    computed, so a rerun resumes): inter reuse and replace, the Tatoeba translators' RQ1 and
    RQ3 (translation replace) rows, the motivating scenarios. Returns wall seconds per stage.
    On the task path (``--executor local|ray``) their work ran as tasks first
    (``task_graph.plan_extras``), so this only assembles the reports from the caches."""
    inter, translation, scenarios = extras_options(p, runs_dir, results_dir, data_dir, progress)
    timing: dict[str, float] = {}
    if inter is not None:
        from .inter import run_inter

        for rq in ("reuse", "replace"):
            _timed(timing, f"inter {rq}", run_inter, rq, inter)
    if translation is not None:
        from .tatoeba_rq1 import run_tatoeba_rq1
        from .tatoeba_rq3 import run_tatoeba_rq3

        _timed(timing, "tatoeba rq1 (incl. training)", run_tatoeba_rq1, translation)
        _timed(timing, "tatoeba rq3", run_tatoeba_rq3, translation)
    for so in scenarios:
        from .scenarios import run_scenario

        _timed(timing, f"scenario {so.scenario}", run_scenario, so)
    return timing


def profile_options(
    p: Profile, runs_dir: Path, results_dir: Path, data_dir: Path | None, progress: bool
) -> tuple[RQ1Options, RQ23Options, RQ23Options]:
    """The RQ1, RQ2 and RQ3 options of a profile (the sequential and the task path share them)."""
    common = dict(
        tasks=list(p.tasks),
        cells=list(p.cells),
        runs_dir=runs_dir,
        results_dir=results_dir,
        data_dir=data_dir,
        epochs=p.epochs,
        max_test=p.max_test,
        progress=progress,
    )
    rq1 = RQ1Options(depths=list(p.depths), presets=list(p.presets), **common)
    rq2 = RQ23Options(depths=list(p.reuse_depths), max_pairs=p.max_pairs, **common)
    rq3 = RQ23Options(depths=list(p.depths), family_depths=p.depths, **common)
    return rq1, rq2, rq3


def run_all(
    profile: str | Profile,
    *,
    runs_dir: Path,
    results_dir: Path,
    data_dir: Path | None = None,
    progress: bool = True,
    executor: str = "sequential",
    workers: int | None = None,
    address: str | None = None,
    retries: int = 2,
    pairs_per_task: int | None = None,
) -> dict:
    """Run every stage of ``profile``; returns the wall time per stage (seconds).

    ``executor``: ``sequential`` runs the stages one after the other in this process;
    ``local`` (a process pool) and ``ray`` run the grid as independent tasks
    (:mod:`.task_graph`, docs/scale-out.md) and give the same tables."""
    p = PROFILES[profile] if isinstance(profile, str) else profile
    if executor != "sequential":
        from .task_profile import run_profile

        return run_profile(
            p,
            profile if isinstance(profile, str) else "custom",
            runs_dir=runs_dir,
            results_dir=results_dir,
            data_dir=data_dir,
            progress=progress,
            executor=executor,
            workers=workers,
            address=address,
            retries=retries,
            pairs_per_task=pairs_per_task,
        )
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    rq1, rq2, rq3 = profile_options(p, runs_dir, results_dir, data_dir, progress)
    run_rq1(rq1)
    timing["rq1 (incl. training)"] = time.perf_counter() - t0
    _timed(timing, "rq2", run_rq2, rq2)
    _timed(timing, "rq3", run_rq3, rq3)
    if p.d1_tasks:
        d1_args = (list(p.d1_tasks), list(p.cells), list(p.depths), runs_dir, results_dir, data_dir)
        _timed(timing, "d1", run_d1, *d1_args)
    timing.update(run_extras(p, runs_dir, results_dir, data_dir, progress))
    from .report import build_report

    build_report(results_dir)
    timing["total"] = time.perf_counter() - t0
    write_json(
        results_dir / "all_timing.json",
        {
            "profile": profile if isinstance(profile, str) else "custom",
            "executor": "sequential",
            "seconds": {k: round(v, 1) for k, v in timing.items()},
        },
    )
    return timing
