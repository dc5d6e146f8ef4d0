"""The paper's published tables (package data under ``paper_data/``, transcribed from the paper)
and the lookups that put its cells beside ours."""

from __future__ import annotations

import csv
from importlib import resources

FAMILY = {"lstm": "LSTM", "gru": "GRU", "rnn": "Van"}
RAW_FAMILY = {"lstm": "LSTM", "gru": "GRU", "rnn": "Vanilla"}
IO_NAME = {"1:1": "One-to-One", "M:1": "Many-to-One", "1:N": "One-to-Many", "M:N": "Many-to-Many"}
# the paper's Table IV enc-dec replace cells (BLEU, mean / median), §13.4
TATOEBA_REPLACE = {"lstm": (0.30, 0.16), "gru": (1.72, 1.88), "rnn": (0.92, 0.96)}


def paper_rows(name: str) -> list[dict]:
    """The rows of one table of ``paper_data`` (e.g. ``table3_reuse.csv``)."""
    with (resources.files("rnnmod_repro") / "paper_data" / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def paper_number(s: str) -> float | None:
    """A table cell as a number (``+0.52`` → 0.52), None where the paper has none."""
    try:
        return float(s.replace("+", ""))
    except (ValueError, AttributeError):
        return None


def table2_delta(io_type: str, mode: str, cell: str, depth: int) -> float | None:
    """Table II Δ (pp) for a model, or None (ReLU, N/A cells)."""
    if cell not in FAMILY:
        return None
    col = f"{FAMILY[cell]}-{depth}"
    for r in paper_rows("table2_decomposition_cost.csv"):
        if r["I/O"] == io_type and r["Mode"].lower() == mode:
            return paper_number(r.get(col, ""))
    return None


def table2_delta_row(dataset: str, mode: str, cell: str, depth: int) -> float | None:
    """Table II Δ of a row named by its dataset (e.g. ``Tatoeba EN-FR``), or None."""
    if cell not in FAMILY:
        return None
    for r in paper_rows("table2_decomposition_cost.csv"):
        if r["Dataset"] == dataset and r["Mode"].lower() == mode:
            return paper_number(r.get(f"{FAMILY[cell]}-{depth}", ""))
    return None


def raw_rq1(io_type: str, cell: str, depth: int) -> dict | None:
    """Paper's raw MMA / CMA / JI for a model (hidden-state strategy)."""
    if cell not in RAW_FAMILY:
        return None
    prefix = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[cell]
    for r in paper_rows("rq1_raw_hidden_state.csv"):
        if (
            r["Family"] == RAW_FAMILY[cell]
            and r["I/O"] == IO_NAME.get(io_type)
            and r["Model"] == f"{prefix}-{depth}"
        ):
            return {k: paper_number(v) for k, v in r.items() if k not in ("Family", "I/O", "Model")}
    return None


def paper_cell(table: str, io_type: str, cell: str) -> tuple[float | None, float | None]:
    """The (mean, median) of Table III (``table3_reuse.csv``) or IV (``table4_replace.csv``) for
    an I/O type and cell; "1:1-1:N"-style types are the Inter rows."""
    if cell not in FAMILY:
        return None, None
    kind = "Inter" if "-" in io_type else "Intra"
    for r in paper_rows(table):
        if r["Type"] == kind and r["I/O"] == io_type:
            mean, median = (r[f"{FAMILY[cell]} {stat}"] for stat in ("mean", "median"))
            return paper_number(mean), paper_number(median)
    return None, None
