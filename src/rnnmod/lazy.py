"""Names of a package imported on first use (PEP 562): the package stays cheap to import, so
the command line can parse arguments and answer ``--help`` without torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_names(package: str, exports: dict[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: each name of ``exports`` is imported from
    its module (absolute, or relative to ``package`` when it starts with a dot) on first use
    and kept in ``namespace``."""

    def getattr_(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return getattr_, dir_
