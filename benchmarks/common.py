"""What every benchmark result shares: the command, the date, the machine, an atomic write."""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def result_header(name: str, argv: list[str] | None) -> dict:
    """The command that produced a result, when, and on what (threads matter on a shared box)."""
    return {
        "benchmark": name,
        "command": f"benchmarks/{name}.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        },
    }


def per_call(fn, n: int) -> float:
    """Mean seconds per call of ``fn`` over ``n`` calls."""
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def write_result(folder: Path, stem: str, result: dict) -> Path:
    """``folder/stem.json``, written atomically."""
    from rnnmod.storage import write_json

    path = Path(folder) / f"{stem}.json"
    write_json(path, result)
    return path


def clinc_run(path: Path | None, data_dir: str) -> Path:
    """``path`` when given, else the trained RQ1 Clinc LSTM-1, else a 2-epoch one trained (once)
    under ``.bench/runs`` — speed does not depend on accuracy."""
    if path is not None:
        return path
    rq1 = ROOT / "runs" / "rq1" / "clinc-lstm1"
    if rq1.is_dir():
        return rq1
    from decompose_speed import get_model

    from rnnmod.data import load_task

    _, trained, _ = get_model(
        load_task("clinc", data_dir), "lstm", 1, 2, ROOT / ".bench" / "runs", False
    )
    return trained
