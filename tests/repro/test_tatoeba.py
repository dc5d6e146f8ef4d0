"""Translation replace (RQ3 enc–dec row): the faulty model's modules with one language's module
taken from the best model."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from rnnmod.cli import main
from rnnmod_repro import tatoeba_rq3 as R
from tests.translation.test_translate import write_tiny_tatoeba


def _per(**bleu):
    return {x: {"bleu": b, "bleu1_legacy": b / 100} for x, b in bleu.items()}


def test_replace_rows_assemble_per_language_scores():
    scores = {
        "langs": ["fr", "de"],
        "n_test": 20,
        "faulty_monolithic": _per(fr=1.0, de=3.0),
        "faulty_modules": _per(fr=1.5, de=2.5),
        "best_modules": _per(fr=4.0, de=6.0),
    }

    def run(d, p):
        cfg = SimpleNamespace(depth=d)
        return SimpleNamespace(model=SimpleNamespace(cfg=cfg), path=p, model_sha256=lambda: p * 2)

    rows = R.replace_rows("gru", scores, run(2, "f"), run(1, "b"), "rolled")
    by = {r["class"]: r for r in rows}
    assert by["fr"]["composed_bleu"] == pytest.approx((4.0 + 2.5) / 2)
    assert by["de"]["composed_bleu"] == pytest.approx((1.5 + 6.0) / 2)
    assert by["fr"]["delta"] == pytest.approx(3.25 - 2.0)
    assert by["de"]["delta_bleu1_legacy_points"] == pytest.approx(100 * (0.0375 - 0.02))
    assert (
        by["fr"]["replaced_lang_bleu_before"] == 1.5 and by["fr"]["replaced_lang_bleu_after"] == 4.0
    )
    assert (by["fr"]["faulty_depth"], by["fr"]["best_depth"]) == (2, 1)
    assert by["de"]["models"] == {"f": "ff", "b": "bb"}


def _sha(run):
    from rnnmod.storage import sha256_file

    return sha256_file(Path(run) / "model.safetensors")


def test_reproduce_rq3_tatoeba_end_to_end(tmp_path: Path, capsys, monkeypatch):
    write_tiny_tatoeba(tmp_path)
    dd = ["--data-dir", str(tmp_path)]
    runs = tmp_path / "runs"
    for depth in (1, 2):
        train = [
            "--threads",
            "1",
            "train",
            "--task",
            "tatoeba",
            "--cell",
            "gru",
            "--depth",
            str(depth),
        ]
        train += ["--hidden", "8", "--embed-dim", "8", "--epochs", "1", "--quiet"]
        assert main([*train, "--out", str(runs / f"tatoeba-gru{depth}"), *dd]) == 0
    capsys.readouterr()
    args = ["--threads", "1", "reproduce", "rq3", "--tasks", "tatoeba", "--cells", "gru"]
    args += ["--depths", "1,2", "--modes", "rolled", "--runs-dir", str(runs)]
    args += ["--results-dir", str(tmp_path / "results"), "--quiet", "--json", *dd]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert sorted(r["class"] for r in rows) == ["de", "fr", "it"]
    assert {r["faulty_depth"] for r in rows} | {r["best_depth"] for r in rows} == {1, 2}
    for r in rows:
        assert r["delta"] == pytest.approx(r["composed_bleu"] - r["faulty_bleu"])
    md = (tmp_path / "results" / "rq3_tatoeba.md").read_text()
    assert "| gru | rolled | 3 |" in md and "+1.72 / +1.88" in md
    assert all(
        r["models"] == {r["faulty_run"]: _sha(r["faulty_run"]), r["best_run"]: _sha(r["best_run"])}
        for r in rows
    )

    def boom(*a, **k):
        raise AssertionError("a cached family was decomposed again")

    monkeypatch.setattr(R, "decompose_languages", boom)
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == rows


def test_rq1_tatoeba_report_keeps_earlier_invocations_rows(tmp_path, capsys):
    write_tiny_tatoeba(tmp_path)
    base = ["--threads", "1", "reproduce", "rq1", "--tasks", "tatoeba", "--cells", "gru"]
    base += ["--presets", "default", "--modes", "rolled", "--runs-dir", str(tmp_path / "runs")]
    base += ["--results-dir", str(tmp_path / "res"), "--epochs", "1", "--quiet", "--json"]
    base += ["--data-dir", str(tmp_path)]
    for depth in ("1", "2"):
        assert main([*base, "--depths", depth]) == 0
        rows = json.loads(capsys.readouterr().out)["rows"]
        assert {r["depth"] for r in rows} == {int(depth)} and len(rows) == 3
    import csv

    with open(tmp_path / "res" / "rq1_tatoeba.csv", encoding="utf-8") as f:
        got = list(csv.DictReader(f))
    assert sorted({r["depth"] for r in got}) == ["1", "2"] and len(got) == 6


def write_wide_tatoeba(root: Path, lines: int = 300, words: int = 400) -> None:
    """Aligned lines over ``words`` made-up words per language: enough target words (over
    1,001 in all) for the reference recipe's adaptive softmax."""
    import random

    rnd = random.Random(0)
    d = root / "tatoeba" / "main"
    d.mkdir(parents=True)
    rows = [[rnd.randrange(words) for _ in range(rnd.randint(2, 6))] for _ in range(lines)]
    for lang in ("en", "fr", "de", "it"):
        text = "\n".join(" ".join(f"{lang}{i}" for i in r).capitalize() + "." for r in rows)
        (d / f"{lang}_train.txt").write_text(text + "\n", encoding="utf-8")


def test_rq1_tatoeba_reference_recipe_trains_within_its_time_limit(tmp_path, capsys):
    from rnnmod import load_run

    write_wide_tatoeba(tmp_path)
    runs = tmp_path / "runs"
    base = ["--threads", "1", "reproduce", "rq1", "--tasks", "tatoeba", "--cells", "gru"]
    base += ["--depths", "1", "--presets", "default", "--modes", "rolled", "--max-test", "20"]
    base += ["--runs-dir", str(runs), "--results-dir", str(tmp_path / "res"), "--quiet"]
    base += ["--data-dir", str(tmp_path), "--recipe", "reference"]
    assert main([*base, "--time-limit", "1e-6", "--json"]) == 0  # one batch of training
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == 3 and {r["recipe"] for r in rows} == {"reference"}
    run = load_run(runs / "tatoeba-reference-gru1")
    m = run.metrics
    assert m["stopped_by"] == "time limit" and m["time_limit_minutes"] == 1e-6
    assert (m["output_layer"], m["batch_size"], m["length_buckets"]) == ("adaptive", 128, True)
    assert run.config["data_options"]["split"] == "lines"
    md = (tmp_path / "res" / "rq1_tatoeba.md").read_text()
    assert "| reference | gru-1 | default | rolled | en-de |" in md
    assert main([*base, "--time-limit", "2"]) == 2  # the kept run had another limit
    assert "was trained with" in capsys.readouterr().err
    clinc = ["reproduce", "rq1", "--tasks", "clinc", "--recipe", "reference"]
    assert main(clinc) == 2
    assert "--recipe and --time-limit are for the translators" in capsys.readouterr().err
