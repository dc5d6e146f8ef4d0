"""Bit-packed unit masks, as module files store them (one bit per unit, little bit order)."""

from __future__ import annotations

import re

import numpy as np
import torch

from ..errors import RnnmodError


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "class"


def pack_mask(mask: torch.Tensor) -> torch.Tensor:
    """bool [S, W] → uint8 [S, ceil(W/8)] (little bit order)."""
    return torch.from_numpy(np.packbits(mask.numpy().astype(np.uint8), axis=-1, bitorder="little"))


def unpack_mask(packed: torch.Tensor, width: int) -> torch.Tensor:
    """uint8 [S, ceil(W/8)] → bool [S, W]; anything else (wrong type, rank or byte count, bits
    set beyond W) is refused: a mask of another width belongs to another model."""
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8 or packed.dim() != 2:
        what = (
            f"{str(packed.dtype).removeprefix('torch.')} {list(packed.shape)}"
            if isinstance(packed, torch.Tensor)
            else type(packed).__name__
        )
        raise RnnmodError(f"a packed mask must be a 2-D uint8 tensor, got {what}")
    if width < 1:
        raise RnnmodError(f"a mask needs at least one unit, got width {width}")
    nbytes = (width + 7) // 8
    if packed.shape[-1] != nbytes:
        raise RnnmodError(
            f"a packed mask of {width} units takes {nbytes} byte(s) per step, got {packed.shape[-1]}"
        )
    bits = np.unpackbits(packed.numpy(), axis=-1, bitorder="little")
    if bits[:, width:].any():
        raise RnnmodError(f"a packed mask of {width} units has bits set beyond unit {width}")
    return torch.from_numpy(bits[:, :width].astype(bool))
