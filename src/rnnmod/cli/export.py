"""``rnnmod export``: one module as a standalone (optionally physically smaller) torch model."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import torch

from ..errors import RnnmodError


def _export_whole(args: argparse.Namespace) -> None:
    """The composed model (all modules, or --label) as ONNX and/or TorchScript."""
    labels = [args.label] if args.label else None
    if labels is None and (Path(args.mods) / "manifest.json").is_file():
        from ..modules.store import verify_moduleset

        rule = verify_moduleset(args.mods).get("rule", "probability")
        if rule != "probability":
            raise RnnmodError(
                f"{args.mods} decides by the {rule} rule, which an exported graph does not "
                "carry: export its modules one by one (--label) or use the set"
            )
    done = []
    if args.onnx:
        from ..interop.onnx_export import export_onnx

        info = export_onnx(args.mods, args.onnx, labels=labels, overwrite=args.overwrite)
        done.append({"format": "onnx", "out": str(args.onnx), **info})
    if args.torchscript:
        done.append(export_torchscript(args.mods, args.torchscript, labels, args.overwrite))
    if args.json:
        print(json.dumps({"exports": done}, sort_keys=True, default=str))
    else:
        for d in done:
            print(f"{d['format']}: {d['out']}")


def export_torchscript(mods: Path, out: Path, labels: list[str] | None, overwrite: bool) -> dict:
    """Trace the composed model (ids → scores, label) and check the saved file against PyTorch.
    TorchScript files are zip archives with pickled code: for deployment, never read back by
    rnnmod itself."""
    import warnings

    from ..interop.onnx_export import build_exportable, sample_ids
    from ..storage import write_bytes_atomic

    out = Path(out)
    if out.exists() and not overwrite:
        raise RnnmodError(f"{out} already exists; pass --overwrite to replace it")
    module, _ = build_exportable(mods, labels)
    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, (sample_ids(module, 3),))
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
        check = sample_ids(module, 17, seed=1)
        again = torch.jit.load(io.BytesIO(buf.getvalue()))
        diff = max(float((a - b).abs().max()) for a, b in zip(again(check), module(check)))
    if diff > 1e-5:
        raise RnnmodError(f"traced model differs from PyTorch by {diff:.2e}")
    write_bytes_atomic(out, buf.getvalue())
    return {"format": "torchscript", "out": str(out), "max_abs_diff": diff}


def cmd_export(args: argparse.Namespace) -> None:
    from ..modules.compact import export_module, save_exported
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
    ms = load_moduleset(args.mods)
    mod = export_module(ms, args.label, compact=args.compact)
    sid, k = ms.locate(args.label)
    run, bank = ms.sources[sid], ms.banks[sid]
    # self-check on seeded random inputs: the export must score exactly as the fused bank does
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, run.model.cfg.vocab_size, (256, run.model.cfg.seq_len), generator=g)
    diff = float((mod.scores(ids) - bank.select([k]).scores(run.model, ids)[0]).abs().max())
    if diff > 1e-4:
        raise RnnmodError(f"exported module differs from the masked module by {diff:.2e}")
    mod.cfg.extra["self_check_max_abs_diff"] = diff
    out = save_exported(Path(args.out), mod, run.vocab, overwrite=args.overwrite)
    src_params = sum(p.numel() for p in run.model.parameters())
    obj = {
        "out": str(out),
        "label": args.label,
        "compact": args.compact,
        "hidden_sizes": mod.cfg.hidden_sizes,
        "source_hidden": run.model.cfg.hidden,
        "parameters": mod.n_parameters(),
        "source_parameters": src_params,
        "bytes": (out / "model.safetensors").stat().st_size,
        "source_bytes": (run.path / "model.safetensors").stat().st_size,
        "self_check_max_abs_diff": diff,
    }
    if args.json:
        print(json.dumps(obj, sort_keys=True))
        return
    kind = "compact" if args.compact else "full-size (masks baked in)"
    print(
        f"{args.label}: {kind} model, hidden {mod.cfg.hidden_sizes} of {run.model.cfg.hidden}, "
        f"{obj['parameters']:,} parameters ({obj['parameters'] / src_params:.1%} of the source), "
        f"max |Δscore| {diff:.1e} → {out}"
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export one module as a torch model (--compact: units sliced out), or the composed "
        "model as ONNX/TorchScript",
        description=(
            "Export module LABEL of a module set as a plain torch.nn model directory "
            "(model.safetensors, config.json, vocab.json), checked against the masked module on "
            "256 random inputs. --compact slices removed units out of every gate block, the next "
            "layer's inputs and the head; unrolled modules whose masks differ between steps and "
            "per-gate modules cannot be compacted and are refused with the reason. "
            "--onnx FILE / --torchscript FILE export the whole composed model (ids → module "
            "scores and the winning label), checked against PyTorch."
        ),
    )
    p.add_argument("mods", type=Path, help="module set directory")
    p.add_argument("--label", help="the module's class label (with --onnx: export only it)")
    p.add_argument("--out", type=Path, help="directory to write the one module to")
    p.add_argument("--onnx", type=Path, help="write the composed model as one ONNX file")
    p.add_argument("--torchscript", type=Path, help="write the composed model as TorchScript")
    p.add_argument("--compact", action="store_true", help="slice removed units out")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)
