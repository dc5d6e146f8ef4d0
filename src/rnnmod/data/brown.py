"""Brown corpus with the 12 universal POS tags (M:N tagging), paper-method §3.5.

Read straight from the NLTK zips under ``<data_dir>/brown/nltk_data`` (no download, no unzip):
``corpora/brown.zip`` and ``taggers/universal_tagset.zip`` (the Brown → universal tag map). We
parse the zips ourselves with NLTK's exact rules — one sentence per non-blank line, ``word/tag``
split at the last ``/``, tag upper-cased, unknown tags → ``X`` — because that is 5x faster than
``nltk.corpus.brown.tagged_sents(tagset="universal")``; a test checks both give the same sentences.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from ..errors import RnnmodError
from .base import TaskData, require_file
from .generic import Sentence, tagging_task
from .options import TaskOptions

SPLIT_SEED = 1234
_FILEID = re.compile(r"brown/c[a-z]\d\d")


def _universal_map(tagset_zip: Path) -> dict[str, str]:
    with zipfile.ZipFile(tagset_zip) as zf:
        text = zf.read("universal_tagset/en-brown.map").decode("utf-8")
    return dict(line.strip().split("\t") for line in text.splitlines() if line.strip())


def _tagged(token: str, universal: dict[str, str]) -> tuple[str, str]:
    loc = token.rfind("/")
    if loc < 0:
        return token, "X"
    return token[:loc], universal.get(token[loc + 1 :].upper(), "X")


def read_brown(nltk_root: Path, fileids: list[str] | None = None) -> list[Sentence]:
    """All 57,340 tagged sentences in NLTK's file order (or those of ``fileids``, e.g. "ca01")."""
    corpus = require_file(
        nltk_root / "corpora" / "brown.zip",
        "put NLTK's brown.zip there (an NLTK data root); `rnnmod data fetch brown` downloads it",
    )
    tagset = require_file(
        nltk_root / "taggers" / "universal_tagset.zip",
        "put NLTK's universal_tagset.zip there; `rnnmod data fetch brown` downloads it",
    )
    try:
        universal = _universal_map(tagset)
        with zipfile.ZipFile(corpus) as zf:
            names = sorted(n for n in zf.namelist() if _FILEID.fullmatch(n))
            if fileids is not None:
                names = [n for n in names if n.removeprefix("brown/") in fileids]
            sentences = [
                [_tagged(t, universal) for t in line.split()]
                for name in names
                for line in zf.read(name).decode("ascii").splitlines()
                if line.strip()
            ]
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError, ValueError) as e:
        raise RnnmodError(
            f"{nltk_root}: cannot read the Brown corpus from corpora/brown.zip and "
            f"taggers/universal_tagset.zip ({e}); re-run `rnnmod data fetch brown`"
        ) from None
    if not sentences:
        raise RnnmodError(
            f"{corpus}: no tagged sentences (expected files brown/ca01 ... brown/cr09)"
        )
    return sentences


def load_brown(data_dir: Path, **options: object) -> TaskData:
    """Brown POS tagging: 13 classes (``<pad>`` + 12 tags by frequency), 15 steps, 75/25 split;
    ``seq_len``, ``max_vocab``, ``limit`` as for :func:`~.generic.tagging_task`."""
    sentences = read_brown(data_dir / "brown" / "nltk_data")
    return tagging_task(
        "brown",
        sentences,
        TaskOptions.of(options, split_seed=SPLIT_SEED),
        notes=[f"Brown corpus, universal tagset: {len(sentences)} sentences (same data as paper)"],
    )
