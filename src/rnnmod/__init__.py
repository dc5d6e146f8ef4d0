"""rnnmod: decompose trained recurrent networks into per-class modules (Imtiaz et al., ICSE 2023)."""

__version__ = "0.1.0"
FORMAT_VERSION = 1
