"""Where datasets live: ``$RNNMOD_DATA``, else the per-user cache folder."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    env = os.environ.get("RNNMOD_DATA")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rnnmod" / "data"
