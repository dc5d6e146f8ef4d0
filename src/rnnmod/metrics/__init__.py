"""Accuracy, Jaccard and (later) BLEU."""

from .accuracy import accuracy

__all__ = ["accuracy"]
