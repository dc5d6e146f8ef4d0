"""The authors' rolled many-output evaluation defect D1, reproduced (paper-method §0.1, §14 D1).

Their rolled 1:N / M:N evaluators ran every module with its embedding and recurrent weights left
at zero (`initModularLayers` without `repopulateModularWeights`). With zero weights every hidden
state is exactly 0 for LSTM, GRU and tanh RNN alike, so a module's channelled head outputs its
bias alone: one constant score per module, one constant class for every position. The composed
"accuracy" is then the share of that class among all positions — the −15 % … −95 % rolled rows of
the paper's Table II. This module computes that constant prediction for our models, so the
defect's numbers can be shown beside the correct rolled evaluation.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rnnmod import Run, load_run, load_task
from rnnmod.data.base import TaskData
from rnnmod.decomposition.channel import channel_heads
from rnnmod.metrics.accuracy import accuracy
from rnnmod.modules.module import positive_probability
from rnnmod.nn.zoo import predict_logits

from .rq1_cost import run_dir
from .tables import Col, table, write_tables


@torch.no_grad()
def d1_constant_prediction(run: Run, data: TaskData) -> dict:
    """The class the defective evaluator predicts everywhere and the accuracies it reports."""
    model = run.model
    _, hb = channel_heads(model.head.weight, model.head.bias)  # paper channel, all C modules
    scores = positive_probability(hb, "binary", model.cfg.n_classes)  # zero features → bias only
    winner = int(scores.argmax())
    y = data.y_test
    mono = predict_logits(model, data.x_test).argmax(-1)
    const = torch.full_like(y, winner)
    return {
        "task": run.task,
        "cell": model.cfg.cell,
        "depth": model.cfg.depth,
        "constant_class": data.label_names[winner],
        "monolithic_legacy": accuracy(mono, y),
        "composed_legacy_d1": accuracy(const, y),
        "delta_pp_legacy_d1": 100.0 * (accuracy(const, y) - accuracy(mono, y)),
        "class_share": float((y == winner).float().mean()),
    }


def run_d1(
    tasks: list[str], cells: list[str], depths: list[int], runs_dir, results_dir, data_dir=None
) -> list[dict]:
    """D1 numbers for every trained run of the grid found in ``runs_dir`` (nothing is trained)."""
    rows = []
    for task in tasks:
        data = None
        for cell in cells:
            for depth in depths:
                path = run_dir(runs_dir, task, cell, depth)
                if not (path / "metrics.json").is_file():
                    continue
                data = data or load_task(task, data_dir)
                rows.append(d1_constant_prediction(load_run(path), data))
    lines = [
        "# The authors' rolled many-output evaluator (defect D1), reproduced on our models",
        "",
        "Modules run with zero embedding and recurrent weights ⇒ constant prediction. Accuracy counts padding (legacy).",
        "",
        *table(COLUMNS, rows),
    ]
    write_tables(Path(results_dir), "d1", rows, list(rows[0]) if rows else None, lines)
    return rows


COLUMNS = [
    Col("task", "{task}"),
    Col("model", "{cell}-{depth}"),
    Col("constant class", "{constant_class}"),
    Col("its share of positions", "{class_share:.4f}"),
    Col("monolithic (legacy)", "{monolithic_legacy:.4f}"),
    Col("'composed' (D1)", "{composed_legacy_d1:.4f}"),
    Col("Δ pp", "{delta_pp_legacy_d1:+.2f}"),
]
