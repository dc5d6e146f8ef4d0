"""Subcommands beyond ``train`` register themselves here (keeps cli.py small)."""
