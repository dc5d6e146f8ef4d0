"""The tokenised-data cache (rnnmod.data.cache): served only for the same inputs, never when a
file or an option changed, rebuilt when damaged, bypassed on request, safe for two writers."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
import torch

from rnnmod.data import load_task
from rnnmod.data import tasks as task_module


def same(a, b) -> bool:
    tensors = ("x_train", "y_train", "x_test", "y_test")
    return (
        all(torch.equal(getattr(a, t), getattr(b, t)) for t in tensors)
        and a.vocab.to_dict() == b.vocab.to_dict()
        and (a.label_names, a.notes, a.extra, a.pad_label, a.out_steps, a.io_type)
        == (b.label_names, b.notes, b.extra, b.pad_label, b.out_steps, b.io_type)
    )


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("RNNMOD_CACHE", str(root))
    monkeypatch.delenv("RNNMOD_NO_CACHE", raising=False)
    return root


def write_csv(path: Path, extra_row: str = "") -> Path:
    rows = ["text,label"] + [f"word{i % 7} thing{i % 3},{'ab'[i % 2]}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n" + extra_row, encoding="utf-8")
    return path


def loader_must_not_run(monkeypatch: pytest.MonkeyPatch, task: str) -> None:
    def boom(*a, **k):
        raise AssertionError("served from the files, not from the cache")

    monkeypatch.setitem(task_module.LOADERS, task, boom)


@pytest.mark.parametrize("task", ["mathqa", "emotions"])
def test_a_cached_task_equals_the_one_built_from_its_files(task, data_dir, cache, monkeypatch):
    monkeypatch.setenv("RNNMOD_NO_CACHE", "1")
    fresh = load_task(task, data_dir)
    assert not cache.exists()  # bypassed: nothing written
    monkeypatch.delenv("RNNMOD_NO_CACHE")
    first = load_task(task, data_dir)
    loader_must_not_run(monkeypatch, task)
    again = load_task(task, data_dir)
    assert same(fresh, first) and same(fresh, again)


def test_a_changed_file_or_option_is_never_served_from_the_cache(tmp_path, cache, monkeypatch):
    f = write_csv(tmp_path / "d.csv")
    before = load_task("text-classification", None, file=str(f))
    write_csv(f, extra_row="word1 new,b\n")
    after = load_task("text-classification", None, file=str(f))
    assert len(after.x_train) + len(after.x_test) == len(before.x_train) + len(before.x_test) + 1
    other = load_task("text-classification", None, file=str(f), test_frac=0.5)
    assert len(other.x_test) != len(after.x_test)
    assert len(list(cache.glob("*.json"))) == 3


def test_a_damaged_entry_is_reported_rebuilt_and_never_trusted(tmp_path, cache, capsys):
    f = write_csv(tmp_path / "d.csv")
    fresh = load_task("text-classification", None, file=str(f))
    (body,) = cache.glob("*.safetensors")
    raw = bytearray(body.read_bytes())
    raw[-1] ^= 0xFF  # one bit of the last id flipped
    body.write_bytes(bytes(raw))
    again = load_task("text-classification", None, file=str(f))
    err = capsys.readouterr().err
    assert same(fresh, again)
    assert err.count("\n") == 1 and "is damaged" in err and "rebuilding" in err
    load_task("text-classification", None, file=str(f))
    assert capsys.readouterr().err == ""  # rebuilt intact


def _load(args: tuple[str, str]) -> list[int]:
    import os

    os.environ["RNNMOD_CACHE"] = args[1]
    d = load_task("text-classification", None, file=args[0])
    return d.x_train.flatten().tolist()


def test_two_writers_of_one_entry_both_get_it_right(tmp_path, cache):
    f = write_csv(tmp_path / "d.csv")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        a, b = pool.map(_load, [(str(f), str(cache))] * 2)
    assert a == b == _load((str(f), str(cache)))
    assert len(list(cache.glob("*.json"))) == 1
