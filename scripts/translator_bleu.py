"""BLEU of a translation run on its first N test pairs per language, greedy and with beams.

``rnnmod evaluate`` scores a module set against its source model; this scores one run alone
with several beam widths (the numbers beside each trained translator in docs/translation.md).

    .venv/bin/python scripts/translator_bleu.py RUN [--beams 1,5] [--test-per-lang 500|all]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from rnnmod.runs import load_run
from rnnmod.translation.data import test_pairs
from rnnmod.translation.decode import Route, bleu_report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run")
    p.add_argument("--beams", default="1,5", help="beam widths, comma-separated (1 = greedy)")
    p.add_argument(
        "--test-per-lang",
        default="500",
        help="test pairs per language: a number, or 'all' for the whole test split",
    )
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    run = load_run(args.run)
    n = None if args.test_per_lang == "all" else int(args.test_per_lang)
    test = test_pairs(run, None, run.label_names, n)
    route = Route(run.model, run.vocab, run.target_vocab)
    for beam in (int(b) for b in args.beams.split(",")):
        t0 = time.perf_counter()
        r = bleu_report(lambda _lang: route, test, beam)
        row = {
            "run": args.run,
            "beam": beam,
            "bleu": r["bleu"],
            "per_language": {k: v["bleu"] for k, v in r["per_language"].items()},
            "pairs_per_language": {k: v["n"] for k, v in r["per_language"].items()},
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
