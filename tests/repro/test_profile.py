"""``reproduce all``: the stages after the classifier grid (inter, translation, scenarios)."""

from pathlib import Path

from rnnmod_repro import inter, scenarios
from rnnmod_repro import profile as A
from rnnmod_repro import tatoeba_rq1 as rq1
from rnnmod_repro import tatoeba_rq3 as replace


def test_run_extras_runs_every_stage_of_the_profile_in_order(tmp_path: Path, monkeypatch):
    calls = []
    monkeypatch.setattr(inter, "run_inter", lambda rq, o: calls.append(("inter", rq, o)))
    monkeypatch.setattr(rq1, "run_tatoeba_rq1", lambda o: calls.append(("t1", o)))
    monkeypatch.setattr(replace, "run_tatoeba_rq3", lambda o: calls.append(("t3", o)))
    monkeypatch.setattr(scenarios, "run_scenario", lambda o: calls.append(("sc", o)))
    p = A.PROFILES["full"]
    timing = A.run_extras(p, tmp_path / "runs", tmp_path / "res", None, progress=False)
    assert [c[:2] for c in calls[:2]] == [("inter", "reuse"), ("inter", "replace")]
    o = calls[0][2]
    assert o.problems == ["1:1-1:N", "M:1-M:N"] and o.depths == [1] and o.max_combos is None
    assert o.rule == "calibrated" and o.runs_dir == tmp_path / "runs"
    assert calls[2][0] == "t1" and calls[2][1].depths == [1, 2, 3, 4]
    assert calls[3][0] == "t3" and calls[3][1] is calls[2][1]
    assert [c[1].scenario for c in calls[4:]] == ["add-language", "fix-language"]
    assert calls[4][1].runs_dir == tmp_path / "runs" / "scenarios"
    assert set(timing) == {
        "inter reuse", "inter replace", "tatoeba rq1 (incl. training)", "tatoeba rq3",
        "scenario add-language", "scenario fix-language",
    }  # fmt: skip
    calls.clear()
    assert A.run_extras(A.PROFILES["quick"], tmp_path, tmp_path, None, False) == {}
    assert calls == []


def test_run_all_times_every_stage_in_order(tmp_path: Path, monkeypatch):
    calls = []
    for name in ("run_rq1", "run_rq2", "run_rq3"):
        monkeypatch.setattr(A, name, lambda o, name=name: calls.append(name))
    monkeypatch.setattr(A, "run_d1", lambda *a: calls.append(("run_d1", a[0])))
    monkeypatch.setattr(A, "run_extras", lambda *a: calls.append("extras") or {"inter reuse": 1.0})
    from rnnmod_repro import report as build

    monkeypatch.setattr(build, "build_report", lambda r: calls.append("report"))
    timing = A.run_all(A.PROFILES["full"], runs_dir=tmp_path / "runs", results_dir=tmp_path)
    assert calls == ["run_rq1", "run_rq2", "run_rq3", ("run_d1", ["emotions", "brown"]),
                     "extras", "report"]  # fmt: skip
    assert set(timing) == {"rq1 (incl. training)", "rq2", "rq3", "d1", "inter reuse", "total"}
    assert (tmp_path / "all_timing.json").is_file()
