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


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory: pytest.TempPathFactory):
    """Every test session gets its own tokenised-data cache (never the user's), shared by the
    session's tests and the processes they start."""
    os.environ["RNNMOD_CACHE"] = str(tmp_path_factory.mktemp("rnnmod-cache"))
    os.environ.pop("RNNMOD_NO_CACHE", None)
    yield
