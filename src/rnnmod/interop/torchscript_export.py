"""TorchScript export of a composed model or a run's model (ids → scores, label), for
deployment: TorchScript files are zip archives with pickled code, never read back by rnnmod."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch

from ..errors import RnnmodError
from ..storage import write_bytes_atomic
from .onnx_export import build_exportable, sample_ids


def export_torchscript(
    path: Path | str, out: Path | str, *, labels: list[str] | None = None, overwrite: bool = False
) -> dict:
    """Trace the model of ``path`` (module set or run directory) and check the saved file
    against PyTorch on 17 seeded random inputs (1e-5)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise RnnmodError(f"{out} already exists; pass --overwrite to replace it")
    module, _ = build_exportable(path, labels)
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
