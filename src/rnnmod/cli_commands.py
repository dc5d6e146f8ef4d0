"""Subcommands beyond ``train`` register themselves on import (keeps cli.py small)."""

from . import cli_data  # noqa: F401
