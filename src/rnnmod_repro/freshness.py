"""Drop cached result rows whose run directory no longer holds the model they were computed on.

Result caches are keyed by model hash, so a retrained run gets new rows; without this filter the
reports would also keep the old model's rows wherever the new run did not recompute every key
(e.g. a smaller ``--max-pairs``) and mix two models in one table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rnnmod.storage import read_json, sha256_file


def row_models(row: dict) -> dict[str, str]:
    """The (run directory → model sha256) pairs a row was computed on: ``models`` (several
    runs, e.g. an RQ3 family) or ``run`` + ``model_sha256``; rows written before runs were
    recorded name none and are kept."""
    if isinstance(row.get("models"), dict):
        return dict(row["models"])
    if row.get("run") and row.get("model_sha256"):
        return {str(row["run"]): str(row["model_sha256"])}
    return {}


def current_rows(rows: list[dict]) -> list[dict]:
    """Rows whose every run still holds the model of the recorded hash (each model hashed once)."""
    now: dict[str, str | None] = {}
    kept = []
    for r in rows:
        models = row_models(r)
        for run in models:
            if run not in now:
                f = Path(run) / "model.safetensors"
                now[run] = sha256_file(f) if f.is_file() else None
        if all(now[run] == sha for run, sha in models.items()):
            kept.append(r)
    return kept


def _as_rows(got: object) -> list[dict]:
    return got if isinstance(got, list) else [got]  # type: ignore[list-item]


def latest_rows(
    folder: Path, key: tuple[str, ...], rows_of: Callable[[object], list[dict]] = _as_rows
) -> list[dict]:
    """The result rows cached as JSON files in ``folder`` (each file a row or a list of rows, or
    what ``rows_of`` takes out of it): the newest per ``key`` — files read in the order they were
    written — minus rows whose run now holds another model, so a report covers every invocation
    so far and only current models."""
    rows: dict[tuple, dict] = {}
    for f in sorted(Path(folder).glob("*.json"), key=lambda f: f.stat().st_mtime):
        for r in rows_of(read_json(f)):
            rows[tuple(r.get(k) for k in key)] = r
    return current_rows(list(rows.values()))
