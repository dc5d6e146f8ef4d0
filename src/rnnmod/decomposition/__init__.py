"""Decomposition of a trained model into one module per class."""

from .config import DecompositionConfig, preset
from .decomposer import Decomposition, decompose

__all__ = ["Decomposition", "DecompositionConfig", "decompose", "preset"]
