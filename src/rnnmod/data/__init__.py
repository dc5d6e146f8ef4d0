"""Dataset loaders. ``load_task(name, data_dir)`` returns a :class:`TaskData`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import RnnmodError
from .base import TASKS, TaskData, TaskSpec, default_data_dir
from .brown import load_brown
from .clinc import load_clinc
from .emotions import load_emotions
from .generic import (
    Pair,
    TranslationPairs,
    load_tagging,
    load_text_classification,
    load_translation_pairs,
)
from .mathqa import load_mathqa
from .tatoeba import load_tatoeba_pairs
from .toxic import label_sequences, load_toxic
from .vocab import Vocab

LOADERS: dict[str, Callable[..., TaskData]] = {
    "brown": load_brown,
    "clinc": load_clinc,
    "emotions": load_emotions,
    "mathqa": load_mathqa,
    "toxic": load_toxic,
    "text-classification": load_text_classification,
    "tagging": load_tagging,
}

#: Tasks that read a file the user names (``file=``/``--file``) rather than the data root.
USER_FILE_TASKS = frozenset({"text-classification", "tagging"})


def load_task(task: str, data_dir: Path | str | None = None, **options: object) -> TaskData:
    """Load a named task's splits and vocabulary from ``data_dir`` (default: $RNNMOD_DATA).

    ``options`` go to the loader: ``legacy_vocab`` (paper preprocessing), and for the user-file
    tasks ``file``, ``text_column``, ``label_column``.
    """
    if task not in LOADERS:
        raise RnnmodError(
            f"unknown or unsupported task {task!r}; available: {', '.join(sorted(LOADERS))}"
        )
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    if task in USER_FILE_TASKS:
        data = LOADERS[task](data_dir if data_dir.is_dir() else None, **options)
    else:
        if not data_dir.is_dir():
            raise RnnmodError(
                f"data directory {data_dir} does not exist; pass --data-dir or set RNNMOD_DATA "
                f"(or run `rnnmod data fetch {task}`)"
            )
        data = LOADERS[task](data_dir, **options)
    data.check()
    return data


__all__ = [
    "LOADERS",
    "TASKS",
    "USER_FILE_TASKS",
    "Pair",
    "TaskData",
    "TaskSpec",
    "TranslationPairs",
    "Vocab",
    "default_data_dir",
    "label_sequences",
    "load_tagging",
    "load_tatoeba_pairs",
    "load_task",
    "load_text_classification",
    "load_translation_pairs",
]
