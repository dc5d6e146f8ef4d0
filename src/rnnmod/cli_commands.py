"""Subcommands beyond ``train`` register themselves on import (keeps cli.py small)."""

from . import (
    cli_data,  # noqa: F401
    cli_export,  # noqa: F401
    cli_interop,  # noqa: F401
    cli_modules,  # noqa: F401,E402
    cli_reproduce,  # noqa: F401,E402
    cli_translate,  # noqa: F401,E402
)
