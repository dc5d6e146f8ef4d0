"""The zoo's model families by I/O type: which config and module classes a run's ``config.json``
describes. A run directory is read generically (:mod:`rnnmod.runs`) through this table."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

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


FAMILIES: dict[str, ModelFamily] = {
    **{io: ModelFamily("classifier", ClassifierConfig, SeqClassifier, False) for io in IO_TYPES},
    ENC_DEC: ModelFamily("translator", Seq2SeqConfig, Seq2Seq, True),
}


def family_of(io_type: object) -> ModelFamily:
    """The family of an I/O type; a ``config.json`` without ``io_type`` at its top is a classifier
    (its model config names the I/O type)."""
    if io_type is None:
        return FAMILIES["M:1"]
    if io_type not in FAMILIES:
        raise ValueError(f"unknown I/O type {io_type!r}; expected one of {', '.join(FAMILIES)}")
    return FAMILIES[io_type]
