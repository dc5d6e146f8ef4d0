"""Session-wide loads of the larger shared datasets, so each is parsed once per test run."""

import pytest

from rnnmod.data import load_task


@pytest.fixture(scope="session")
def clinc_default(data_dir):
    return load_task("clinc", data_dir)


@pytest.fixture(scope="session")
def clinc_legacy(data_dir):
    return load_task("clinc", data_dir, legacy_vocab=True)


@pytest.fixture(scope="session")
def brown(data_dir):
    return load_task("brown", data_dir)
