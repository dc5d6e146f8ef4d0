"""Crash safety, resume and concurrency with real ``python -m rnnmod`` processes.

The test-only hook ``RNNMOD_TEST_WRITE_DELAY`` makes every atomic file write pause afterwards,
so a process can be SIGKILLed while it is half-way through writing an artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnnmod.cli import main
from rnnmod.locking import lock_path, output_lock
from rnnmod.modules.store import load_moduleset
from rnnmod.storage import fresh_dir, publish_dir, recover_dir, write_json
from tests.reliability.util import DECOMPOSE_ARGS, rnnmod, spawn

SLOW = "30"  # seconds slept after each write: the process is killed long before


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(root.rglob("*"))
        if f.is_file()
    }


def wait_for(pred, proc, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process ended early ({proc.returncode}): {err}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("timed out waiting for the process to start writing")


def kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()


def module_files_in(tmp: Path):
    return lambda: any(not f.name.startswith(".") for f in (tmp / "modules").glob("*.safetensors"))


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in this process (a second process next to the spawned ones)."""
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_killed_decompose_leaves_nothing_then_reruns_and_reuses(tc_run, tmp_path, capsys):
    out = tmp_path / "mods"
    args = ["decompose", str(tc_run), "--out", str(out), "--quiet", *DECOMPOSE_ARGS]
    # 1. a real process killed while writing its first module: no output, only hidden leftovers
    proc = spawn(*args, RNNMOD_TEST_WRITE_DELAY=SLOW)
    wait_for(module_files_in(tmp_path / ".mods.tmp"), proc)
    # 2. meanwhile a second decompose of the same --out (this process) is refused: the lock
    rc, _, err = cli(capsys, *args)
    assert rc == 2 and err.count("\n") == 1, err
    assert (
        f"is in use by another rnnmod process (pid {proc.pid}, rnnmod decompose); wait for it"
        in err
    )
    kill(proc)
    assert not out.exists()
    # 3. a rerun cleans up, takes over the dead process's lock and completes
    rc, stdout, err = cli(capsys, *args, "--json")
    assert rc == 0, err
    assert json.loads(stdout)["reused"] is False
    assert load_moduleset(out).labels == ["banking", "cooking", "music", "travel"]
    assert not (tmp_path / ".mods.tmp").exists() and not lock_path(out).exists()
    before = tree_digest(out)
    mtimes = {f: f.stat().st_mtime_ns for f in out.rglob("*")}
    # 4. the same command again, in a fresh process, reuses the finished module set
    r = rnnmod(*args, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"out": str(out), "reused": True}
    assert tree_digest(out) == before
    assert {f: f.stat().st_mtime_ns for f in out.rglob("*")} == mtimes
    # 5. a replacement (--overwrite, another config) killed mid-write keeps the old set intact
    proc = spawn(*args, "--overwrite", "--max-remove", "0.1", RNNMOD_TEST_WRITE_DELAY=SLOW)
    wait_for(module_files_in(tmp_path / ".mods.tmp"), proc)
    kill(proc)
    assert tree_digest(out) == before
    load_moduleset(out)
    # 6. another config without --overwrite: the existing set is neither reused nor replaced
    rc, _, err = cli(capsys, *args, "--max-remove", "0.1")
    assert rc == 2 and "already exists; pass --overwrite" in err
    assert tree_digest(out) == before


def test_kill_between_publish_renames_keeps_the_old_version(tmp_path):
    """publish_dir renames out → .out.old, then .out.tmp → out: a kill in between leaves the
    complete old version at .out.old, which the next writer puts back before anything else."""
    out = tmp_path / "art"
    tmp = fresh_dir(out, overwrite=False)
    write_json(tmp / "a.json", {"v": 1})
    publish_dir(tmp, out)
    old = tmp_path / ".art.old"
    out.rename(old)  # the state right after the first rename of a replacement
    assert recover_dir(out)
    assert json.loads((out / "a.json").read_text()) == {"v": 1} and not old.exists()
    out.rename(old)
    tmp = fresh_dir(out, overwrite=True)  # the next writer recovers it first
    assert (out / "a.json").is_file()
    write_json(tmp / "a.json", {"v": 2})
    publish_dir(tmp, out)
    assert json.loads((out / "a.json").read_text()) == {"v": 2} and not old.exists()


