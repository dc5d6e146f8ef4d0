"""Composition of modules (voting) and evaluation of composed models."""

from .compose import compose_modulesets
from .evaluate import evaluate_moduleset

__all__ = ["compose_modulesets", "evaluate_moduleset"]
