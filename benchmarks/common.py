"""What every benchmark result shares: the command, the date, the machine, an atomic write."""

from __future__ import annotations

import datetime
import os
import platform
import sys
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


def write_result(folder: Path, stem: str, result: dict) -> Path:
    """``folder/stem.json``, written atomically."""
    from rnnmod.storage import write_json

    path = Path(folder) / f"{stem}.json"
    write_json(path, result)
    return path
