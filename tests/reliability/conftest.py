"""Fixtures of the reliability tests and the bounded Hypothesis profile."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.reliability.util import DECOMPOSE_ARGS, make_run, write_csv

# Bounded, reproducible fuzzing: a fixed number of examples from a fixed seed, no example
# database written into the repository, and a deadline generous enough for a shared machine.
settings.register_profile(
    "rnnmod",
    max_examples=60,
    deadline=5000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# a longer, random session on demand: RNNMOD_FUZZ=long pytest tests/reliability/test_fuzz.py
settings.register_profile(
    "long",
    max_examples=2000,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile("long" if os.environ.get("RNNMOD_FUZZ") == "long" else "rnnmod")


@pytest.fixture(scope="session")
def tc_csv(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("csv") / "intents.csv")


@pytest.fixture(scope="session")
def tc_run(tmp_path_factory, tc_csv) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "run", tc_csv)


@pytest.fixture(scope="session")
def tc_mods(tmp_path_factory, tc_run) -> Path:
    """A module set made by the CLI in-process (unrolled: masks per step)."""
    from rnnmod.cli import main

    out = tmp_path_factory.mktemp("mods") / "mods"
    args = ["decompose", str(tc_run), "--out", str(out), "--mode", "unrolled", "--quiet"]
    assert main(args + DECOMPOSE_ARGS) == 0
    return out


@pytest.fixture()
def run_dir(tmp_path, tc_run) -> Path:
    """A private copy of the tiny run, free to damage."""
    return Path(shutil.copytree(tc_run, tmp_path / "run"))


@pytest.fixture()
def mods_dir(tmp_path, tc_mods) -> Path:
    """A private copy of the tiny module set, free to damage."""
    return Path(shutil.copytree(tc_mods, tmp_path / "mods"))
