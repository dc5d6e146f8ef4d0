"""The public API: ``rnnmod.__all__`` names what users import, lazily, and no subpackage of the
same name shadows a verb once everything is imported."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import rnnmod


def test_every_public_name_resolves_and_is_not_a_module() -> None:
    for sub in pkgutil.walk_packages(rnnmod.__path__, "rnnmod."):
        if not sub.name.endswith("__main__"):
            importlib.import_module(sub.name)
    for name in rnnmod.__all__:
        value = getattr(rnnmod, name)
        assert not isinstance(value, types.ModuleType), f"rnnmod.{name} is shadowed by a module"
    assert callable(rnnmod.decompose) and callable(rnnmod.translate) and callable(rnnmod.compose)


def test_import_rnnmod_does_not_import_torch() -> None:
    code = "import sys, rnnmod; print('torch' in sys.modules, len(rnnmod.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, n = out.stdout.split()
    assert loaded == "False" and int(n) >= 15
