"""The ``rnnmod`` command line: every subcommand is a thin call into the library."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .errors import RnnmodError


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="dataset root (default: $RNNMOD_DATA, then ~/.cache/rnnmod/data)",
    )


def read_text_arg(path: Path | str) -> str:
    """A text file named on the command line (``--file``, ``--calibrate``, ``--labelled``), with
    one-line errors for a missing or non-UTF-8 file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RnnmodError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise RnnmodError(f"cannot read {path}: {e.strerror}") from None


def _emit(args: argparse.Namespace, obj: dict, human: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(obj, sort_keys=True))
    else:
        print(human)


# ---------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> None:
    from .api import train

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise RnnmodError(f"{out} already exists; pass --overwrite to replace it")
    options = {k: getattr(args, k) for k in _TRAIN_OPTIONS if getattr(args, k, None) is not None}
    options.update(
        {
            k: getattr(args, k)
            for k in _TASK_OPTIONS.get(args.task, _CLASSIFIER_OPTIONS)
            if hasattr(args, k)
        }
    )
    if args.task == "tatoeba":
        options["langs"] = _langs(args.langs)
    run = train(args.task, out=out, overwrite=args.overwrite, progress=not args.quiet, **options)
    m = run.metrics
    if "test_bleu" in m:
        per = ", ".join(f"{k} {v['bleu']:.2f}" for k, v in m["per_language"].items())
        human = (
            f"{run.task} {args.cell}-{args.depth}: test BLEU {m['test_bleu']:.2f} ({per}), "
            f"legacy BLEU-1 {m['test_bleu1_legacy']:.4f} ({m['train_seconds']:.1f} s) → {out}"
        )
    else:
        human = f"{run.task} {args.cell}-{args.depth}: test accuracy {m['test_accuracy']:.4f} ({m['train_seconds']:.1f} s) → {out}"
    _emit(args, {"out": str(out), **m}, human)


_TRAIN_OPTIONS = ("cell", "depth", "epochs", "batch_size", "seed", "limit", "data_dir")
_CLASSIFIER_OPTIONS = ("init", "legacy_vocab", "file", "text_column", "label_column")
_TRANSLATOR_OPTIONS = ("hidden", "embed_dim", "max_vocab", "test_per_lang")
#: the train options each task's model takes beyond the common ones
_TASK_OPTIONS = {"tatoeba": _TRANSLATOR_OPTIONS}


def _langs(s: str) -> list[str]:
    langs = [x.strip() for x in s.split(",") if x.strip()]
    if len(langs) < 1 or len(set(langs)) != len(langs):
        raise RnnmodError(f"--langs needs distinct language codes, got {s!r}")
    return langs


def _parse_depth(s: str) -> int:
    try:
        d = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"depth must be an integer 1-4, got {s!r}") from None
    if not 1 <= d <= 4:
        raise argparse.ArgumentTypeError(f"depth must be 1-4, got {d}")
    return d


def build_parser() -> argparse.ArgumentParser:
    from .data import LOADERS
    from .nn.cells import CELL_KINDS

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
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model of the zoo on a task and write a run directory")
    t.add_argument(
        "--task", required=True, choices=sorted([*LOADERS, "tatoeba"]), help="dataset/task"
    )
    t.add_argument("--cell", default="lstm", choices=CELL_KINDS)
    t.add_argument("--depth", type=_parse_depth, default=1, help="stacked recurrent layers (1-4)")
    t.add_argument(
        "--epochs", type=int, default=None, help="default: the paper's epochs for the task"
    )
    t.add_argument(
        "--batch-size", type=int, default=None, help="default: the paper's batch size for the task"
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--init",
        choices=["keras", "torch"],
        default="keras",
        help="weight initialisation: the paper's Keras defaults (Glorot kernels, orthogonal "
        "recurrent kernels, zero biases, LSTM forget bias 1) or PyTorch's defaults",
    )
    t.add_argument("--limit", type=int, default=None, help="cap the number of training examples")
    t.add_argument("--out", required=True, type=Path, help="run directory to write")
    t.add_argument("--overwrite", action="store_true")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    _add_data_dir(t)
    t.set_defaults(func=cmd_train)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return p


_EXTRA_COMMANDS: list = []


def register_command(fn):
    """Decorator used by command modules to add their subparsers."""
    _EXTRA_COMMANDS.append(fn)
    return fn


def _one_line(e: BaseException) -> str:
    """The error as one line: the user's mistake (RnnmodError) or what the OS refused (a full
    disk, a permission, a vanished file), without a traceback."""
    if isinstance(e, OSError) and not isinstance(e, RnnmodError):
        msg = e.strerror or str(e) or type(e).__name__
        if e.filename:
            msg = f"{e.filename}: {msg}"
    else:
        msg = str(e) or type(e).__name__
    return " ".join(msg.split())


def main(argv: list[str] | None = None) -> int:
    from . import cli_commands  # noqa: F401  (registers the other subcommands)

    parser = build_parser()
    args = parser.parse_args(argv)
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
        print(f"rnnmod: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnmod: interrupted", file=sys.stderr)
        return 130
    finally:
        if args.debug:
            print(f"[{time.perf_counter() - start:.2f} s]", file=sys.stderr)
    return 0


if __name__ == "__main__":  # run as a script: use the package's module so commands register once
    from rnnmod.cli import main as _main

    sys.exit(_main())
