"""The data files of the user-file tasks (``text-classification``, ``tagging``): one file to
split with a seed (``file``), or a dataset's own splits (``train_file`` and ``test_file``,
``val_file`` optional), resolved to absolute paths; labels of the held-out files checked
against the training file's."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import RnnmodError
from .options import TaskOptions


def resolve_file(file: str | Path | None, data_dir: Path | None, option: str = "--file") -> Path:
    """The user's file, as an absolute path: as given (absolute or relative to the working
    directory), else under ``data_dir``. A clear error when it is not given or does not exist."""
    if not file:
        also = " (or the dataset's own splits: --train-file and --test-file)" * (option == "--file")
        raise RnnmodError(f"this task reads a file of your own: pass {option} PATH{also}")
    path = Path(file).expanduser()
    if not path.is_file() and data_dir is not None and (data_dir / path).is_file():
        path = data_dir / path
    if not path.is_file():
        raise RnnmodError(f"missing data file {path}: pass an existing file with {option}")
    return path.resolve()


#: the options naming a user's data files: one file to split with a seed (``file``), or the
#: dataset's own splits (``train_file`` and ``test_file``, ``val_file`` optional)
SPLIT_FILES = ("train_file", "val_file", "test_file")
FILE_OPTIONS = ("file", *SPLIT_FILES)


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def resolve_user_files(options: dict, data_dir: Path | None) -> dict[str, str]:
    """The user's data files by option, as absolute paths (:func:`resolve_file`): ``file``, or
    ``train_file`` and ``test_file`` with an optional ``val_file``; one line for a bad mix."""
    given = [k for k in SPLIT_FILES if options.get(k) not in (None, "")]
    if not given:
        return {"file": str(resolve_file(options.get("file"), data_dir))}
    if options.get("file") not in (None, ""):
        raise RnnmodError(
            f"--file cannot be combined with {', '.join(map(_flag, given))}: pass one file to "
            "split (--file) or the dataset's own splits (--train-file and --test-file, "
            "--val-file optional)"
        )
    missing = [k for k in ("train_file", "test_file") if k not in given]
    if missing:
        raise RnnmodError(
            f"{' and '.join(map(_flag, given))} need{'s' * (len(given) == 1)} "
            f"{' and '.join(map(_flag, missing))}: --train-file and --test-file go together "
            "(--val-file is optional)"
        )
    return {k: str(resolve_file(options[k], data_dir, _flag(k))) for k in given}


def split_files(opts: TaskOptions, data_dir: Path | None) -> dict[str, Path] | None:
    """``{"train": …, "val": …, "test": …}`` (``val`` when given) of the dataset's own splits,
    or None when the task reads one ``file`` to split."""
    files = resolve_user_files({k: getattr(opts, k) for k in FILE_OPTIONS}, data_dir)
    if "file" in files:
        return None
    return {k.removesuffix("_file"): Path(v) for k, v in files.items()}


def check_known_labels(path: Path, labels: list[str], known: list[str], train: Path) -> None:
    """A label of a test or validation file that the training file lacks: one line."""
    seen = set(known)
    for label in labels:
        if label not in seen:
            raise RnnmodError(
                f"{path}: label {label!r} does not occur in the training file {train}; "
                "the labels are fitted on the training file"
            )


def ranges(sizes: list[int]) -> list[torch.Tensor]:
    """Index ranges of consecutive parts of the given sizes (the splits read one after another)."""
    out, start = [], 0
    for n in sizes:
        out.append(torch.arange(start, start + n))
        start += n
    return out


def files_note(given: dict[str, Path], sizes: dict[str, int], unit: str) -> str:
    parts = [f"{k} {p.name} ({sizes[k]} {unit})" for k, p in given.items()]
    return "user data, the dataset's own splits: " + ", ".join(parts)


def file_extra(given: dict[str, Path]) -> dict[str, str]:
    """The split files by option name (``train_file``, …), as the run records them."""
    return {f"{k}_file": str(p) for k, p in given.items()}
