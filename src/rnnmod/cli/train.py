"""``rnnmod train``: a model of the zoo on a task (classifiers, taggers, translators)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import RnnmodError
from .common import add_data_dir, emit


def cmd_train(args: argparse.Namespace) -> None:
    from ..api import train
    from ..storage import check_replaceable

    out = Path(args.out)
    check_replaceable(out, overwrite=args.overwrite, kind="run directory", marker="metrics.json")
    options = {k: getattr(args, k) for k in _TRAIN_OPTIONS if getattr(args, k, None) is not None}
    # the kind's own options, as given: the kind refuses those that do not apply to the task
    for k in _KIND_OPTIONS:
        v = getattr(args, k, None)
        if v is not None and v is not False:
            options[k] = _langs(v) if k == "langs" else v
    run = train(args.task, out=out, overwrite=args.overwrite, progress=not args.quiet, **options)
    m = run.metrics
    if "test_bleu" in m:
        per = ", ".join(f"{k} {v['bleu']:.2f}" for k, v in m["per_language"].items())
        human = (
            f"{run.task} {args.cell}-{args.depth}: test BLEU {m['test_bleu']:.2f} ({per}), "
            f"legacy BLEU-1 {m['test_bleu1_legacy']:.4f} ({m['train_seconds']:.1f} s) → {out}"
        )
    else:
        shape = run.model.cfg.extensions()
        what = f"{args.cell}-{args.depth}" + (f" ({', '.join(shape)})" if shape else "")
        human = f"{run.task} {what}: test accuracy {m['test_accuracy']:.4f} ({m['train_seconds']:.1f} s) → {out}"
    emit(args, {"out": str(out), **m}, human)


_TRAIN_OPTIONS = ("cell", "depth", "epochs", "batch_size", "seed", "limit", "data_dir")
#: options of some kinds or tasks only; unset (None/False) they are not passed, so the kind's
#: defaults apply, and given where they do not apply they are an error naming them
_KIND_OPTIONS = (
    "hidden",
    "embed_dim",
    "max_vocab",
    "seq_len",
    "tokenizer",
    "init",
    "bidirectional",
    "skip_padding",
    "readout",
    "head_hidden",
    "legacy_vocab",
    "hold_out",
    "file",
    "train_file",
    "val_file",
    "test_file",
    "text_column",
    "label_column",
    "langs",
    "test_per_lang",
    "output_layer",
    "bucket",
    "attention",
    "patience",
    "split",
    "lr",
    "label_smoothing",
    "dropout",
    "time_limit",
    "punctuation",
    "clip_norm",
    "lr_decay",
    "precision",
)


def _count(s: str) -> int:
    try:
        n = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def _langs(s: str) -> list[str]:
    langs = [x.strip() for x in s.split(",") if x.strip()]
    if len(langs) < 1 or len(set(langs)) != len(langs):
        raise RnnmodError(f"--langs needs distinct language codes, got {s!r}")
    return langs


def _widths(s: str) -> list[int]:
    try:
        widths = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths like 64 or 128,64, got {s!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected positive widths like 64 or 128,64, got {s!r}")
    return widths


def _parse_depth(s: str) -> int:
    try:
        d = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"depth must be an integer 1-4, got {s!r}") from None
    if not 1 <= d <= 4:
        raise argparse.ArgumentTypeError(f"depth must be 1-4, got {d}")
    return d


def register(sub: argparse._SubParsersAction) -> None:
    from ..choices import CELL_KINDS, CLASSIFIER_TASKS, TRANSLATION_TASKS

    t = sub.add_parser("train", help="train a model of the zoo on a task and write a run directory")
    t.add_argument(
        "--task",
        required=True,
        choices=sorted(CLASSIFIER_TASKS + TRANSLATION_TASKS),
        help="dataset/task",
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
        default=None,
        help="classifiers' weight initialisation: the paper's Keras defaults (Glorot kernels, "
        "orthogonal recurrent kernels, zero biases, LSTM forget bias 1; the default) or "
        "PyTorch's defaults",
    )
    m = t.add_argument_group("model size and vocabulary (every task)")
    m.add_argument(
        "--hidden",
        type=_count,
        default=None,
        help="recurrent units per layer (default: the task's; 100 for classifiers, 256 for "
        "translation)",
    )
    m.add_argument(
        "--embed-dim",
        type=_count,
        default=None,
        help="embedding size (default: the task's; 50, 100 for taggers, 128 for translation)",
    )
    m.add_argument(
        "--max-vocab",
        type=_count,
        default=None,
        help="cap on the vocabulary fitted on the training split, in ids (default: the task's; "
        "5,000 for mathqa, 2,000 for emotions/toxic, none for the others, 30,000 for "
        "translation)",
    )
    st = t.add_argument_group(
        "model structure (classifier tasks, --bidirectional translators too; the paper's "
        "models use none of these)"
    )
    st.add_argument(
        "--bidirectional",
        action="store_true",
        help="both directions in every recurrent layer (translators: in the encoder's, half "
        "the units each way; the decoder reads one way)",
    )
    st.add_argument(
        "--skip-padding",
        action="store_true",
        help="hold each direction's state over padding ids (packed-sequence semantics) instead "
        "of reading them as tokens",
    )
    st.add_argument(
        "--readout",
        choices=["last", "mean", "max"],
        default=None,
        help="what the head reads of an M:1 model: the last step (default), or the mean or max "
        "over the real steps",
    )
    st.add_argument(
        "--head-hidden",
        type=_widths,
        default=None,
        metavar="W[,W…]",
        help="an MLP head: hidden widths (ReLU) before the output layer, e.g. 64 or 128,64",
    )
    t.add_argument(
        "--limit",
        type=int,
        default=None,
        help="keep a seeded random subset of N training examples (classifiers: before the "
        "vocabulary is fitted, so it holds only their words)",
    )
    t.add_argument("--out", required=True, type=Path, help="run directory to write")
    t.add_argument("--overwrite", action="store_true")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_data_dir(t)
    t.set_defaults(func=cmd_train)
