"""Named tasks and user data: ``load_task(name, data_dir)`` returns a :class:`TaskData`, read
through the tokenised-data cache (:mod:`rnnmod.data.cache`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import RnnmodError
from .base import TaskData
from .brown import load_brown
from .cache import cached
from .clinc import load_clinc
from .emotions import load_emotions
from .generic import load_tagging, load_text_classification
from .idsfile import decode_task, encode_task, load_ids
from .mathqa import load_mathqa
from .paths import default_data_dir
from .toxic import load_toxic
from .userfiles import FILE_OPTIONS, resolve_user_files

LOADERS: dict[str, Callable[..., TaskData]] = {
    "brown": load_brown,
    "clinc": load_clinc,
    "emotions": load_emotions,
    "mathqa": load_mathqa,
    "toxic": load_toxic,
    "text-classification": load_text_classification,
    "tagging": load_tagging,
    "ids": load_ids,
}

#: Tasks that read a file the user names (``file=``/``--file``) rather than the data root.
USER_FILE_TASKS = frozenset({"text-classification", "tagging", "ids"})
#: Tasks whose file holds ids already: nothing to tokenise, nothing to cache.
PRE_TOKENISED_TASKS = frozenset({"ids"})

#: What each named task reads under the data root (the tokenised-data cache hashes it)
TASK_SOURCES: dict[str, tuple[str, ...]] = {
    "brown": ("brown/nltk_data",),
    "clinc": ("clinc_oos",),
    "emotions": ("semeval2018_ec",),
    "mathqa": ("mathqa",),
    "toxic": ("toxic",),
}


def _sources(task: str, data_dir: Path, options: dict) -> list[Path]:
    if task in USER_FILE_TASKS:  # load_task resolved them to absolute paths
        return [Path(str(options[k])) for k in FILE_OPTIONS if options.get(k)]
    return [data_dir / rel for rel in TASK_SOURCES.get(task, ())]


def with_test_lengths(data: TaskData) -> TaskData:
    """Record how many ids each raw test text has (``extra["test_id_counts"]``), computed once
    and cached with the data, so evaluation can count the texts longer than the model reads
    without tokenising them again."""
    texts = data.extra.get("texts_test")
    if texts is not None and len(texts) == len(data.x_test):
        data.extra["test_id_counts"] = [ids for _, ids in data.vocab.counts(texts)]
    return data


def load_task(task: str, data_dir: Path | str | None = None, **options: object) -> TaskData:
    """Load a named task's splits and vocabulary from ``data_dir`` (default: $RNNMOD_DATA).

    ``options`` go to the loader (they key the tokenised-data cache): ``seq_len`` (a number,
    ``"auto"`` or None for the task's), ``max_vocab``, ``limit`` and ``limit_seed`` (a seeded
    subset of the training split, taken before the vocabulary is fitted), ``legacy_vocab``
    (paper preprocessing), and for the user-file tasks ``file`` — or the dataset's own splits,
    ``train_file`` and ``test_file`` with an optional ``val_file`` — (resolved to absolute
    paths here), ``text_column``, ``label_column``. ``hold_out`` (a fraction, with
    ``hold_out_seed``) moves a seeded slice of the training split into the validation split
    (:meth:`TaskData.hold_out_val`), after the loader and its cache.
    """
    hold_out = options.pop("hold_out", None)
    hold_out_seed = int(options.pop("hold_out_seed", 0))
    data = _load_task(task, data_dir, **options)
    if hold_out is not None:
        data.hold_out_val(float(hold_out), hold_out_seed)
        data.check()
    return data


def _load_task(task: str, data_dir: Path | str | None = None, **options: object) -> TaskData:
    if task not in LOADERS:
        raise RnnmodError(
            f"unknown or unsupported task {task!r}; available: {', '.join(sorted(LOADERS))}"
        )
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    if task in USER_FILE_TASKS:
        root = data_dir if data_dir.is_dir() else None
        options = {**options, **resolve_user_files(options, root)}
    elif not data_dir.is_dir():
        raise RnnmodError(
            f"data directory {data_dir} does not exist; pass --data-dir or set RNNMOD_DATA "
            f"(or run `rnnmod data fetch {task}`)"
        )
    else:
        root = data_dir
    if task in PRE_TOKENISED_TASKS:
        data = LOADERS[task](root, **options)
        data.check()
        return data
    data = cached(
        f"task:{task}",
        options,
        _sources(task, data_dir, options),
        lambda: with_test_lengths(LOADERS[task](root, **options)),
        encode_task,
        decode_task,
    )
    data.check()
    return data
