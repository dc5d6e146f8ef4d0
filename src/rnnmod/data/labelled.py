"""Labelled texts given by the user (``evaluate --labelled``, ``compose --calibrate``): a CSV
with a header holding ``text`` and ``label`` columns (one label per text), or ``text`` and
``tags`` (space-separated, one tag per token)."""

from __future__ import annotations

import csv
import io

from ..errors import RnnmodError


def parse_labelled_csv(text: str, where: str) -> tuple[list[str], list[str] | list[list[str]]]:
    """→ (texts, labels) or (texts, tag lists); ``where`` names the file in errors."""
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    cols = set(rows[0]) if rows else set()
    kind = "label" if "label" in cols else "tags"
    if "text" not in cols or not cols & {"label", "tags"}:
        raise RnnmodError(
            f"{where}: expected a CSV with a header holding 'text' and 'label' columns (or 'text' and 'tags')"
        )
    bad = next(
        (i for i, r in enumerate(rows, 2) if not r["text"] or not (r[kind] or "").strip()), None
    )
    if bad is not None:
        raise RnnmodError(f"{where}, line {bad}: empty text or {kind}")
    texts = [r["text"] for r in rows]
    if kind == "tags":
        return texts, [r["tags"].split() for r in rows]
    return texts, [r["label"].strip() for r in rows]
