"""Recurrent cell engine and model zoo."""

from .cells import CELL_KINDS, N_GATES, LayerWeights, StackOutput, run_stack
from .zoo import IO_TYPES, SeqClassifier, build_classifier

__all__ = [
    "CELL_KINDS",
    "IO_TYPES",
    "N_GATES",
    "LayerWeights",
    "SeqClassifier",
    "StackOutput",
    "build_classifier",
    "run_stack",
]
