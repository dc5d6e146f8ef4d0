"""What every command shares: the data-directory option, text files named on the command line,
output as one JSON object or as lines for people, errors as one line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import RnnmodError


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="dataset root (default: $RNNMOD_DATA, then ~/.cache/rnnmod/data)",
    )


def read_text_arg(path: Path | str) -> str:
    """A text file named on the command line (``--file``, ``--calibrate``, ``--labelled``), with
    one-line errors for a missing or non-UTF-8 file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RnnmodError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise RnnmodError(f"cannot read {path}: {e.strerror}") from None


def emit(args: argparse.Namespace, obj: dict, human: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(obj, sort_keys=True))
    else:
        print(human)


def one_line(e: BaseException) -> str:
    """The error as one line: the user's mistake (RnnmodError) or what the OS refused (a full
    disk, a permission, a vanished file), without a traceback."""
    if isinstance(e, OSError) and not isinstance(e, RnnmodError):
        msg = e.strerror or str(e) or type(e).__name__
        if e.filename:
            msg = f"{e.filename}: {msg}"
    else:
        msg = str(e) or type(e).__name__
    return " ".join(msg.split())


_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\"}


def tsv_field(text: str) -> str:
    """A label or text as one field of tab-separated output: tabs, newlines and backslashes
    escaped, every other control character (terminal escape codes included) as ``\\xNN``."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 32 or 127 <= ord(ch) < 160:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def label_list(text: str, option: str = "--labels") -> list[str]:
    """A comma-separated list of labels; a label holding a comma is written in double quotes
    (``--labels '"a, b",c'``), as in CSV. An empty item (``a,,b``, a leading or trailing
    comma, ``2:`` without its label) is an error that says where it is; no label at all gives
    an empty list."""
    import csv

    rows = list(csv.reader([text], skipinitialspace=True))
    items = [x.strip() for x in (rows[0] if rows else [])]
    if not any(items):
        return []  # no label at all: the command says how many it needs
    for i, item in enumerate(items, 1):
        if not item:
            where = (
                "a leading comma"
                if i == 1
                else "a trailing comma"
                if i == len(items)
                else "two commas in a row"
            )
            raise RnnmodError(
                f"{option} {text!r}: label {i} of {len(items)} is empty ({where}); "
                "separate labels with single commas"
            )
        head, sep, rest = item.partition(":")
        if sep and head.isdigit() and not rest.strip():
            raise RnnmodError(
                f"{option} {text!r}: {item!r} names module set {head} but no label (write {head}:LABEL)"
            )
    return items
