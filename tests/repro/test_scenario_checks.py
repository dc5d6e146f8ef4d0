"""The scenarios' promises: each BLEU difference with its paired-bootstrap interval."""

import pytest

from rnnmod_repro.scenarios import SCENARIOS, render_checks, scenario_checks

REFS = ["the cat sleeps here", "a dog runs fast", "we see the house", "he is very happy"] * 5


def row(bleus: dict, wrong: dict) -> dict:
    """A report row: per language a BLEU and translations that miss ``wrong[lang]`` sentences."""
    per = {}
    for lang, b in bleus.items():
        hyps = [("x y z" if i < wrong.get(lang, 0) else r) for i, r in enumerate(REFS)]
        per[lang] = {"bleu": b, "hypotheses": hyps, "references": list(REFS), "tokenizer": "keras"}
    return {"per_language": per}


def test_add_language_promises():
    langs = {"fr": 20.0, "de": 20.0, "it": 20.0}
    rows = {
        "original (monolithic)": row(langs, {}),
        "composed, solution 1": row({**langs, "de": 19.0, "ua": 18.0}, {"de": 2, "ua": 2}),
        "composed, solution 2": row({**langs, "ua": 17.0}, {"ua": 3}),
        "solution 1 model (monolithic)": row({"de": 20.0, "ua": 20.0}, {}),
        "solution 2 model (monolithic)": row({"ua": 20.0}, {}),
    }
    checks = {(c["solution"], c["language"]): c for c in
              scenario_checks(SCENARIOS["add-language"], rows)}  # fmt: skip
    assert set(checks) == {(k, x) for k in (1, 2) for x in ("fr", "de", "it", "ua")}
    assert checks[(1, "de")]["delta"] == -1.0 and not checks[(1, "de")]["holds"]
    assert checks[(1, "de")]["ci95"][0] < 0  # two of 20 sentences lost: the interval says so
    assert checks[(1, "fr")]["holds"] and checks[(1, "fr")]["ci95"] == [0.0, 0.0]
    assert checks[(1, "ua")]["share"] == pytest.approx(0.9) and checks[(1, "ua")]["holds"]
    assert checks[(2, "ua")]["share"] == pytest.approx(0.85) and not checks[(2, "ua")]["holds"]
    assert checks[(2, "ua")]["against"] == "solution 2 model (monolithic)"
    table = "\n".join(render_checks(list(checks.values())))
    assert "| **no** |" in table and "(85%)" in table
