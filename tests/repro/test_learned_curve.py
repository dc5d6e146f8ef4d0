"""The learned masks' retention–accuracy curve: both scorings of one run, the summary's
readings, and its place in the report."""

import csv
from types import SimpleNamespace

import pytest

from rnnmod_repro.learned_curve import (
    DEAD,
    FILLED,
    LEARNED_FILL,
    CurveOptions,
    model_curve,
    read_budget_rows,
    summary_rows,
)
from rnnmod_repro.report import build_report
from tests.helpers import fit_tiny, tiny_data, tiny_model


def _curve(cell: str, io_type: str = "M:1", **shape) -> list[dict]:
    data = tiny_data(io_type, n=120)
    model = fit_tiny(tiny_model(cell, io_type=io_type, hidden=16, **shape), data)
    run = SimpleNamespace(task="tiny", model=model)
    return model_curve(run, data, CurveOptions(steps=60, every=20, progress=False))


def test_one_run_scores_every_checkpoint_dead_and_filled():
    rows = _curve("gru")
    dead = [r for r in rows if r["method"] == DEAD]
    filled = [r for r in rows if r["method"] == FILLED]
    assert [r["step"] for r in dead] == [r["step"] for r in filled] == [20, 40, 60]
    for d, f in zip(dead, filled, strict=True):  # the same masks, two ways to run them
        assert d["retained_units"] == f["retained_units"]
        assert d["cost_vs_monolithic"] == f["cost_vs_monolithic"]
        assert d["val_monolithic"] == f["val_monolithic"] and d["monolithic"] == f["monolithic"]
        assert d["delta_pp"] == pytest.approx(100 * (d["composed"] - d["monolithic"]))
    assert dead[-1]["retained_units"] < dead[0]["retained_units"]  # the target keeps falling
    assert any(d["composed"] != f["composed"] for d, f in zip(dead, filled, strict=True))
    learned = [r for r in rows if r["method"] == LEARNED_FILL]  # a run of its own, 60 steps
    assert [r["step"] for r in learned] == [20, 40, 60]
    assert learned[-1]["retained_units"] < learned[0]["retained_units"]


def test_a_tagger_gets_both_curves():
    rows = _curve("lstm", "M:N")
    assert {r["method"] for r in rows} == {DEAD, FILLED, LEARNED_FILL}
    assert all(0 <= r["composed"] <= 1 and 0 < r["monolithic"] <= 1 for r in rows)


def test_a_model_without_a_fill_has_the_dead_curve_only():
    rows = _curve("lstm", bidirectional=True)
    assert {r["method"] for r in rows} == {DEAD}


def _point(method, retained, val, test, **extra):
    return {"task": "clinc", "cell": "gru", "depth": 1, "method": method,
            "retained_units": retained, "weights_retained": retained**2,
            "cost_vs_monolithic": 10 * retained**2, "val_delta_pp": val, "delta_pp": test,
            **extra}  # fmt: skip


def test_the_summary_reads_the_smallest_point_within_one_pp_on_each_split():
    curve = [
        _point(DEAD, 0.5, -0.2, -0.3),
        _point(DEAD, 0.3, -0.9, -1.4),  # within on validation, not on test
        _point(DEAD, 0.2, -1.8, -0.9),  # within on test only
        _point(FILLED, 0.2, -2.0, -2.0),
    ]
    rank = [
        {**_point("rank, fixed fraction", 0.7, None, -0.5)},
        {**_point("rank, fixed fraction", 0.5, None, -2.5)},
        {**_point("paper rule", 0.95, None, 0.04)},
    ]
    got = {(r["method"], r["reading"]): r["point"] for r in summary_rows(curve, rank)}
    assert got[DEAD, "validation"]["retained_units"] == 0.3
    assert got[DEAD, "test"]["retained_units"] == 0.2
    assert got[FILLED, "validation"] is None and got[FILLED, "test"] is None
    assert got["rank, fixed fraction", "test"]["retained_units"] == 0.7
    assert got["paper rule", "—"]["retained_units"] == 0.95


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_the_report_shows_the_curve_beside_the_rank_method(tmp_path):
    _write(tmp_path / "rq1.csv", [{"task": "clinc", "io_type": "M:1", "cell": "gru",
                                   "depth": 1, "preset": "default", "mode": "rolled",
                                   "delta_pp": -0.1, "paper_delta_pp": "",
                                   "retained_units": 0.95}])  # fmt: skip
    budget = [
        {"task": "clinc", "cell": "gru", "depth": 1, "mode": "rolled", "setting": s,
         "retained_units": r, "cost_relative": r * r, "cost_vs_monolithic": 10 * r * r,
         "delta_pp": d}
        for s, r, d in (("rule-5%", 0.95, 0.04), ("fixed", 0.7, -0.5), ("fixed", 0.5, -2.6))
    ]  # fmt: skip
    _write(tmp_path / "budget.csv", budget)
    assert [r["method"] for r in read_budget_rows(tmp_path / "budget.csv")] == [
        "paper rule", "rank, fixed fraction", "rank, fixed fraction"]  # fmt: skip
    curve = [
        _point(m, r, v, t, step=s, val_monolithic=0.93, val_accuracy=0.93, monolithic=0.94,
               composed=0.94)
        for m in (DEAD, FILLED)
        for s, r, v, t in ((50, 0.6, -0.1, -0.2), (100, 0.3, -0.8, -0.9), (150, 0.2, -3.0, -3.1))
    ]  # fmt: skip
    _write(tmp_path / "learned_curve.csv", curve)
    md, page = build_report(tmp_path)
    text = md.read_text()
    assert "## Learned masks: retention–accuracy" in text
    assert (
        "| clinc GRU-1 | learned, linear fill | validation | 30.0% | 9.0% | 0.90 | -0.80 | -0.90 |"
        in text
    )
    assert "| clinc GRU-1 | rank, fixed fraction | test | 70.0% |" in text
    assert (tmp_path / "figures" / "learned_curve.png").stat().st_size > 5000
    assert "learned_curve.png" in text and page.read_text().count("<table>") == 2


@pytest.mark.parametrize("what", ["budget", "learned-curve"])
def test_options_the_curves_do_not_read_are_refused(what, capsys):
    from rnnmod.cli import main

    assert main(["reproduce", what, "--modes", "unrolled", "--max-test", "50"]) == 2
    err = capsys.readouterr().err
    assert f"--modes, --max-test do not apply to reproduce {what} (it reads --tasks," in err
    assert main(["reproduce", what, "--tasks", "clinc,mathqa"]) == 2
    assert "takes one task" in capsys.readouterr().err


def test_the_report_refuses_what_it_does_not_read(tmp_path, capsys):
    from rnnmod.cli import main

    assert main(["reproduce", "report", "--results-dir", str(tmp_path), "--cells", "gru"]) == 2
    assert "--cells does not apply to reproduce report (it reads --results-dir)" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "argv,refused",
    [
        (["rq2", "--legacy-rule"], "--legacy-rule does not apply to reproduce rq2"),
        (["rq2", "--inter", "--max-pairs", "3"], "--max-pairs does not apply to reproduce rq2"),
        (["all", "--tasks", "clinc", "--epochs", "2"], "--tasks, --epochs do not apply"),
        (["d1", "--modes", "rolled"], "--modes does not apply to reproduce d1"),
        (["rq1", "--calibrate-on", "train"], "--calibrate-on does not apply to reproduce rq1"),
    ],
)
def test_every_subcommand_refuses_what_it_would_ignore(argv, refused, capsys):
    from rnnmod.cli import main

    assert main(["reproduce", *argv]) == 2
    assert refused in capsys.readouterr().err
