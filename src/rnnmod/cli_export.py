"""``rnnmod export``: one module as a standalone (optionally physically smaller) torch model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .cli import register_command
from .errors import RnnmodError


def cmd_export(args: argparse.Namespace) -> None:
    from .modules.compact import export_module, save_exported
    from .modules.store import load_moduleset

    ms = load_moduleset(args.mods)
    mod = export_module(ms, args.label, compact=args.compact)
    entry = ms.entries[ms.labels.index(args.label)]
    run, bank = ms.sources[entry["source"]], ms.banks[entry["source"]]
    # self-check on seeded random inputs: the export must score exactly as the fused bank does
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, run.model.cfg.vocab_size, (256, run.model.cfg.seq_len), generator=g)
    k = [e["label"] for e in ms.entries if e["source"] == entry["source"]].index(args.label)
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


@register_command
def _register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export one module as a standalone torch model (--compact: removed units sliced out)",
        description=(
            "Export module LABEL of a module set as a plain torch.nn model directory "
            "(model.safetensors, config.json, vocab.json), checked against the masked module on "
            "256 random inputs. --compact slices removed units out of every gate block, the next "
            "layer's inputs and the head; unrolled modules whose masks differ between steps and "
            "per-gate modules cannot be compacted and are refused with the reason."
        ),
    )
    p.add_argument("mods", type=Path, help="module set directory")
    p.add_argument("--label", required=True, help="the module's class label")
    p.add_argument("--out", required=True, type=Path, help="directory to write")
    p.add_argument("--compact", action="store_true", help="slice removed units out")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)
