"""``rnnmod export``: one module as a standalone (optionally physically smaller) torch model, or
the composed model (or a run's model) as ONNX and/or TorchScript."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import RnnmodError


def _labels(args: argparse.Namespace) -> list[str] | None:
    if args.labels:
        return [x.strip() for x in args.labels.split(",") if x.strip()]
    return [args.label] if args.label else None


def _onnx_line(info: dict) -> str:
    n = len(info["labels"])
    what = f"{n} modules" if info["kind"] == "composed" else f"model, {n} classes"
    check = (
        f", onnxruntime max |Δ| {info['max_abs_diff']:.1e}"
        if info.get("max_abs_diff") is not None
        else ""
    )
    return (
        f"onnx: {what} ({', '.join(info['labels'])}) → {info['out']} "
        f"(opset {info['opset']}, {info['bytes']:,} bytes{check}); "
        f"outputs {', '.join(info['outputs'])}"
    )


def _export_whole(args: argparse.Namespace) -> None:
    """The composed model (all modules, or --labels) or a run's model as ONNX/TorchScript."""
    from ..interop import export_onnx, export_torchscript

    labels = _labels(args)
    done = []
    if args.onnx:
        info = export_onnx(
            args.path,
            args.onnx,
            labels=labels,
            opset=args.opset,
            verify=not args.no_verify,
            overwrite=args.overwrite,
        )
        done.append({"format": "onnx", **info})
    if args.torchscript:
        done.append(
            export_torchscript(args.path, args.torchscript, labels=labels, overwrite=args.overwrite)
        )
    if args.json:
        print(json.dumps({"exports": done}, sort_keys=True, default=str))
        return
    for d in done:
        print(_onnx_line(d) if d["format"] == "onnx" else f"{d['format']}: {d['out']}")


def cmd_export(args: argparse.Namespace) -> None:
    from ..modules.compact import export_module_to
    from ..modules.store import load_moduleset

    if args.onnx or args.torchscript:
        if args.out or args.compact:
            raise RnnmodError(
                "--onnx/--torchscript export the composed model; drop --out/--compact"
            )
        return _export_whole(args)
    if not args.label or not args.out:
        raise RnnmodError(
            "exporting one module needs --label and --out (or use --onnx/--torchscript)"
        )
    info = export_module_to(
        load_moduleset(args.path),
        args.label,
        args.out,
        compact=args.compact,
        overwrite=args.overwrite,
    )
    if args.json:
        print(json.dumps(info, sort_keys=True))
        return
    kind = "compact" if args.compact else "full-size (masks baked in)"
    backward = f" + backward {info['reverse_sizes']}" if "reverse_sizes" in info else ""
    print(
        f"{args.label}: {kind} model, hidden {info['hidden_sizes']}{backward} of "
        f"{info['source_hidden']} per direction, "
        f"{info['parameters']:,} parameters "
        f"({info['parameters'] / info['source_parameters']:.1%} of the source), "
        f"max |Δscore| {info['self_check_max_abs_diff']:.1e} → {info['out']}"
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export one module as a torch model (--compact: units sliced out), or the composed "
        "model or a run's model as ONNX/TorchScript",
        description=(
            "With --label and --out: module LABEL of a module set as a plain torch.nn model "
            "directory (model.safetensors, config.json, vocab.json), checked against the masked "
            "module on 256 random inputs; --compact slices removed units out of every gate block, "
            "the next layer's inputs and the head (unrolled modules whose masks differ between "
            "steps and per-gate modules cannot be compacted and are refused with the reason). "
            "With --onnx FILE and/or --torchscript FILE: the whole composed model (ids → module "
            "scores [batch, K] and the winning label; [batch, T, K] for many-output models) or, "
            "for a run directory, the model (ids → logits, label); labels and I/O type are stored "
            "as ONNX metadata and each file is checked against PyTorch."
        ),
    )
    p.add_argument(
        "path", type=Path, help="module set directory (or run directory: --onnx/--torchscript)"
    )
    p.add_argument(
        "--label", help="the module to export (with --onnx/--torchscript: export only it)"
    )
    p.add_argument("--labels", help="--onnx/--torchscript: comma-separated modules to include")
    p.add_argument("--out", type=Path, help="directory to write the one module to")
    p.add_argument("--onnx", type=Path, help="write the composed model as one ONNX file")
    p.add_argument("--torchscript", type=Path, help="write the composed model as TorchScript")
    p.add_argument("--compact", action="store_true", help="slice removed units out")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: torch's)")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)
