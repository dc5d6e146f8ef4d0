"""The reproduction report: tables and figures from result CSVs, and a real page in Chromium."""

import csv
import shutil
import subprocess

import pytest

from rnnmod.errors import RnnmodError
from rnnmod_repro.report import build_report


def _csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.fixture()
def results(tmp_path):
    rq1 = [
        {"task": "clinc", "io_type": "M:1", "cell": c, "depth": d, "preset": "default",
         "mode": m, "delta_pp": -0.1 * d, "paper_delta_pp": -0.2, "retained_units": 0.95}
        for c in ("lstm", "gru") for d in (1, 2) for m in ("rolled", "unrolled")
    ]  # fmt: skip
    _csv(tmp_path / "rq1.csv", rq1)
    rq3 = [
        {"type": "intra", "io_type": "M:1", "task": "clinc", "cell": "lstm", "mode": "unrolled",
         "class": f"c{k}", "delta_pp": -0.5 + 0.1 * k, "composed": 0.9, "faulty_composed": 0.89}
        for k in range(4)
    ]  # fmt: skip
    _csv(tmp_path / "rq3.csv", rq3)
    return tmp_path


def test_report_has_tables_paper_columns_and_figures(results):
    md, page = build_report(results)
    text = md.read_text()
    assert "## RQ1 — cost of decomposition (Table II)" in text
    assert "## RQ3 — intra replace (Table IV)" in text
    assert "| M:1 | clinc | lstm | unrolled | — | 4 | -0.35 |" in text  # mean of -0.5..-0.2
    assert "-0.30 | -0.13 |" in text  # the paper's LSTM M:1 intra-replace cell beside ours
    for name in ("rq1_delta.png", "rq1_retained.png", "rq3_gains.png"):
        assert (results / "figures" / name).stat().st_size > 5000
    html = page.read_text()
    assert html.count("<table>") == 2 and html.count('src="data:image/png;base64,') == 3


def test_empty_results_are_refused(tmp_path):
    with pytest.raises(RnnmodError, match="no results yet"):
        build_report(tmp_path)


@pytest.mark.skipif(not shutil.which("chromium"), reason="headless Chromium not installed")
def test_report_renders_in_headless_chromium(results, tmp_path):
    import matplotlib.image as mpimg

    _, page = build_report(results)
    flags = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert dom.count("<table>") == 2 and dom.count("<img") == 3
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    img = mpimg.imread(shot)
    assert img.shape[:2] == (2000, 1200)
    assert img[..., :3].std() > 0.05  # not a blank page: text, tables and plots are drawn


def test_report_has_the_translation_and_scenario_tables(results):
    import json

    base = {"task": "tatoeba", "cell": "lstm", "depth": 1, "preset": "default", "mode": "rolled"}
    _csv(results / "rq1_tatoeba.csv", [
        {**base, "pair": f"en-{x}", "delta": d, "delta_bleu1_legacy_points": 2 * d,
         "paper_delta_bleu1_points": 0.02, "monolithic": m, "recipe": ""}
        for x, d, m in (("fr", 0.3, 2.0), ("de", -0.1, 3.0))
    ] + [
        {**base, "recipe": "reference", "pair": "en-fr", "delta": -0.4, "monolithic": 20.0,
         "delta_bleu1_legacy_points": 1.0, "paper_delta_bleu1_points": 0.02}
    ])  # fmt: skip
    _csv(results / "rq3_tatoeba.csv", [
        {"cell": "gru", "mode": "rolled", "faulty_depth": 2, "best_depth": 1, "class": x,
         "delta": d, "delta_bleu1_legacy_points": d}
        for x, d in (("fr", 0.5), ("de", 0.1), ("it", 0.3))
    ])  # fmt: skip
    row = lambda b1, b: {"bleu1_legacy": b1, "bleu": b}  # noqa: E731
    rows = {"retrained on all languages": row(0.3, 1.0), "composed, solution 1": row(0.31, 0.9),
            "composed, solution 2": row(0.32, 1.1)}  # fmt: skip
    (results / "scenario_fix-language.json").write_text(json.dumps({"rows": rows}))
    text = build_report(results)[0].read_text()
    assert (
        "| paper | lstm-1 | 2.50 | default | rolled | 2 | +0.10 | -0.10 | +0.20 | +0.02 |" in text
    )
    assert "| reference | lstm-1 | 20.00 | default | rolled | 1 | -0.40 | -0.40 | +1.00 |" in text
    assert "| gru | rolled | 2 ← 1 | 3 | +0.30 | +0.30 | +0.30 | +1.72 / +1.88 |" in text
    assert (
        "| fix-language | 30.00 | 31.00 | 32.00 | 1.00 | 0.90 | 1.10 | 20.80 | 20.89 | 21.30 |"
        in text
    )
