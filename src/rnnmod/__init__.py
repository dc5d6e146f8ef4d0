"""rnnmod: decompose trained recurrent networks into per-class modules (Imtiaz et al., ICSE 2023)."""

__version__ = "0.1.0"
FORMAT_VERSION = 1


def __getattr__(name: str):
    """``rnnmod.from_torch`` without importing torch on ``import rnnmod``."""
    if name == "from_torch":
        from .interop import from_torch

        return from_torch
    raise AttributeError(f"module 'rnnmod' has no attribute {name!r}")
