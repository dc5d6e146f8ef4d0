"""One batched, recorded pass of the unmodified model over the sampled examples (§6.2), and the
gathering of each class's observations from that single recording by indexing."""

from __future__ import annotations

import torch
from torch import Tensor

from ..nn.zoo import SeqClassifier


@torch.no_grad()
def record_states(
    model: SeqClassifier, ids: Tensor, *, gates: bool = False, chunk: int = 8192
) -> list[Tensor]:
    """Hidden states (or gate activations when ``gates``) of every layer: list of [U, T, W].

    Hidden states come from the model's native ``torch.nn`` layers (one fused kernel per layer,
    about twice as fast as a Python step loop and equal to our engine to ~1e-6); gate
    activations, which torch does not expose, come from our cell engine.
    """
    model.eval()
    parts: list[list[Tensor]] = []
    for i in range(0, len(ids), chunk):
        part = ids[i : i + chunk]
        if gates:
            parts.append(model.run_engine(part, record_gates=True).gates)
        else:
            parts.append(model.recurrent_states(part))
    return [torch.cat([p[layer] for p in parts]) for layer in range(len(parts[0]))]


def selection_grid(
    samples: Tensor, steps: int, mode: str, observe_steps: str
) -> tuple[Tensor, Tensor]:
    """Turn per-class sample positions [C, N] of a one-output model into (row, step) index
    grids: rolled/last → one group at the last step; otherwise every sample is observed at
    every step, grouped like per-step samples (see :func:`selection_grid_per_step`)."""
    c, n = samples.shape
    if mode == "rolled" and observe_steps == "last":
        rows = samples.unsqueeze(1)
        return rows, torch.full_like(rows, steps - 1)
    return selection_grid_per_step(samples.unsqueeze(1).expand(c, steps, n), mode)


def selection_grid_per_step(samples: Tensor, mode: str) -> tuple[Tensor, Tensor]:
    """Per-output-step positions [C, T, N] → (row, step) grids: unrolled keeps step groups
    [C, T, N]; rolled pools every step's observations into one group [C, 1, T*N]."""
    c, t, n = samples.shape
    st = torch.arange(t).view(1, t, 1).expand(c, t, n)
    if mode == "unrolled":
        return samples, st
    return samples.reshape(c, 1, t * n), st.reshape(c, 1, t * n)


def drop_padding(rows: Tensor, steps: Tensor, token_steps: Tensor) -> Tensor:
    """Invalidate observations at padded positions: ``token_steps`` [U, T] is True on real tokens."""
    real = token_steps[rows.clamp(min=0), steps]
    return torch.where(real, rows, torch.full_like(rows, -1))


def gather_observations(states: Tensor, rows: Tensor, steps: Tensor) -> tuple[Tensor, Tensor]:
    """states [U, T, W], index grids [C, S, N] (-1 = none) → values [C*S, N, W], valid [C*S, N]."""
    valid = rows >= 0
    vals = states[rows.clamp(min=0), steps]  # [C, S, N, W]
    c, s, n = rows.shape
    return vals.reshape(c * s, n, -1), valid.reshape(c * s, n)
