"""Importing NLTK's tokenizers without its optional scientific stack.

``import nltk`` imports every NLTK subpackage, and some of those import SciPy and scikit-learn
when they are installed (``nltk.metrics.association`` → ``scipy.stats``, ``nltk.classify`` →
``sklearn``): 1.2 s instead of 0.25 s on this machine, paid by every command that tokenises
Clinc-style text. rnnmod uses only NLTK's word tokenizer, so the two are hidden while NLTK is
imported (NLTK falls back as if they were not installed) and visible again right after.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType

_OPTIONAL = ("scipy", "sklearn")


def nltk_module(name: str) -> ModuleType:
    """``import_module(name)`` for an NLTK module, with SciPy and scikit-learn hidden while NLTK
    loads (only those not imported yet: a process that uses them keeps them)."""
    if "nltk" in sys.modules:
        return import_module(name)
    hidden = [m for m in _OPTIONAL if m not in sys.modules]
    for m in hidden:
        sys.modules[m] = None  # type: ignore[assignment]  # "not installed" for import
    try:
        return import_module(name)
    finally:
        for m in hidden:
            if sys.modules.get(m, 0) is None:
                del sys.modules[m]
