"""``rnnmod reproduce`` and ``rnnmod scenario``: passed through to the reproduction package
(:mod:`rnnmod_repro.cli`), which is imported by name only when one of them is called — the core
never depends on it."""

from __future__ import annotations

import argparse
import importlib

from ..errors import RnnmodError

COMMANDS = {
    "reproduce": "the paper's experiments: RQ1-RQ3, D1, budget, the report (rnnmod reproduce --help)",
    "scenario": "the paper's motivating scenarios: add-language (Ukrainian) or fix-language "
    "(Estonian-English) (rnnmod scenario --help)",
}


def run_reproduction(args: argparse.Namespace) -> None:
    try:
        repro = importlib.import_module("rnnmod_repro.cli")
    except ImportError as e:
        raise RnnmodError(
            f"the reproduction package is not installed ({e}); pip install rnnmod"
        ) from None
    repro.run(args.command, list(args.rest))


def register(sub: argparse._SubParsersAction) -> None:
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, add_help=False, prefix_chars="\0")
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=run_reproduction)