def test_stale_lock_of_a_dead_process_is_recovered(tc_run, tmp_path):
    out = tmp_path / "mods"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_path(out).write_text(json.dumps({"pid": dead.pid, "command": "rnnmod decompose"}))
    with output_lock(out, "test"):  # the stale file does not block
        assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()
    assert not lock_path(out).exists()


@pytest.fixture(scope="module")
def mathqa_run(tmp_path_factory, data_dir):
    """A tiny untrained run of the real mathqa task planted where ``reproduce rq1`` looks, so
    that the reproduction skips training and only decomposes and evaluates."""
    from rnnmod.data import load_task
    from rnnmod.nn.zoo import build_classifier
    from rnnmod.runs import save_run

    if not (data_dir / "mathqa" / "test.json").is_file():
        pytest.skip("mathqa data not available")
    import torch

    data = load_task("mathqa", data_dir)
    torch.manual_seed(0)
    model = build_classifier(
        io_type="1:1",
        cell="rnn",
        depth=1,
        vocab_size=data.vocab.size,
        embed_dim=4,
        hidden=8,
        n_classes=data.n_classes,
        seq_len=data.x_train.shape[1],
    )
    runs = tmp_path_factory.mktemp("rq1") / "runs"
    cfg = {"task": "mathqa", "io_type": "1:1", "cell": "rnn", "depth": 1, "seed": 0}
    cfg.update(pad_label=None, data_options={}, limit=None)
    save_run(runs / "mathqa-rnn1", model, cfg, data.vocab, data.label_names, {})
    return runs


def test_killed_reproduce_resumes_from_its_cache(mathqa_run, data_dir, tmp_path, capsys):
    results = tmp_path / "results"
    args = ["reproduce", "rq1", "--tasks", "mathqa", "--cells", "rnn", "--depths", "1"]
    args += ["--modes", "rolled", "--presets", "default,paper", "--max-test", "100"]
    args += ["--runs-dir", str(mathqa_run), "--results-dir", str(results), "--quiet"]
    args += ["--data-dir", str(data_dir)]
    cache = results / "rq1" / "cache"
    proc = spawn(*args, RNNMOD_TEST_WRITE_DELAY=SLOW)
    wait_for(lambda: any(cache.glob("[!.]*.json")), proc)
    kill(proc)
    (first,) = cache.glob("[!.]*.json")
    digest, mtime = hashlib.sha256(first.read_bytes()).hexdigest(), first.stat().st_mtime_ns
    assert not (results / "rq1.csv").exists()  # reports are written only at the end
    rc, stdout, err = cli(capsys, *args, "--json")
    assert rc == 0, err
    assert len(json.loads(stdout)["rows"]) == 2
    assert len(list(cache.glob("[!.]*.json"))) == 2
    # the finished result was reused, not recomputed
    assert first.stat().st_mtime_ns == mtime
    assert hashlib.sha256(first.read_bytes()).hexdigest() == digest
    assert (results / "rq1.csv").read_text().count("\n") == 3


def test_library_writers_take_the_lock_too(tc_run, tmp_path):
    """save_run / save_moduleset (train, compose, reproduce) refuse an output another process
    is writing; inside one process the lock is re-entrant (decompose holds it around saving)."""
    from rnnmod.errors import RnnmodError
    from rnnmod.runs import load_run, save_run

    run = load_run(tc_run)
    out = tmp_path / "copy"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)],
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src")),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RnnmodError, match=r"copy is in use by another rnnmod process"):
            save_run(out, run.model, run.config, run.vocab, run.label_names, {})
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with output_lock(out, "outer"):
        save_run(out, run.model, run.config, run.vocab, run.label_names, {})
        assert lock_path(out).exists()
    assert not lock_path(out).exists()
    load_run(out)


HOLD = """
import sys, time
from rnnmod.locking import output_lock
with output_lock(sys.argv[1], "holder"):
    print("held", flush=True)
    time.sleep(60)
"""
