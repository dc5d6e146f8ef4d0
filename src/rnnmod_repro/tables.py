"""The one writer of the reproduction's result tables: ``<name>.csv`` from rows and a list of
fields, ``<name>.md`` from Markdown tables built out of column specifications (:class:`Col`).
Every report (RQ1, RQ2/RQ3 intra and inter, D1, the retention curve, the translators, the
scenarios and the summary report) formats its tables through here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnmod.storage import write_bytes_atomic, write_csv

MISSING = "—"  # a cell the paper (or a row) has no number for


@dataclass(frozen=True)
class Col:
    """A Markdown column: its heading, the text of a row's cell (a ``str.format`` template over
    the row's keys, or a function of the row) and whether it is right-aligned."""

    head: str
    cell: str | Callable[[Any], object]
    right: bool = False

    def text(self, row: Any) -> str:
        return self.cell.format_map(row) if isinstance(self.cell, str) else str(self.cell(row))


def num(v: object, spec: str = "+.2f") -> str:
    """A number formatted with ``spec``, or the missing-cell mark for None or an empty CSV cell."""
    return MISSING if v is None or v == "" else format(float(v), spec)  # type: ignore[arg-type]


def markdown_table(
    head: Sequence[str], body: Iterable[Sequence[str]], right: Sequence[bool] = ()
) -> list[str]:
    """The lines of a Markdown table (``right``: which columns are right-aligned)."""
    align = list(right) or [False] * len(head)
    lines = ["| " + " | ".join(head) + " |", "|" + "".join("---:|" if r else "---|" for r in align)]
    return lines + ["| " + " | ".join(row) + " |" for row in body]


def table(cols: Sequence[Col], rows: Iterable[Any]) -> list[str]:
    """The lines of a Markdown table with one line per row."""
    body = ([c.text(r) for c in cols] for r in rows)
    return markdown_table([c.head for c in cols], body, [c.right for c in cols])


def group_by(rows: Iterable[dict], keys: Sequence[str]) -> dict[tuple, list[dict]]:
    """Rows grouped by their values of ``keys`` (a missing key groups as None), in first-seen order."""
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    return out


def flat_fields(rows: Iterable[dict], skip: Sequence[str] = ()) -> list[str]:
    """Every key of the rows except nested values (dicts) and ``skip``, sorted: the CSV columns of
    rows whose keys vary (the nested values stay in the JSON caches)."""
    return sorted(
        {k for r in rows for k, v in r.items() if not isinstance(v, dict) and k not in skip}
    )


def write_markdown(path: Path, lines: Iterable[str]) -> None:
    write_bytes_atomic(path, ("\n".join(lines) + "\n").encode())


def write_tables(
    results_dir: Path,
    name: str,
    rows: list[dict],
    fields: list[str] | None,
    markdown: Iterable[str],
    *,
    round_floats: int | None = None,
) -> None:
    """Write ``<name>.csv`` (the rows' ``fields``, floats rounded to ``round_floats`` digits when
    given; ``fields`` None: an empty file) and ``<name>.md`` (the lines ``markdown``)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.csv"
    if fields is None:
        write_bytes_atomic(path, b"")
    else:
        write_csv(path, rows, fields, round_floats=round_floats)
    write_markdown(results_dir / f"{name}.md", markdown)
