"""``rnnmod evaluate --json`` reports macro-F1 beside accuracy, and entity-level precision,
recall and F1 (seqeval) for IOB-tagged data, for the monolithic and the composed model."""

import json
import random

from rnnmod.cli import main

PEOPLE, PLACES, OTHER = ["ann", "bob", "cy"], ["paris", "rome"], ["met", "in", "the", "a", "saw"]


def write_iob(path, n=80, seed=0):
    """Sentences of plain words, one- or two-token people (B-PER I-PER) and places (B-LOC)."""
    rng = random.Random(seed)
    lines = ["-DOCSTART- O", ""]
    for _ in range(n):
        for _ in range(rng.randint(3, 7)):
            r = rng.random()
            if r < 0.2:
                lines.append(f"{rng.choice(PEOPLE)} B-PER")
                if rng.random() < 0.5:
                    lines.append("smith I-PER")
            elif r < 0.35:
                lines.append(f"{rng.choice(PLACES)} B-LOC")
            else:
                lines.append(f"{rng.choice(OTHER)} O")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def evaluate_json(capsys, mods):
    assert main(["evaluate", str(mods), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_iob_tagger_gets_entity_scores_and_macro_f1(tmp_path, capsys):
    f = write_iob(tmp_path / "ner.conll")
    argv = ["train", "--task", "tagging", "--file", str(f), "--epochs", "3", "--hidden", "12"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    dec = ["decompose", str(tmp_path / "run"), "--out", str(tmp_path / "mods")]
    assert main([*dec, "--n-positive", "20", "--min-observations", "1", "--quiet"]) == 0
    capsys.readouterr()
    res = evaluate_json(capsys, tmp_path / "mods")
    for name in ("monolithic", "composed"):
        assert 0 <= res[f"macro_f1_{name}"] <= 1
        ent = res[f"entity_{name}"]
        assert set(ent) == {"precision", "recall", "f1"}
        assert all(0 <= v <= 1 for v in ent.values())
    # the composed set of a subset of tags is scored on its classes: no entity scores
    comp = ["compose", str(tmp_path / "mods"), "--labels", "O,B-PER", "--out"]
    assert main([*comp, str(tmp_path / "comp")]) == 0
    capsys.readouterr()
    sub = evaluate_json(capsys, tmp_path / "comp")
    assert "entity_composed" not in sub and "macro_f1_composed" in sub


def test_classifier_gets_macro_f1_but_no_entity_scores(tmp_path, capsys):
    from tests.data.test_user_data import write_csv

    f = write_csv(tmp_path / "u.csv")
    argv = ["train", "--task", "text-classification", "--file", str(f), "--epochs", "1"]
    assert main([*argv, "--hidden", "8", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    dec = ["decompose", str(tmp_path / "run"), "--out", str(tmp_path / "mods")]
    assert main([*dec, "--n-positive", "8", "--min-observations", "1", "--quiet"]) == 0
    capsys.readouterr()
    res = evaluate_json(capsys, tmp_path / "mods")
    assert 0 <= res["macro_f1_monolithic"] <= 1 and 0 <= res["macro_f1_composed"] <= 1
    assert "entity_composed" not in res
