"""``rnnmod reproduce all --profile quick|full``: RQ1, RQ2, RQ3 (and D1) in one resumable command.

Every stage caches what it computed (trained runs in ``--runs-dir``, result rows under
``results/<rq>/cache``), so a rerun — or a run resumed after an interruption — only does what is
missing. The report (``results/report.md`` and ``report.html``) is rebuilt from all cached rows.

* ``quick`` — MathQA and Clinc, lstm/gru/rnn at depth 1–2, default preset, both modes; RQ2 on
  depth 1 with the first 3 class pairs; RQ3 worst/best among depths 1–2. Sized for CI and
  ``make demo`` on a 2-core machine (wall time recorded in ``results/all_timing.json``).
* ``full`` — the paper's grid: all four tasks, depth 1–4, both presets and modes, every class pair
  of the depth-4 models (the paper's RNN-4 modules), RQ3 over depths 1–4, D1 on the
  many-output tasks. Hours on this machine; meant for a bigger one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..storage import write_json
from .d1 import run_d1
from .reuse_replace import RQ23Options, run_rq2, run_rq3
from .rq1 import RQ1Options, run_rq1

CELLS = ["lstm", "gru", "rnn"]


@dataclass(frozen=True)
class Profile:
    tasks: tuple[str, ...]
    depths: tuple[int, ...]
    presets: tuple[str, ...]
    reuse_depths: tuple[int, ...]
    max_pairs: int | None
    d1_tasks: tuple[str, ...]


PROFILES = {
    "quick": Profile(("mathqa", "clinc"), (1, 2), ("default",), (1,), 3, ()),
    "full": Profile(
        ("mathqa", "clinc", "emotions", "brown"),
        (1, 2, 3, 4),
        ("default", "paper"),
        (4,),
        None,
        ("emotions", "brown"),
    ),
}


def run_all(
    profile: str,
    *,
    runs_dir: Path,
    results_dir: Path,
    data_dir: Path | None = None,
    progress: bool = True,
) -> dict:
    """Run every stage of ``profile``; returns the wall time per stage (seconds)."""
    p = PROFILES[profile]
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    run_rq1(
        RQ1Options(
            tasks=list(p.tasks),
            cells=CELLS,
            depths=list(p.depths),
            presets=list(p.presets),
            runs_dir=runs_dir,
            results_dir=results_dir,
            data_dir=data_dir,
            progress=progress,
        )
    )
    timing["rq1 (incl. training)"] = time.perf_counter() - t0
    common = dict(
        tasks=list(p.tasks),
        cells=CELLS,
        runs_dir=runs_dir,
        results_dir=results_dir,
        data_dir=data_dir,
        progress=progress,
    )
    t = time.perf_counter()
    run_rq2(RQ23Options(depths=list(p.reuse_depths), max_pairs=p.max_pairs, **common))
    timing["rq2"] = time.perf_counter() - t
    t = time.perf_counter()
    run_rq3(RQ23Options(depths=list(p.depths), family_depths=p.depths, **common))
    timing["rq3"] = time.perf_counter() - t
    if p.d1_tasks:
        t = time.perf_counter()
        run_d1(list(p.d1_tasks), CELLS, list(p.depths), runs_dir, results_dir, data_dir)
        timing["d1"] = time.perf_counter() - t
    from ..report.build import build_report

    build_report(results_dir)
    timing["total"] = time.perf_counter() - t0
    write_json(
        results_dir / "all_timing.json",
        {"profile": profile, "seconds": {k: round(v, 1) for k, v in timing.items()}},
    )
    return timing
