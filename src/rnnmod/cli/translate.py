"""``rnnmod train --task tatoeba`` (options added to ``train``) and ``rnnmod translate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..choices import ATTENTIONS, LR_DECAYS, PRECISIONS, PUNCTUATION
from ..errors import RnnmodError
from .common import add_data_dir, read_text_arg


def cmd_translate(args: argparse.Namespace) -> None:
    from ..api import load, translate

    # options may follow the sentences (``translate RUN --to fr "text"``): parse them intermixed
    rest = argparse.ArgumentParser(prog="rnnmod translate", add_help=False)
    rest.add_argument("--to", default=args.to)
    rest.add_argument("--file", type=Path, default=args.file)
    rest.add_argument("--json", action="store_true", default=args.json)
    rest.add_argument("--beam", type=int, default=args.beam)
    rest.add_argument("--no-unk", action="store_true", default=args.no_unk)
    rest.add_argument("--data-dir", type=Path, default=args.data_dir)
    rest.add_argument("words", nargs="*")
    usage = "usage: rnnmod translate RUN_OR_MODS --to LANG [TEXT ...]"
    try:
        parsed = rest.parse_intermixed_args(args.args)
    except SystemExit:
        raise RnnmodError(usage) from None
    if not parsed.words:
        raise RnnmodError(usage)
    if not parsed.to:
        raise RnnmodError("say which language to translate into with --to (e.g. --to fr)")
    path, *texts = parsed.words
    source = load(path)
    translate(source, [], parsed.to)  # a wrong model or language fails before the texts are read
    if parsed.file:
        texts += read_text_arg(parsed.file).splitlines()
    if not texts:
        raise RnnmodError("give sentences to translate as arguments or with --file")
    out = translate(source, texts, parsed.to, warn=True, beam=parsed.beam, no_unk=parsed.no_unk)
    if parsed.json:
        rows = [
            {"text": t, "translation": o.sentence, "tokens": o.words, "ended": o.ended}
            for t, o in zip(texts, out)
        ]
        print(json.dumps({"to": parsed.to, "translations": rows}, ensure_ascii=False))
    else:
        for o in out:
            print(o.sentence)


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.choices.get("train")
    if t is not None:
        g = t.add_argument_group("translation (--task tatoeba; --limit caps the training pairs)")
        g.add_argument("--langs", default=None, help="target languages (default fr,de,it)")
        g.add_argument(
            "--test-per-lang",
            type=int,
            default=None,
            help="test pairs per language for BLEU (default 500)",
        )
        g.add_argument(
            "--output-layer",
            choices=("softmax", "adaptive"),
            default=None,
            help="the decoder's output layer: softmax over the target vocabulary (default, the "
            "paper's) or an adaptive softmax (faster training; exact log-probabilities at "
            "inference; docs/translation.md)",
        )
        g.add_argument(
            "--attention",
            choices=ATTENTIONS,
            default=None,
            help="none (default, the paper's model), luong (the 'general' score) or bahdanau "
            "(the additive score): global attention over the encoder's outputs on top of the "
            "decoder (docs/translation.md)",
        )
        g.add_argument(
            "--patience",
            type=int,
            default=None,
            metavar="N",
            help="early stopping: stop after N epochs without a lower validation loss and keep "
            "the best epoch (default: train every --epochs)",
        )
        g.add_argument(
            "--bucket",
            action="store_true",
            help="batches of pairs of similar target length (faster training; docs/translation.md)",
        )
        g.add_argument(
            "--split",
            choices=("lines", "paper"),
            default=None,
            help="lines (default): the aligned lines are split, so no test source sentence is "
            "seen in training; paper: the authors' split of the shuffled pairs, where most test "
            "sources occur in training with another target language",
        )
        g.add_argument(
            "--lr", type=float, default=None, help="Adam learning rate (default 1e-3, the paper's)"
        )
        g.add_argument(
            "--label-smoothing",
            type=float,
            default=None,
            metavar="EPS",
            help="label smoothing of the training loss (default 0; docs/translation.md)",
        )
        g.add_argument(
            "--dropout",
            type=float,
            default=None,
            metavar="P",
            help="dropout on the embeddings and the output layer's input in training (default 0)",
        )
        g.add_argument(
            "--clip-norm",
            type=float,
            default=None,
            metavar="NORM",
            help="rescale the gradients to at most this global L2 norm before each step "
            "(default: no clipping)",
        )
        g.add_argument(
            "--lr-decay",
            choices=LR_DECAYS,
            default=None,
            help="none (default): a constant learning rate; linear: it falls to 0 over the "
            "run, its --epochs or its --time-limit, whichever ends it (docs/translation.md)",
        )
        g.add_argument(
            "--precision",
            choices=PRECISIONS,
            default=None,
            help="fp32 (default): training in float32; bf16: the forward and backward passes "
            "in bfloat16 autocast (weights, optimiser and evaluation stay float32; faster on "
            "CPUs with AVX-512 BF16, docs/translation.md)",
        )
        g.add_argument(
            "--time-limit",
            type=float,
            default=None,
            metavar="MINUTES",
            help="stop training at the first batch after MINUTES of wall time, validate the "
            "partial epoch and keep the best validated weights (default: no limit)",
        )
        g.add_argument(
            "--punctuation",
            choices=PUNCTUATION,
            default=None,
            help="strip (default, the paper's preprocessing): lower-case words only; keep: "
            "punctuation marks are tokens of source and target, so the model translates them "
            "and BLEU scores them (docs/translation.md)",
        )

    p = sub.add_parser(
        "translate", help="translate English sentences with a translation run or module set"
    )
    p.add_argument(
        "args",
        nargs=argparse.REMAINDER,
        metavar="RUN_OR_MODS [TEXT ...]",
        help="a translation run or module set, then the sentences",
    )
    p.add_argument("--to", help="target language (e.g. fr)")
    p.add_argument("--file", type=Path, help="one sentence per line")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument(
        "--beam",
        type=int,
        default=1,
        metavar="N",
        help="beam search with N hypotheses per sentence (default 1: greedy decoding)",
    )
    p.add_argument(
        "--no-unk",
        action="store_true",
        help="never write <unk>: the most probable known word instead (a model trained on a "
        "capped target vocabulary writes <unk> for the words it lacks)",
    )
    add_data_dir(p)
    p.set_defaults(func=cmd_translate)
