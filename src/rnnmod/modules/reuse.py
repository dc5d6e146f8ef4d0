"""Whether an existing module set can stand for a decomposition asked again: same model, same
training data, same configuration and budget, written by this rnnmod (docs/reliability.md)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .. import FORMAT_VERSION, __version__
from ..errors import RnnmodError
from .store import verify_moduleset


def data_sha256(data) -> str:
    """Identity of the training split that decomposition samples from."""
    h = hashlib.sha256()
    for t in (data.x_train, data.y_train):
        h.update(repr((str(t.dtype), tuple(t.shape))).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def reusable(out: Path, run, cfg, data_sha: str, budget: dict | None) -> bool:
    """True when ``out`` is an intact module set of this model, data, configuration and budget."""
    if not (out / "manifest.json").is_file():
        return False
    try:
        man = verify_moduleset(out)
    except RnnmodError:
        return False
    shas = [s.get("model_sha256") for s in man["sources"].values()]
    return (
        man.get("config_hash") == cfg.hash()
        and man.get("data_sha256") == data_sha
        and shas == [run.model_sha256()]
        and man.get("format_version") == FORMAT_VERSION
        and man.get("rnnmod_version") == __version__
        and "composed_from" not in man
        and (man.get("budget") or {}).get("request") == budget
    )
