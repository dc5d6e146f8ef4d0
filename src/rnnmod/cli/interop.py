"""``rnnmod import-keras``: the original tool's Keras models as run directories."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import RnnmodError
from .common import add_data_dir


def cmd_import_keras(args: argparse.Namespace) -> None:
    from ..interop.keras import import_keras_run

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise RnnmodError(f"{out} already exists; pass --overwrite to replace it")
    options = {}
    for k in ("legacy_vocab", "file", "text_column", "label_column"):
        v = getattr(args, k, None)
        if v not in (None, False):
            options[k] = str(v) if isinstance(v, Path) else v
    path, metrics = import_keras_run(
        args.model,
        out,
        task=args.task,
        data_dir=args.data_dir,
        semantics=args.semantics,
        data_options=options,
        overwrite=args.overwrite,
    )
    from ..runs import load_run

    run = load_run(path)
    cfg = run.model.cfg
    obj = {
        "out": str(path),
        "task": run.task,
        "io_type": cfg.io_type,
        "cell": cfg.cell,
        "depth": cfg.depth,
        "semantics": args.semantics,
        "test_accuracy": metrics["test_accuracy"],
    }
    if args.json:
        print(json.dumps(obj, sort_keys=True))
        return
    print(
        f"{run.task} {cfg.io_type} {cfg.cell}-{cfg.depth} ({args.semantics} semantics): "
        f"test accuracy {metrics['test_accuracy']:.4f} → {path}"
    )


def register(sub: argparse._SubParsersAction) -> None:
    from ..choices import CLASSIFIER_TASKS, SEMANTICS

    k = sub.add_parser(
        "import-keras",
        help="import a Keras .h5 classifier (the original tool's models) as a run directory",
        description=(
            "Read a Keras 2.x .h5 model with h5py (no TensorFlow) and write a run directory for "
            "TASK. --semantics keras predicts as Keras did (hard_sigmoid gates, reset-before GRU); "
            "paper computes as the authors' NumPy code did (logistic gates, torch GRU form), "
            "which is what the paper's numbers come from. The choice is recorded in config.json."
        ),
    )
    k.add_argument("model", type=Path, help="the .h5 file")
    k.add_argument("--task", required=True, choices=CLASSIFIER_TASKS, help="dataset/task")
    k.add_argument("--out", required=True, type=Path, help="run directory to write")
    k.add_argument("--semantics", choices=SEMANTICS, default="keras")
    k.add_argument(
        "--legacy-vocab",
        action="store_true",
        help="tokenise exactly as the authors' code did (needed for their models' ids)",
    )
    k.add_argument("--file", type=Path, help="data file of text-classification/tagging tasks")
    k.add_argument("--text-column", help="text column (text-classification)")
    k.add_argument("--label-column", help="label column (text-classification)")
    k.add_argument("--overwrite", action="store_true")
    k.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_data_dir(k)
    k.set_defaults(func=cmd_import_keras)
