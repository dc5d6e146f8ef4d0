"""Subcommands beyond ``train`` register themselves on import (keeps cli.py small)."""

from . import cli_data  # noqa: F401
from . import cli_modules  # noqa: F401,E402
from . import cli_reproduce  # noqa: F401,E402
