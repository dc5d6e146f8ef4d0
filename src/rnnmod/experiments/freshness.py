"""Drop cached result rows whose run directory no longer holds the model they were computed on.

Result caches are keyed by model hash, so a retrained run gets new rows; without this filter the
reports would also keep the old model's rows wherever the new run did not recompute every key
(e.g. a smaller ``--max-pairs``) and mix two models in one table.
"""

from __future__ import annotations

from pathlib import Path

from ..storage import sha256_file


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
