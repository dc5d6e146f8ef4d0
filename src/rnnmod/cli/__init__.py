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
        sys.stdout.flush()  # here, so that a closed pipe is met inside the handler below
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        return 141  # as a command killed by SIGPIPE: the reader stopped reading, no message
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


def _stdout_closed() -> bool:
    """After a BrokenPipeError: whether it is standard output that nobody reads any more
    (``rnnmod predict … | head -1``), not some other pipe. If so, standard output is pointed
    at the null device, so that Python's last flush at exit prints no second error."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. captured in tests)
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            return True
        return False
    try:
        import select

        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        closed = any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (OSError, AttributeError):  # no poll() on this platform: trust the error
        closed = True
    if closed:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    return closed


if __name__ == "__main__":
    sys.exit(main())
