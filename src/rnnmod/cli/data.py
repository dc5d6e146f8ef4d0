"""``rnnmod data ...`` subcommands (fetch, check) and the data options of ``rnnmod train``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import add_data_dir


def _data_dir(args: argparse.Namespace) -> Path:
    from ..data import default_data_dir

    return Path(args.data_dir) if args.data_dir else default_data_dir()


def cmd_data_fetch(args: argparse.Namespace) -> None:
    from ..data.fetch import DATASETS, check_dataset, fetch_dataset

    data_dir = _data_dir(args)
    tasks = [t for t in DATASETS if not DATASETS[t].manual] if args.task == "all" else [args.task]
    report = {}
    for task in tasks:
        result = fetch_dataset(
            task, data_dir, base_url=args.base_url, force=args.force, quiet=args.quiet or args.json
        )
        result["status"] = check_dataset(data_dir, task)["status"]
        report[task] = result
        if not args.json:
            print(
                f"{task}: {result['status']} in {data_dir / DATASETS[task].folder} "
                f"({len(result['written'])} file(s) written, {len(result['skipped'])} already there)"
            )
    if args.json:
        print(json.dumps({"data_dir": str(data_dir), "tasks": report}, sort_keys=True))


def cmd_data_check(args: argparse.Namespace) -> None:
    from ..data.fetch import check_data_dir

    data_dir = _data_dir(args)
    report = check_data_dir(data_dir)
    if args.json:
        print(json.dumps({"data_dir": str(data_dir), "tasks": report}, sort_keys=True))
        return
    print(f"data directory: {data_dir}")
    for task, r in report.items():
        print(f"  {task:<9} {r['status']:<9} {r['folder']}/")
        for problem in r["problems"]:
            print(f"      {problem}")


def cmd_data_export(args: argparse.Namespace) -> None:
    from ..data import load_task
    from ..data.export import labelled_rows
    from ..storage import write_csv

    data = load_task(args.task, _data_dir(args))
    header, rows = labelled_rows(data, args.split, args.limit, args.seed)
    write_csv(args.out, [dict(zip(header, r)) for r in rows], header)
    print(f"{len(rows)} {args.task} {args.split} examples ({', '.join(header)}) → {args.out}")


def _seq_len(s: str) -> int | str:
    if s == "auto":
        return s
    try:
        n = int(s)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of tokens or 'auto', got {s!r}"
        )
    return n


def _add_train_data_options(sub: argparse._SubParsersAction) -> None:
    """Options of the user-file tasks and the paper's preprocessing, on ``rnnmod train``.

    Added here rather than in cli.py so that the data layer owns its options; skipped for any
    option cli.py already defines. ``cmd_train`` forwards them to the loader.
    """
    train = sub.choices.get("train")
    if train is None:
        return
    options = [
        (
            "--file",
            {
                "type": Path,
                "help": "your data file, split with a seed (text-classification: CSV/TSV; "
                "tagging: CoNLL, or CoNLL-U by the .conllu suffix)",
            },
        ),
        (
            "--train-file",
            {
                "type": Path,
                "help": "the dataset's own training split, instead of --file (needs --test-file); "
                "labels and vocabulary are fitted on it",
            },
        ),
        (
            "--val-file",
            {
                "type": Path,
                "help": "the dataset's own validation split (optional, with --train-file): the "
                "held-out texts budgets and calibration use",
            },
        ),
        (
            "--test-file",
            {"type": Path, "help": "the dataset's own test split (with --train-file)"},
        ),
        (
            "--text-column",
            {
                "help": "text column name (CSV), token column number (CoNLL, default 0) or "
                "form|lemma (.conllu, default form)"
            },
        ),
        (
            "--label-column",
            {
                "help": "label column name (CSV), tag column number (CoNLL, default -1) or "
                "upos|xpos (.conllu, default upos)"
            },
        ),
        (
            "--tokenizer",
            {
                "choices": ("words-and-symbols", "keras"),
                "default": None,
                "help": "text-classification: how text becomes tokens — words, punctuation and "
                "emoticons each a token (default), or the paper's Keras filters (punctuation "
                "dropped)",
            },
        ),
        (
            "--seq-len",
            {
                "type": _seq_len,
                "default": None,
                "metavar": "N|auto",
                "help": "tokens per text the classifier reads: a number, or 'auto' (the 95th "
                "percentile of the training texts' token counts, 5 to 200); default: the "
                "paper's length for its tasks, auto for text-classification and tagging",
            },
        ),
        (
            "--hold-out",
            {
                "type": float,
                "metavar": "FRAC",
                "help": "keep a seeded FRAC of the training split out of training as the "
                "validation split (for datasets without one): --budget and calibration then "
                "judge on texts the model never saw; the vocabulary is still fitted on the whole "
                "training split",
            },
        ),
        (
            "--legacy-vocab",
            {
                "action": "store_true",
                "help": "reproduce the paper's Keras/TFDS/NLTK-3.8.1 preprocessing (clinc, mathqa, brown, emotions, toxic)",
            },
        ),
    ]
    for flag, kw in options:
        try:
            train.add_argument(flag, **kw)
        except argparse.ArgumentError:
            pass  # cli.py defines it already


def register(sub: argparse._SubParsersAction) -> None:
    from ..choices import DATASETS

    _add_train_data_options(sub)
    p = sub.add_parser("data", help="download datasets and check a data directory")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    f = dsub.add_parser(
        "fetch",
        help="download a dataset from its public source (checksum-verified)",
        description="Download a dataset into the data directory layout, verifying SHA-256 sums.",
    )
    f.add_argument(
        "task",
        choices=[*DATASETS, "all"],
        help="dataset to download ('all': every downloadable one)",
    )
    add_data_dir(f)
    f.add_argument(
        "--base-url",
        default=None,
        help="fetch from a mirror laid out like the data directory (URL/clinc_oos/train.csv, ...) instead of the public hosts",
    )
    f.add_argument("--force", action="store_true", help="download again even if the files verify")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    f.set_defaults(func=cmd_data_fetch)

    c = dsub.add_parser(
        "check", help="report per task whether its files are complete, present or missing"
    )
    add_data_dir(c)
    c.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    c.set_defaults(func=cmd_data_check)

    e = dsub.add_parser(
        "export",
        help="write a task's split as a labelled CSV (for compose --calibrate, evaluate --labelled)",
        description="Write a task's train, validation (Clinc) or test split as the CSV that "
        "`rnnmod compose --calibrate` and `rnnmod evaluate --labelled` read: text,label for one-output tasks, "
        "text,tags (one tag per token the model reads) for taggers.",
    )
    e.add_argument("task", help="a named task (clinc, mathqa, brown, ...)")
    e.add_argument(
        "--split",
        choices=("train", "val", "test"),
        default="test",
        help="val: the validation split where the task has one (Clinc) — held-out texts to "
        "calibrate on (default: test)",
    )
    e.add_argument("--limit", type=int, default=None, help="a seeded random subset of N examples")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", type=Path, required=True, help="CSV file to write")
    add_data_dir(e)
    e.set_defaults(func=cmd_data_export)
