"""The ``rnnmod`` command line: argument parsing and printing over the public API
(:mod:`rnnmod.api`); each module of this package registers its commands."""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..errors import RnnmodError
from .common import one_line


def build_parser() -> argparse.ArgumentParser:
    from . import data, export, interop, modules, reproduction, train, translate

    p = argparse.ArgumentParser(
        prog="rnnmod",
        description="Decompose trained RNNs (RNN/LSTM/GRU, 1-4 layers) into per-class modules; reuse and replace them without retraining.",
    )
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for PyTorch (default: $RNNMOD_THREADS, else PyTorch's default); "
        "use 1 per process when several jobs share a machine",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="read datasets from their files, bypassing the tokenised-data cache "
        "($RNNMOD_CACHE, else the user cache folder); same as RNNMOD_NO_CACHE=1",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # train first: data and translate add their options to it
    for commands in (train, data, modules, export, interop, translate, reproduction):
        commands.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.no_cache:
        os.environ["RNNMOD_NO_CACHE"] = "1"
    threads = args.threads or int(os.environ.get("RNNMOD_THREADS", "0") or 0)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        args.func(args)
    except (RnnmodError, OSError) as e:
        if args.debug:
            raise
        print(f"rnnmod: error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnmod: interrupted", file=sys.stderr)
        return 130
    finally:
        if args.debug:
            print(f"[{time.perf_counter() - start:.2f} s]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
