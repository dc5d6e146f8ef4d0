"""Datasets, vocabularies and user data. ``load_task(name, data_dir)`` returns a
:class:`TaskData`. Names are imported on first use, so that the command line can list tasks
and check a data directory without importing torch."""

from __future__ import annotations

from ..lazy import lazy_names

_EXPORTS = {
    "LOADERS": ".tasks",
    "USER_FILE_TASKS": ".tasks",
    "PRE_TOKENISED_TASKS": ".tasks",
    "TASK_SOURCES": ".tasks",
    "load_task": ".tasks",
    "TASKS": ".base",
    "TaskData": ".base",
    "TaskSpec": ".base",
    "default_data_dir": ".paths",
    "Pair": ".generic",
    "TranslationPairs": ".generic",
    "load_tagging": ".generic",
    "load_text_classification": ".generic",
    "load_translation_pairs": ".generic",
    "load_tatoeba_pairs": ".tatoeba",
    "label_sequences": ".toxic",
    "Vocab": ".vocab",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())
