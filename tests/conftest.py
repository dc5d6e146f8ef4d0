import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = Path(os.environ.get("RNNMOD_DATA") or SHARED)
    if not d.is_dir():
        pytest.skip("shared datasets not available")
    return d
