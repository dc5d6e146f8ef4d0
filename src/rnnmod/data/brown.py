"""Brown corpus with the 12 universal POS tags (M:N tagging), paper-method §3.5.

Read straight from the NLTK zips under ``<data_dir>/brown/nltk_data`` (no download, no unzip):
``corpora/brown.zip`` and ``taggers/universal_tagset.zip`` (the Brown → universal tag map).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..errors import RnnmodError
from .base import TaskData, require_file
from .generic import Sentence, tagging_task

SPLIT_SEED = 1234


def read_brown(nltk_root: Path) -> list[Sentence]:
    """All 57,340 tagged sentences, universal tagset, via NLTK's own corpus reader."""
    require_file(
        nltk_root / "corpora" / "brown.zip",
        "put NLTK's brown.zip there (an NLTK data root); `rnnmod data fetch brown` downloads it",
    )
    require_file(
        nltk_root / "taggers" / "universal_tagset.zip",
        "put NLTK's universal_tagset.zip there; `rnnmod data fetch brown` downloads it",
    )
    import nltk
    from nltk.corpus.reader import CategorizedTaggedCorpusReader

    nltk_root = nltk_root.resolve()
    # map_tag() loads the tag map through nltk.data, so the root goes first on nltk.data.path
    # while we read (the sentences are materialised inside), and comes off again afterwards.
    nltk.data.path.insert(0, str(nltk_root))
    try:
        root = nltk.data.find("corpora/brown.zip/brown/", paths=[str(nltk_root)])
        reader = CategorizedTaggedCorpusReader(
            root, r"c[a-z]\d\d", cat_file="cats.txt", tagset="brown", encoding="ascii"
        )
        sentences = [list(s) for s in reader.tagged_sents(tagset="universal")]
    except (LookupError, OSError, ValueError, zipfile.BadZipFile) as e:
        lines = [ln.strip() for ln in str(e).splitlines() if any(c.isalpha() for c in ln)]
        first = lines[0] if lines else type(e).__name__
        raise RnnmodError(
            f"{nltk_root}: cannot read the Brown corpus from corpora/brown.zip and "
            f"taggers/universal_tagset.zip ({first}); re-run `rnnmod data fetch brown`"
        ) from None
    finally:
        nltk.data.path.remove(str(nltk_root))
    if not sentences:
        raise RnnmodError(f"{nltk_root / 'corpora' / 'brown.zip'}: no tagged sentences")
    return sentences


def load_brown(
    data_dir: Path,
    *,
    seq_len: int = 15,
    split_seed: int = SPLIT_SEED,
    legacy_vocab: bool = False,
    **_: object,
) -> TaskData:
    """Brown POS tagging: 13 classes (``<pad>`` + 12 tags by frequency), 15 steps, 75/25 split."""
    sentences = read_brown(data_dir / "brown" / "nltk_data")
    return tagging_task(
        "brown",
        sentences,
        seq_len=seq_len,
        split_seed=split_seed,
        legacy_vocab=legacy_vocab,
        notes=[f"Brown corpus, universal tagset: {len(sentences)} sentences (same data as paper)"],
    )
