"""Helpers of the reliability tests: a tiny user CSV task, runs of it, the real CLI."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

from rnnmod.data import load_task
from rnnmod.nn.zoo import build_classifier
from rnnmod.runs import save_run

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi".split()
LABELS = ["banking", "travel", "cooking", "music"]
REPO = Path(__file__).resolve().parents[2]


def write_csv(path: Path, rows_per_label: int = 16, labels: list[str] = LABELS) -> Path:
    rng = random.Random(0)
    lines = ["text,label"]
    for i in range(rows_per_label):
        for j, lab in enumerate(labels):
            words = [WORDS[(j * 3 + k) % len(WORDS)] for k in range(3)]
            words += rng.sample(WORDS, 3 + i % 4)
            lines.append(f"{' '.join(words)},{lab}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_run(out: Path, csv_path: Path, *, cell: str = "gru", depth: int = 2, seed: int = 0):
    """An (untrained, seeded) classifier of the CSV task saved as a run directory."""
    import torch

    data = load_task("text-classification", None, file=str(csv_path))
    torch.manual_seed(seed)
    model = build_classifier(
        io_type="M:1",
        cell=cell,
        depth=depth,
        vocab_size=data.vocab.size,
        embed_dim=5,
        hidden=8,
        n_classes=data.n_classes,
        seq_len=data.x_train.shape[1],
    ).eval()
    config = {
        "task": "text-classification",
        "io_type": "M:1",
        "cell": cell,
        "depth": depth,
        "seed": seed,
        "pad_label": None,
        "data_options": {"file": str(csv_path)},
        "limit": None,
    }
    return save_run(out, model, config, data.vocab, data.label_names, {"test_accuracy": 0.0})


# small, quick decomposition settings that still remove units
DECOMPOSE_ARGS = ["--n-positive", "8", "--min-observations", "1", "--max-remove", "0.25"]


def cli_env(**extra: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", RNNMOD_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def spawn(*args: str, **env: str) -> subprocess.Popen:
    """A real ``python -m rnnmod`` process (for kill and concurrency tests)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rnnmod", *args],
        env=cli_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def rnnmod(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rnnmod", *args],
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
