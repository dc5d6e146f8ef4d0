"""The command line end to end on a small slice of Clinc, and its error contract."""

import json
import subprocess
import sys

import pytest

from rnnmod.cli import main


def rnnmod(*args, data_dir=None):
    extra = ["--data-dir", str(data_dir)] if data_dir else []
    return subprocess.run(
        [sys.executable, "-m", "rnnmod", *args, *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_train_decompose_evaluate_compose_predict(tmp_path, data_dir):
    run, mods, comp = tmp_path / "run", tmp_path / "mods", tmp_path / "comp"
    r = rnnmod(
        "train",
        "--task",
        "clinc",
        "--cell",
        "gru",
        "--epochs",
        "2",
        "--limit",
        "3000",
        "--out",
        str(run),
        "--quiet",
        "--json",
        data_dir=data_dir,
    )
    assert r.returncode == 0, r.stderr
    assert 0 < json.loads(r.stdout)["test_accuracy"] <= 1
    r = rnnmod(
        "decompose",
        str(run),
        "--out",
        str(mods),
        "--mode",
        "unrolled",
        "--quiet",
        "--json",
        data_dir=data_dir,
    )
    assert r.returncode == 0, r.stderr
    r = rnnmod("evaluate", str(mods), "--json", data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    for key in (
        "monolithic",
        "composed",
        "delta_pp",
        "jaccard_legacy",
        "jaccard_mask",
        "retained_units",
        "n_modules",
        "seconds",
    ):
        assert key in res
    assert res["n_modules"] == 10 and 0.9 < res["retained_units"] < 1
    for option in (["--beam", "2"], ["--test-per-lang", "all"]):
        r = rnnmod("evaluate", str(mods), *option, data_dir=data_dir)
        assert r.returncode == 2 and "is for translation models" in r.stderr
    r = rnnmod("compose", str(mods), "--labels", "banking,travel", "--out", str(comp))
    assert r.returncode == 0, r.stderr
    r = rnnmod("predict", str(comp), "book me a flight to rome", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["predictions"][0]["label"] in ("banking", "travel")
    r = rnnmod("decompose", str(run), "--out", str(mods), data_dir=data_dir)
    assert r.returncode == 2 and "already exists" in r.stderr and "Traceback" not in r.stderr


def test_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnmod: error:")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    assert main(["decompose", str(tmp_path / "half"), "--out", str(tmp_path / "o")]) == 2
    assert "not a complete run directory" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_help_explains_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("train", "decompose", "evaluate", "compose", "predict", "reproduce"):
        assert cmd in out


def test_legacy_rule_flag_and_its_old_name_switch_the_headline(monkeypatch):
    """`--legacy-rule` (and the older `--legacy-inter-rule`) hand rq3 the paper's vote."""
    from rnnmod_repro import intra_replace

    seen = []
    monkeypatch.setattr(intra_replace, "run_rq3", lambda opts: seen.append(opts.rule) or [])
    for flag in ([], ["--legacy-rule"], ["--legacy-inter-rule"]):
        assert main(["reproduce", "rq3", "--tasks", "clinc", "--quiet", *flag]) == 0
    assert seen == ["calibrated", "paper", "paper"]


def test_inter_flag_hands_the_shared_options_to_inter(monkeypatch, tmp_path):
    """`reproduce rq2|rq3 --inter` runs the inter experiment with the options intra shares."""
    from rnnmod_repro import inter

    seen = []
    monkeypatch.setattr(inter, "run_inter", lambda kind, opts: seen.append((kind, opts)) or [])
    args = ["--tasks", "clinc", "--cells", "gru", "--max-combos", "5", "--epochs", "3"]
    out = ["--results-dir", str(tmp_path), "--quiet"]
    assert main(["reproduce", "rq3", "--inter", *args, *out, "--legacy-rule"]) == 0
    assert main(["reproduce", "rq2", "--inter", *args, *out]) == 0
    (k3, o3), (k2, o2) = seen
    assert (k3, k2) == ("replace", "reuse")
    assert o3.problems == o2.problems == ["M:1-M:N"]
    assert o3.cells == ["gru"] and o3.max_combos == 5 and o3.epochs == 3
    assert (o3.rule, o2.rule) == ("paper", "calibrated")
    assert o3.results_dir == tmp_path and o3.progress is False
    assert main(["reproduce", "rq2", "--inter", "--tasks", "emotions", *out]) == 2
