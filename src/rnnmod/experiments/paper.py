"""The paper's published tables (package data, transcribed in ../shared/data/paper)."""

from __future__ import annotations

import csv
from importlib import resources

FAMILY = {"lstm": "LSTM", "gru": "GRU", "rnn": "Van"}
RAW_FAMILY = {"lstm": "LSTM", "gru": "GRU", "rnn": "Vanilla"}
IO_NAME = {"1:1": "One-to-One", "M:1": "Many-to-One", "1:N": "One-to-Many", "M:N": "Many-to-Many"}


def _rows(name: str) -> list[dict]:
    with resources.files("rnnmod.paper_data").joinpath(name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _num(s: str) -> float | None:
    try:
        return float(s.replace("+", ""))
    except (ValueError, AttributeError):
        return None


def table2_delta(io_type: str, mode: str, cell: str, depth: int) -> float | None:
    """Table II Δ (pp) for a model, or None (ReLU, N/A cells)."""
    if cell not in FAMILY:
        return None
    col = f"{FAMILY[cell]}-{depth}"
    for r in _rows("table2_decomposition_cost.csv"):
        if r["I/O"] == io_type and r["Mode"].lower() == mode:
            return _num(r.get(col, ""))
    return None


def table2_delta_row(dataset: str, mode: str, cell: str, depth: int) -> float | None:
    """Table II Δ of a row named by its dataset (e.g. ``Tatoeba EN-FR``), or None."""
    if cell not in FAMILY:
        return None
    for r in _rows("table2_decomposition_cost.csv"):
        if r["Dataset"] == dataset and r["Mode"].lower() == mode:
            return _num(r.get(f"{FAMILY[cell]}-{depth}", ""))
    return None


def raw_rq1(io_type: str, cell: str, depth: int) -> dict | None:
    """Paper's raw MMA / CMA / JI for a model (hidden-state strategy)."""
    if cell not in RAW_FAMILY:
        return None
    prefix = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[cell]
    for r in _rows("rq1_raw_hidden_state.csv"):
        if (
            r["Family"] == RAW_FAMILY[cell]
            and r["I/O"] == IO_NAME.get(io_type)
            and r["Model"] == f"{prefix}-{depth}"
        ):
            return {k: _num(v) for k, v in r.items() if k not in ("Family", "I/O", "Model")}
    return None
