"""The reproduction grid as tasks: the process pool and Ray give the same tables, a task whose
worker dies is retried, and a rerun after a failure does only the missing work."""

import csv
import shutil
import sys

import pytest

from rnnmod.cli import main
from rnnmod_repro import executors as E
from rnnmod_repro import task_graph as T
from rnnmod_repro import task_kinds as K
from rnnmod_repro import task_profile as P
from rnnmod_repro.profile import Profile

# MathQA (1:1, real data), GRU at depth 1-2, one epoch, 100 test examples, one reuse pair: every
# task kind but d1, six tasks in all.
TINY = Profile(
    ("mathqa",), (1, 2), ("default",), (1,), 1, (), cells=("gru",), epochs=1, max_test=100
)
ALL = {
    "train mathqa-gru1",
    "train mathqa-gru2",
    "rq1 mathqa-gru1 default/rolled",
    "rq1 mathqa-gru2 default/rolled",
    "rq2 mathqa-gru1 pairs 1-1",
    "rq3 mathqa-gru",
}


def _run(root, data_dir, executor="local", **kw):
    return P.run_profile(
        TINY,
        runs_dir=root / "runs",
        results_dir=root / "results",
        data_dir=data_dir,
        executor=executor,
        workers=2,
        progress=False,
        **kw,
    )


def tables(results) -> dict:
    """rq1-rq3 rows without their wall-time columns, in a fixed order."""
    out = {}
    for name in ("rq1", "rq2", "rq3"):
        with open(results / f"{name}.csv", encoding="utf-8") as f:
            rows = [{k: v for k, v in r.items() if "seconds" not in k} for r in csv.DictReader(f)]
        out[name] = sorted(tuple(sorted(r.items())) for r in rows)
    assert out["rq1"] and out["rq2"] and out["rq3"]
    return out


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("local")
    return root, _run(root, data_dir)


def test_plan_has_one_task_per_artifact_and_its_dependencies(tmp_path, data_dir):
    from rnnmod_repro.profile import profile_options

    opts = profile_options(TINY, tmp_path, tmp_path, data_dir, progress=False)
    tasks = {t.name: t for t in T.plan(*opts)}
    assert set(tasks) == ALL  # 1:1: no unrolled row
    assert tasks["rq3 mathqa-gru"].deps == ("train mathqa-gru1", "train mathqa-gru2")
    assert tasks["rq2 mathqa-gru1 pairs 1-1"].params[3] == ((0, 1),)
    full = profile_options(
        Profile(("mathqa",), (1,), ("default",), (1,), None, (), cells=("gru",)),
        tmp_path,
        tmp_path,
        data_dir,
        progress=False,
    )
    chunks = [t for t in T.plan(*full, pairs_per_task=4) if t.kind == "rq2"]
    assert [len(t.params[3]) for t in chunks] == [4, 4, 4, 3]  # 6 classes: 15 pairs
    assert len({t.key() for t in T.plan(*opts)}) == len(ALL)


def test_simulated_wall_time_of_a_graph():
    a = T.Task("train", "a", (), None)
    b = T.Task("train", "b", (), None)
    c = T.Task("rq1", "c", (), None, ("a",))
    secs = {"a": 10.0, "b": 4.0, "c": 3.0}
    assert P.simulate([a, b, c], secs, 1) == 17.0
    assert P.simulate([a, b, c], secs, 2) == 13.0


def test_local_pool_runs_each_task_once_and_a_rerun_nothing(local_grid, data_dir):
    root, timing = local_grid
    assert set(timing["executed"]) == ALL and not timing["failed"]
    again = _run(root, data_dir)
    assert again["executed"] == [] and set(again["cached"]) == ALL
    assert (root / "results" / "report.md").is_file()


def test_ray_gives_the_same_tables_and_retries_a_dead_worker(
    local_grid, tmp_path, data_dir, monkeypatch
):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv(E.KILL_ENV, "train mathqa-gru2")  # its first worker SIGKILLs itself
    ray.init(
        num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="warning"
    )
    try:
        timing = _run(tmp_path, data_dir, "ray", retries=1)
    finally:
        ray.shutdown()
    assert set(timing["executed"]) == ALL
    assert timing["attempts"] == {"train mathqa-gru2": 2}
    assert tables(tmp_path / "results") == tables(local_grid[0] / "results")


