"""Modules, module banks and the on-disk module set."""

from .module import ModuleBank, vote

__all__ = ["ModuleBank", "vote"]
