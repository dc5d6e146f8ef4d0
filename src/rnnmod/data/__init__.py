"""Dataset loaders. ``load_task(name, data_dir)`` returns a :class:`TaskData`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import RnnmodError
from .base import TASKS, TaskData, TaskSpec, default_data_dir
from .clinc import load_clinc
from .mathqa import load_mathqa
from .vocab import Vocab

LOADERS: dict[str, Callable[..., TaskData]] = {
    "clinc": load_clinc,
    "mathqa": load_mathqa,
}


def load_task(task: str, data_dir: Path | str | None = None, **options: object) -> TaskData:
    """Load a named task's splits and vocabulary from ``data_dir`` (default: $RNNMOD_DATA)."""
    if task not in LOADERS:
        raise RnnmodError(f"unknown or unsupported task {task!r}; available: {', '.join(sorted(LOADERS))}")
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    if not data_dir.is_dir():
        raise RnnmodError(f"data directory {data_dir} does not exist; pass --data-dir or set RNNMOD_DATA (or run `rnnmod data fetch {task}`)")
    data = LOADERS[task](data_dir, **options)
    data.check()
    return data


__all__ = ["TASKS", "LOADERS", "TaskData", "TaskSpec", "Vocab", "default_data_dir", "load_task"]
