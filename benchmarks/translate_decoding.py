"""Batched greedy decoding of the Tatoeba test set: cached decoder state (rnnmod) vs re-running
the whole prefix at every step (the authors' ``decode_sequence``, here batched too), for the
monolithic model and its rolled / unrolled language modules.

    .venv/bin/python benchmarks/translate_decoding.py --threads 1 [--run runs/tatoeba-lstm1]

Writes ``benchmarks/results/translate_decoding.json`` (sentences per second; the prefix
re-run is timed on ``--naive-n`` sentences only and checked to emit the same tokens).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, result_header, write_result  # noqa: E402


@torch.no_grad()
def prefix_rerun(model, src, start, end, steps):
    """The authors' decoding: at step i run encoder + decoder over the whole prefix."""
    prefix = start.unsqueeze(1)
    for _ in range(steps):
        nxt = model(src, prefix)[:, -1].argmax(-1)
        prefix = torch.cat([prefix, nxt.unsqueeze(1)], 1)
    return prefix[:, 1:]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", type=Path, default=ROOT / "runs" / "tatoeba-lstm1")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--per-lang", type=int, default=500)
    p.add_argument("--naive-n", type=int, default=200)
    p.add_argument(
        "--data-dir", default=os.environ.get("RNNMOD_DATA", str(ROOT.parent / "shared" / "data"))
    )
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from rnnmod.decomposition import preset
    from rnnmod.kinds.translator import N_POSITIVE, TRANSLATOR
    from rnnmod.runs import load_run
    from rnnmod.translation.data import data_for_run, end_token, start_token, test_pairs
    from rnnmod.translation.decode import Route, translate_texts

    run = load_run(args.run)
    test = test_pairs(run, args.data_dir, run.langs, args.per_lang)
    texts, langs = [x.source for x in test], [x.lang for x in test]
    data = data_for_run(run, args.data_dir)
    result = result_header("translate_decoding", argv)
    result |= {"run": str(args.run), "n_sentences": len(test), "cases": {}}
    mono = Route(run.model, run.vocab, run.target_vocab)
    cases = {"monolithic": lambda _lang: mono}
    for mode in ("rolled", "unrolled"):
        cfg = preset("default", mode=mode, n_positive=N_POSITIVE)
        bank = TRANSLATOR.decompose(run, data, cfg).bank
        routes = {
            run.langs[c]: Route(run.model, run.vocab, run.target_vocab, m)
            for c, m in zip(bank.class_index, bank.masks, strict=True)
        }
        cases[f"composed {mode}"] = routes.__getitem__
    for name, route in cases.items():
        t0 = time.perf_counter()
        translate_texts(route, texts, langs)
        s = time.perf_counter() - t0
        result["cases"][name] = {
            "seconds": round(s, 3),
            "sentences_per_second": round(len(test) / s, 1),
        }
    # the authors' way, on a subset of one language, checked against the cached decoder
    lang = run.langs[0]
    sub = [x.source for x in test if x.lang == lang][: args.naive_n]
    src = run.vocab.encode_texts(sub)
    ix = run.target_vocab._index
    start = torch.full((len(sub),), ix[start_token(lang)])
    end = torch.full((len(sub),), ix[end_token(lang)])
    t0 = time.perf_counter()
    fast = run.model.greedy(src, start, end)
    fast_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive = prefix_rerun(run.model, src, start, end, run.model.cfg.tgt_len)
    naive_s = time.perf_counter() - t0
    same = all(
        f[: (f.index(e) + 1 if e in f else len(f))] == n[: (f.index(e) + 1 if e in f else len(f))]
        for f, n, e in zip(fast.tolist(), naive.tolist(), end.tolist())
    )
    result["prefix_rerun"] = {
        "n_sentences": len(sub),
        "cached_seconds": round(fast_s, 3),
        "rerun_seconds": round(naive_s, 3),
        "speedup": round(naive_s / fast_s, 2),
        "same_tokens": same,
    }
    path = write_result(args.out, "translate_decoding", result)
    print(path)
    for k, v in result["cases"].items():
        print(f"{k:18s} {v['sentences_per_second']:8.1f} sentences/s")
    print(f"prefix re-run: {result['prefix_rerun']}")


if __name__ == "__main__":
    main()
