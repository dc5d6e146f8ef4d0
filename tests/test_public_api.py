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


def test_the_command_line_choices_name_what_the_library_implements() -> None:
    from rnnmod import choices
    from rnnmod.data import LOADERS
    from rnnmod.data.fetch import DATASETS
    from rnnmod.kinds import TASK_KINDS

    assert set(choices.CLASSIFIER_TASKS) == set(LOADERS)
    assert set(choices.TRANSLATION_TASKS) == set(TASK_KINDS)
    assert tuple(DATASETS) == choices.DATASETS


def test_help_and_argument_errors_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from rnnmod.cli import main\n"
        "for argv in (['--help'], ['decompose', '--help'], ['train', '--cell', 'nope']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
