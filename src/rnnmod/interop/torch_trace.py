"""What a user's ``forward`` does, seen through forward hooks: which embedding, recurrent and
linear modules it calls, in which order, on what. :func:`rnnmod.from_torch` reads the model's
structure from this record instead of guessing it from the module tree.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from ..errors import RnnmodError

TRACED = (nn.Embedding, nn.RNNBase, nn.Linear)


@dataclass
class Call:
    """One call of a traced module: its first input and output (a tensor, or a packed
    sequence's data for recurrent layers; ``packed`` says which)."""

    module: nn.Module
    inp: Tensor | None
    out: Tensor | None
    packed: bool = False


@dataclass
class Trace:
    """The calls of one forward pass, in order, and what the forward returned."""

    calls: list[Call] = field(default_factory=list)
    output: Tensor | None = None

    def of(self, kind: type) -> list[Call]:
        return [c for c in self.calls if isinstance(c.module, kind)]

    def after(self, call: Call, kind: type) -> list[Call]:
        i = next(i for i, c in enumerate(self.calls) if c is call)
        return [c for c in self.calls[i + 1 :] if isinstance(c.module, kind)]


def takes_lengths(model: nn.Module) -> bool:
    """Whether ``forward`` needs a second argument (``forward(ids, lengths)``)."""
    params = list(inspect.signature(model.forward).parameters.values())
    required = [
        p
        for p in params
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(required) > 2:
        raise RnnmodError(
            f"your model's forward takes {len(required)} arguments; rnnmod calls forward(ids) or "
            "forward(ids, lengths)"
        )
    return len(required) == 2


def _first_tensor(x) -> tuple[Tensor | None, bool]:
    if isinstance(x, PackedSequence):
        return x.data, True
    if isinstance(x, tuple | list) and x:
        return _first_tensor(x[0])
    return (x, False) if isinstance(x, Tensor) else (None, False)


def call_forward(model: nn.Module, ids: Tensor, pad_id: int, lengths: bool) -> Tensor:
    """The user's output on ``ids``; when ``forward`` takes lengths, each row's count of ids
    other than ``pad_id``, at least 1 (``pack_padded_sequence`` refuses 0; the adapted model
    reads an empty row as one step, :meth:`~rnnmod.nn.zoo.SeqClassifier.step_valid`)."""
    dev = next(iter(model.parameters())).device
    args = [ids.to(dev)]
    if lengths:
        args.append((ids != pad_id).sum(1).clamp(min=1))
    y = model(*args)
    if isinstance(y, tuple | list):
        y = y[0]
    if not isinstance(y, Tensor):
        raise RnnmodError(f"your model's forward returned {type(y).__name__}, not a tensor")
    return y.detach().float().cpu()


@torch.no_grad()
def trace(model: nn.Module, ids: Tensor, pad_id: int, lengths: bool) -> Trace:
    """Run the user's model once in eval mode with hooks on every embedding, recurrent and
    linear module; any failure of the user's code becomes one clear line."""
    record = Trace()

    def hook(module, args, output):
        inp, packed = _first_tensor(args[0] if args else None)
        out, _ = _first_tensor(output)
        record.calls.append(
            Call(
                module,
                None if inp is None else inp.detach().float().cpu(),
                None if out is None else out.detach().float().cpu(),
                packed,
            )
        )

    was_training = model.training
    model.eval()
    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, TRACED)]
    try:
        record.output = call_forward(model, ids, pad_id, lengths)
    except RnnmodError:
        raise
    except Exception as e:  # noqa: BLE001 — any failure of user code becomes one clear line
        raise RnnmodError(
            f"could not run your model on ids of shape {tuple(ids.shape)} ({type(e).__name__}: {e})"
        ) from None
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return record
