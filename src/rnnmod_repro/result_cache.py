"""The reproduction's result caches: one file per result, named by the sha256 of everything
the result depends on (model hash, configuration hash, test size, …), so a rerun reads what
was computed and a changed input computes anew."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from rnnmod.storage import read_json


def cache_file(cache: Path, key: str, *, prefix: str = "", suffix: str = ".json") -> Path:
    """The cache file of ``key`` in the folder ``cache``."""
    return cache / f"{prefix}{hashlib.sha256(key.encode()).hexdigest()[:20]}{suffix}"


def cached_json(cache: Path, key: str) -> tuple[Path, Any]:
    """(file, its JSON or None when the result was not computed yet)."""
    f = cache_file(cache, key)
    return f, (read_json(f) if f.is_file() else None)
