"""BLEU of a translation run on its first N test (or validation) pairs per language, greedy
and with beams.

``rnnmod evaluate`` scores a module set against its source model; this scores one run alone
with several beam widths and length penalties (the numbers beside each trained translator in
docs/translation.md). ``--pairs val`` scores validation pairs, on which a decoding setting may
be chosen without looking at the test split.

    .venv/bin/python scripts/translator_bleu.py RUN [--beams 1,5] [--test-per-lang 500|all]
        [--pairs test|val] [--length-penalties 0.6]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from rnnmod.nn.seq2seq import LENGTH_PENALTY
from rnnmod.runs import load_run
from rnnmod.translation.data import pairs_for, test_by_language
from rnnmod.translation.decode import Decoding, Route, bleu_report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run")
    p.add_argument("--beams", default="1,5", help="beam widths, comma-separated (1 = greedy)")
    p.add_argument(
        "--test-per-lang",
        default="500",
        help="test pairs per language: a number, or 'all' for the whole test split",
    )
    p.add_argument("--pairs", choices=("test", "val"), default="test")
    p.add_argument(
        "--length-penalties",
        default=str(LENGTH_PENALTY),
        help="beam search's length normalisation exponents, comma-separated",
    )
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    run = load_run(args.run)
    n = None if args.test_per_lang == "all" else int(args.test_per_lang)
    split = pairs_for(run.config.get("data_options", {}), None)
    test = test_by_language(getattr(split, args.pairs), run.label_names, n)
    route = Route(run.model, run.vocab, run.target_vocab)
    settings = [
        (int(b), float(lp))
        for b in args.beams.split(",")
        for lp in (args.length_penalties.split(",") if int(b) > 1 else [LENGTH_PENALTY])
    ]
    for beam, lp in settings:
        t0 = time.perf_counter()
        r = bleu_report(lambda _lang: route, test, Decoding(beam=beam, length_penalty=lp))
        row = {
            "run": args.run,
            "pairs": args.pairs,
            "beam": beam,
            "length_penalty": lp,
            "bleu": r["bleu"],
            "per_language": {k: v["bleu"] for k, v in r["per_language"].items()},
            "pairs_per_language": {k: v["n"] for k, v in r["per_language"].items()},
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
