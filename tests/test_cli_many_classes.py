"""``rnnmod decompose`` and ``evaluate`` on many classes: per-class warnings summarised in at
most five lines (``--verbose`` lists them, ``--json`` and the manifest hold them all,
``--quiet`` silences them), no module for a class without a training example, and sets that
lack such a class still evaluate and compose."""

import json
import random

import pytest

from rnnmod.cli import main

N_CLASSES, RARE = 12, 6


def write_many(path, per_class=8, seed=0):
    """``N_CLASSES`` classes of ``per_class`` texts each (the class word first) and ``RARE``
    classes of one text each."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(30)]
    rows = [(f"k{c}", f"c{c:02d}") for c in range(N_CLASSES) for _ in range(per_class)]
    rows += [(f"k{c}", f"r{c}") for c in range(RARE)]
    with open(path, "w", encoding="utf-8") as f:
        f.write("text,label\n")
        for word, label in rows:
            f.write(" ".join([word, *rng.choices(words, k=rng.randint(3, 8))]) + f",{label}\n")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    f = write_many(root / "many.csv")
    argv = ["train", "--task", "text-classification", "--file", str(f), "--epochs", "1"]
    argv += ["--hidden", "8", "--embed-dim", "5", "--limit", "60", "--out", str(root / "run")]
    assert main([*argv, "--quiet"]) == 0
    return root


def decompose(run, capsys, name, *extra):
    out = run / name
    argv = ["decompose", str(run / "run"), "--out", str(out), "--n-positive", "20"]
    assert main([*argv, "--min-observations", "1", "--overwrite", *extra]) == 0
    got = capsys.readouterr()
    return out, got.out, [x for x in got.err.splitlines() if x.startswith("rnnmod: warning:")]


def test_warnings_are_summarised_and_listed_in_json_and_manifest(run, capsys):
    out, stdout, lines = decompose(run, capsys, "mods", "--json")
    obj = json.loads(stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    assert obj["warnings"] == manifest["warnings"]
    few = [w for w in obj["warnings"] if "positive observations (wanted 20)" in w]
    assert len(few) == obj["n_modules"] > 5  # every class has fewer than 20 positives
    assert 1 <= len(lines) <= 5
    low = min(int(w.split("only ")[1].split()[0]) for w in few)
    without = [w for w in obj["warnings"] if w.endswith("no training example: no module")]
    assert (
        f"rnnmod: warning: {len(few)} of {obj['n_modules'] + len(without)} "
        f"classes have fewer positive observations than asked (min {low}, wanted 20); "
        "--verbose lists them"
    ) in lines


def test_verbose_lists_every_warning_and_quiet_none(run, capsys):
    _, stdout, lines = decompose(run, capsys, "mods-v", "--verbose", "--json")
    assert lines == [f"rnnmod: warning: {w}" for w in json.loads(stdout)["warnings"]]
    assert len(lines) > 5
    _, _, quiet = decompose(run, capsys, "mods-q", "--quiet")
    assert quiet == []


def test_a_class_without_training_example_gets_no_module(run, capsys):
    out, stdout, lines = decompose(run, capsys, "mods-n", "--json")
    obj = json.loads(stdout)
    missing = [w for w in obj["warnings"] if w.endswith("no training example: no module")]
    assert missing  # --limit 60 dropped some of the one-text classes
    manifest = json.loads((out / "manifest.json").read_text())
    labels = [e["label"] for e in manifest["modules"]] if "modules" in manifest else None
    assert obj["n_modules"] == N_CLASSES + RARE - len(missing)
    names = [w.split("'")[1] for w in missing]
    if labels is not None:
        assert not set(names) & set(labels)
    # evaluate and compose work on a set that lacks those classes
    assert main(["evaluate", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_modules"] == obj["n_modules"] and 0 <= res["composed"] <= 1
    argv = ["compose", str(out), "--labels", "c00,c01,c02", "--out", str(run / "comp")]
    assert main([*argv, "--overwrite", "--json"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run / "comp"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_modules"] == 3
    for name in names:
        argv = ["compose", str(out), "--labels", f"c00,{name}", "--out", str(run / "bad")]
        assert main([*argv, "--overwrite"]) != 0
        capsys.readouterr()


def test_evaluate_shows_no_bar_with_json_or_quiet(run, capsys):
    out, _, _ = decompose(run, capsys, "mods-e", "--quiet")
    for flag in ("--json", "--quiet"):
        assert main(["evaluate", str(out), flag]) == 0
        assert "evaluate" not in capsys.readouterr().err
