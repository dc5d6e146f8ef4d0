"""The zoo's model families by I/O type: which config and module classes a run's ``config.json``
describes. A run directory is read generically (:mod:`rnnmod.runs`) through this table."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from torch import nn

from .attention import LEGACY_NAMES
from .seq2seq import IO_TYPE as ENC_DEC
from .seq2seq import Seq2Seq, Seq2SeqConfig
from .zoo import IO_TYPES, ClassifierConfig, SeqClassifier


@dataclass(frozen=True)
class ModelFamily:
    """A config class, the module it builds, and which vocabularies its run directory holds."""

    kind: str  # the model kind: "classifier" (one label per text or per step) or "translator"
    config: type
    model: type[nn.Module]
    target_vocab: bool  # a second (target) vocabulary beside the source one
    #: stored tensor-name prefixes that are read under a current name (older runs still load)
    renamed: dict[str, str] = field(default_factory=dict)

    def current_names(self, state: dict) -> dict:
        """A stored state dict with every renamed prefix under its current name."""
        out = {}
        for key, value in state.items():
            old = next((o for o in self.renamed if key.startswith(o)), None)
            out[key if old is None else self.renamed[old] + key[len(old) :]] = value
        return out


FAMILIES: dict[str, ModelFamily] = {
    **{io: ModelFamily("classifier", ClassifierConfig, SeqClassifier, False) for io in IO_TYPES},
    ENC_DEC: ModelFamily("translator", Seq2SeqConfig, Seq2Seq, True, LEGACY_NAMES),
}


def family_of(io_type: object) -> ModelFamily:
    """The family of an I/O type; a ``config.json`` without ``io_type`` at its top is a classifier
    (its model config names the I/O type)."""
    if io_type is None:
        return FAMILIES["M:1"]
    if io_type not in FAMILIES:
        raise ValueError(f"unknown I/O type {io_type!r}; expected one of {', '.join(FAMILIES)}")
    return FAMILIES[io_type]


_INIT_FUNCTIONS = (
    "uniform_",
    "normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "trunc_normal_",
    "orthogonal_",
    "sparse_",
)


@contextmanager
def skipped_init():
    """Build modules without initialising their weights (they are loaded right after, or live
    on the meta device): ``torch.nn.init``'s in-place functions return their tensor untouched.
    Random init of a model that is about to be overwritten costs time, and on the meta device it
    pulls in torch's compiler stack (seconds). The same device as Hugging Face's
    ``no_init_weights``."""
    from torch.nn import init

    saved = {name: getattr(init, name) for name in _INIT_FUNCTIONS if hasattr(init, name)}
    try:
        for name in saved:
            setattr(init, name, _untouched)
        yield
    finally:
        for name, fn in saved.items():
            setattr(init, name, fn)


def _untouched(tensor, *args, **kwargs):
    return tensor
