"""Reports keep only rows computed on the model a run directory holds now."""

from __future__ import annotations

from rnnmod.storage import sha256_file, write_json
from rnnmod_repro.freshness import current_rows
from rnnmod_repro.reuse_replace_summary import collect_cached


def _run(path, content: bytes):
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.safetensors").write_bytes(content)
    return sha256_file(path / "model.safetensors")


def test_current_rows_drops_rows_of_a_replaced_or_missing_model(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    old = _run(a, b"old weights")
    sha_b = _run(b, b"b weights")
    rows = [
        {"k": 1, "run": str(a), "model_sha256": old},
        {"k": 2, "models": {str(a): old, str(b): sha_b}},
        {"k": 3},  # written before runs were recorded: kept
        {"k": 4, "run": str(tmp_path / "gone"), "model_sha256": old},
    ]
    assert [r["k"] for r in current_rows(rows)] == [1, 2, 3]
    _run(a, b"retrained weights")
    assert [r["k"] for r in current_rows(rows)] == [3]


def test_rq2_report_forgets_pairs_of_a_retrained_model(tmp_path):
    run = tmp_path / "runs" / "clinc-lstm1"
    sha = _run(run, b"v1")
    cache = tmp_path / "results" / "rq2" / "cache"
    base = {"task": "clinc", "cell": "lstm", "depth": 1, "mode": "unrolled", "preset": "default"}
    base |= {"baseline_kind": "scratch", "run": str(run), "model_sha256": sha}
    for i, pair in enumerate([("a", "b"), ("a", "c")]):
        write_json(cache / f"{i}.json", base | {"class_1": pair[0], "class_2": pair[1]})
    assert len(collect_cached(tmp_path / "results", "rq2")) == 2
    new = _run(run, b"v2")  # retrained; only pair (a, b) recomputed
    write_json(cache / "2.json", base | {"class_1": "a", "class_2": "b", "model_sha256": new})
    rows = collect_cached(tmp_path / "results", "rq2")
    assert [(r["class_2"], r["model_sha256"]) for r in rows] == [("b", new)]


def test_result_caches_key_on_the_preset_configuration(monkeypatch, tmp_path):
    from rnnmod.decomposition import config
    from rnnmod_repro.intra_models import RQ23Options
    from rnnmod_repro.intra_reuse import pair_cache_file

    opts = RQ23Options(tasks=["clinc"], cells=["lstm"], depths=[1])
    before = pair_cache_file("sha", "rolled", 0, 1, opts, tmp_path)
    assert config.preset_key("default") != config.preset_key("paper")
    changed = config.preset("default", ratio_rule=1.1)  # e.g. the removal rule changes
    monkeypatch.setattr(config, "preset", lambda name, **kw: changed)
    assert pair_cache_file("sha", "rolled", 0, 1, opts, tmp_path) != before


def test_latest_rows_keeps_the_newest_per_key_in_write_order(tmp_path):
    import os

    from rnnmod_repro.freshness import latest_rows

    folder = tmp_path / "cache"
    write_json(folder / "b.json", [{"k": 1, "v": "old"}, {"k": 2, "v": "x"}])
    write_json(folder / "a.json", {"rows": [{"k": 1, "v": "new"}]})
    os.utime(folder / "b.json", (1, 1))  # b was written first, a later (name order is reversed)
    rows = latest_rows(folder, ("k",), rows_of=lambda g: g if isinstance(g, list) else g["rows"])
    assert sorted((r["k"], r["v"]) for r in rows) == [(1, "new"), (2, "x")]
    other = tmp_path / "other"  # the default: each file a row or a list of rows
    write_json(other / "c.json", {"k": 3})
    write_json(other / "d.json", [{"k": 4}, {"k": 5}])
    assert sorted(r["k"] for r in latest_rows(other, ("k",))) == [3, 4, 5]
    assert latest_rows(tmp_path / "none", ("k",)) == []