def test_a_killed_task_is_reported_and_the_rerun_does_only_the_missing_work(
    local_grid, tmp_path, data_dir, monkeypatch
):
    shutil.copytree(local_grid[0] / "runs", tmp_path / "runs")  # trained: evaluations remain
    monkeypatch.setenv(E.KILL_ENV, "rq1 mathqa-gru1")
    first = _run(tmp_path, data_dir, retries=0, check=False)
    assert "rq1 mathqa-gru1 default/rolled" in first["failed"]
    assert {"train mathqa-gru1", "train mathqa-gru2"} <= set(first["cached"])
    assert first["executed"]  # the rest went on
    missing = set(first["failed"]) | set(first["blocked"])
    assert set(first["executed"]) | set(first["cached"]) | missing == ALL
    monkeypatch.delenv(E.KILL_ENV)
    second = _run(tmp_path, data_dir)
    assert set(second["executed"]) == missing
    assert set(second["cached"]) == ALL - missing
    assert tables(tmp_path / "results") == tables(local_grid[0] / "results")


def test_executor_ray_without_ray_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    argv = ["reproduce", "all", "--executor", "ray", "--runs-dir", str(tmp_path / "r")]
    assert main([*argv, "--results-dir", str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install 'rnnmod[ray]'" in err and len(err.splitlines()) == 1


def test_plan_adds_the_stages_after_the_grid_as_tasks(tmp_path, data_dir):
    from rnnmod_repro.profile import profile_options

    p = Profile(
        ("mathqa", "emotions"), (1,), ("default",), (1,), None, (), cells=("gru",),
        inter=("mathqa",), translation_depths=(1, 2), scenarios=("fix-language",),
    )  # fmt: skip
    opts = profile_options(p, tmp_path, tmp_path, data_dir, progress=False)
    tasks = {t.name: t for t in T.plan(*opts, extras=p)}
    inter = [t for t in tasks.values() if t.kind == "inter"]
    # 6 MathQA classes x 12 emotions labels = 72 combos: 6 chunks of 12, for reuse and replace
    assert len(inter) == 12 and {len(t.params[4]) for t in inter} == {T.COMBOS_PER_TASK}
    first = tasks["inter reuse 1:1-1:N gru1 combos 1-12"]
    assert first.deps == ("train mathqa-gru1", "train emotions-gru1")
    assert sorted({c for t in inter if t.params[0] == "reuse" for c in t.params[4]}) == sorted(
        (a, b) for a in range(6) for b in range(1, 13)
    )
    assert tasks["tatoeba-rq3 gru"].deps == ("tatoeba gru1", "tatoeba gru2")
    assert tasks["scenario fix-language"].params == ("fix-language",)
    assert not [t for t in T.plan(*opts) if t.kind in ("inter", "tatoeba", "scenario")]


def test_extra_tasks_leave_a_marker_keyed_by_their_runs(tmp_path, monkeypatch):
    from rnnmod_repro import inter, scenarios
    from rnnmod_repro.inter_problems import InterOptions

    calls = []
    monkeypatch.setattr(inter, "inter_rows", lambda *a, **k: calls.append((a, k)))

    def scenario(o):
        o.timings["train"] = 1.0  # as the real one does
        calls.append(o.scenario)

    monkeypatch.setattr(scenarios, "run_scenario", scenario)
    for run in ("mathqa-gru1", "emotions-gru1"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "model.safetensors").write_bytes(run.encode())
    opts = InterOptions(["1:1-1:N"], ["gru"], [1], runs_dir=tmp_path, results_dir=tmp_path / "r")
    t = T.Task("inter", "inter x", ("reuse", "1:1-1:N", "gru", 1, ((0, 1), (2, 3))), opts)
    assert not K.is_done(t)
    K.execute(t)
    assert calls[0][1] == {"only": [(0, 1), (2, 3)]} and K.is_done(t)
    (tmp_path / "emotions-gru1" / "model.safetensors").write_bytes(b"retrained")
    assert not K.is_done(t)  # a retrained run: the chunk is redone
    so = scenarios.ScenarioOptions("add-language", results_dir=tmp_path / "r")
    s = T.Task("scenario", "scenario add-language", ("add-language",), so)
    K.execute(s)
    assert calls[-1] == "add-language" and not K.is_done(s)  # its report is missing
    (tmp_path / "r" / "scenario_add-language.json").write_text("{}")
    assert K.is_done(s)


def test_a_pool_broken_before_the_next_submit_is_replaced_not_raised():
    """A worker's death can break the pool before ``wait`` sees its failed future: the next
    submit then goes to a new pool instead of raising BrokenProcessPool out of the run."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    class Broken:
        closed = False

        def submit(self, *a):
            raise BrokenProcessPool("a child process terminated abruptly")

        def shutdown(self, **kw):
            self.closed = True

    class Fresh:
        def submit(self, *a):
            return Future()

    backend = E.LocalBackend.__new__(E.LocalBackend)
    broken, fresh = Broken(), Fresh()
    backend._owner, backend._pool, backend._new_pool = {}, broken, lambda: fresh
    f = backend.submit(object(), 0, False)
    assert broken.closed and backend._pool is fresh and backend._owner[f] is fresh
