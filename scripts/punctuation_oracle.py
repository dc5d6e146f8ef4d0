"""How much BLEU punctuation is worth to a translator trained on stripped text.

A ``--punctuation strip`` model (the paper's preprocessing) emits no punctuation. Its greedy
translations of the first N test pairs per language are scored three ways: as rnnmod scores
them (references stripped too), against lower-cased references with their punctuation
(sacreBLEU's 13a tokenisation), and with each reference's own sentence-final marks appended to
the translation (an oracle for the final mark only). The gap between the last two and the first
says how far BLEU on punctuated text differs from rnnmod's.

    .venv/bin/python scripts/punctuation_oracle.py RUN [--test-per-lang 500]
"""

from __future__ import annotations

import argparse
import re

import sacrebleu
import torch

from rnnmod import load_run
from rnnmod.translation.data import target_words, test_pairs
from rnnmod.translation.decode import Route, translate_texts

FINAL_MARKS = re.compile(r"[.?!…]*\s*$")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--test-per-lang", type=int, default=500)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = load_run(args.run)
    test = test_pairs(run, args.data_dir, run.label_names, args.test_per_lang)
    route = Route(run.model, run.vocab, run.target_vocab)
    out = translate_texts(lambda _l: route, [p.source for p in test], [p.lang for p in test])
    print("| language | stripped (rnnmod) | punctuated references | + oracle final mark |")
    print("|---|---|---|---|")
    for lang in run.label_names:
        idx = [i for i, p in enumerate(test) if p.lang == lang]
        hyps = [out[i].text for i in idx]
        refs = [test[i].target for i in idx]
        lower = [r.lower() for r in refs]
        tails = [FINAL_MARKS.search(r.strip()).group(0).strip() for r in refs]  # type: ignore[union-attr]
        scores = [
            sacrebleu.corpus_bleu(hyps, [[" ".join(target_words(r)) for r in refs]]).score,
            sacrebleu.corpus_bleu(hyps, [lower]).score,
            sacrebleu.corpus_bleu([h + t for h, t in zip(hyps, tails)], [lower]).score,
        ]
        print(f"| {lang} | " + " | ".join(f"{s:.2f}" for s in scores) + " |")


if __name__ == "__main__":
    main()
