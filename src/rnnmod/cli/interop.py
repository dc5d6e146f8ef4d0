"""``rnnmod import-keras`` and ``rnnmod export-onnx``."""

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


def cmd_export_onnx(args: argparse.Namespace) -> None:
    from ..interop.onnx_export import export_onnx

    labels = [x.strip() for x in args.labels.split(",") if x.strip()] if args.labels else None
    info = export_onnx(
        args.path,
        args.out,
        labels=labels,
        opset=args.opset,
        verify=not args.no_verify,
        overwrite=args.overwrite,
    )
    if args.json:
        print(json.dumps(info, sort_keys=True))
        return
    n = len(info["labels"])
    what = f"{n} modules" if info["kind"] == "composed" else f"model, {n} classes"
    check = (
        f", onnxruntime max |Δ| {info['max_abs_diff']:.1e}"
        if info.get("max_abs_diff") is not None
        else ""
    )
    print(
        f"{what} ({', '.join(info['labels'])}) → {info['out']} "
        f"(opset {info['opset']}, {info['bytes']:,} bytes{check}); "
        f"outputs {', '.join(info['outputs'])}"
    )


def register(sub: argparse._SubParsersAction) -> None:
    from ..data import LOADERS
    from ..interop.keras import SEMANTICS

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
    k.add_argument("--task", required=True, choices=sorted(LOADERS), help="dataset/task")
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

    e = sub.add_parser(
        "export-onnx",
        help="export a composed model (all modules, fused) or a run's model to ONNX",
        description=(
            "PATH is a module set (decomposed or composed): the ONNX graph maps ids [batch, L] "
            "to scores [batch, K] (each module's positive-class probability; [batch, T, K] for "
            "many-output models) and label (index of the winning module). PATH may also be a run "
            "directory: ids → logits, label. Labels and I/O type are stored as ONNX metadata. "
            "The file is checked with onnxruntime against PyTorch unless --no-verify."
        ),
    )
    e.add_argument("path", type=Path, help="module set or run directory")
    e.add_argument("--out", required=True, type=Path, help="the .onnx file to write")
    e.add_argument("--labels", help="comma-separated module labels to include (default: all)")
    e.add_argument("--opset", type=int, default=None, help="ONNX opset (default: torch's)")
    e.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check")
    e.add_argument("--overwrite", action="store_true")
    e.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    e.set_defaults(func=cmd_export_onnx)
