"""How often a translator emits ``<unk>``, and what that costs its BLEU.

sacreBLEU's default tokenizer (13a) reads an emitted ``<unk>`` as three tokens (``< unk >``),
all wrong; this scores each run's greedy translations of its first N test pairs per language
as rnnmod does, with each ``<unk>`` read as one wrong token, with the ``<unk>`` dropped, and
decoded with ``<unk>`` forbidden (``rnnmod evaluate --no-unk``: the best known word in its
place; docs/translation.md, "Where the words go missing").

    .venv/bin/python scripts/translator_unk.py RUN [RUN ...] [--test-per-lang 500]
"""

from __future__ import annotations

import argparse
import json

import torch

from rnnmod.data.vocab import UNK
from rnnmod.runs import load_run
from rnnmod.translation.bleu import sacre_bleu
from rnnmod.translation.data import test_pairs
from rnnmod.translation.decode import Decoding, Route, translate_texts

ONE_TOKEN = "unkxyz"  # a placeholder no reference holds and 13a leaves whole


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--test-per-lang", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    for path in args.runs:
        run = load_run(path)
        test = test_pairs(run, None, run.label_names, args.test_per_lang)
        route = Route(run.model, run.vocab, run.target_vocab)
        sources, langs = [t.source for t in test], [t.lang for t in test]
        trs = translate_texts(lambda _lang, r=route: r, sources, langs)
        banned = translate_texts(
            lambda _lang, r=route: r, sources, langs, decoding=Decoding(no_unk=True)
        )
        tok = run.target_vocab.tokenizer
        per = {}
        for lang in run.label_names:
            idx = [i for i, t in enumerate(test) if t.lang == lang]
            refs = [test[i].target for i in idx]
            words = [trs[i].words for i in idx]
            n_unk = sum(w == UNK for ws in words for w in ws)
            per[lang] = {
                "unk_share": round(n_unk / max(1, sum(map(len, words))), 4),
                "bleu": round(sacre_bleu([trs[i].text for i in idx], refs, tok), 2),
                "unk_one_token": round(
                    sacre_bleu([trs[i].text.replace(UNK, ONE_TOKEN) for i in idx], refs, tok), 2
                ),
                "unk_dropped": round(
                    sacre_bleu([" ".join(w for w in ws if w != UNK) for ws in words], refs, tok), 2
                ),
                "no_unk_decoding": round(sacre_bleu([banned[i].text for i in idx], refs, tok), 2),
            }
        mean = {
            k: round(sum(v[k] for v in per.values()) / len(per), 2)
            for k in ("unk_share", "bleu", "unk_one_token", "unk_dropped", "no_unk_decoding")
        }
        print(json.dumps({"run": path, "mean": mean, "per_language": per}), flush=True)


if __name__ == "__main__":
    main()
