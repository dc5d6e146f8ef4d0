"""``rnnmod train --task tatoeba`` (options added to ``train``) and ``rnnmod translate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .cli import _add_data_dir, read_text_arg, register_command
from .errors import RnnmodError


def load_translation_task(data_dir: Path | None, opts: dict):
    from .translate.data import build_translation_data
    from .translate.evaluate import pairs_for

    return build_translation_data(
        pairs_for(opts, data_dir),
        max_train=opts.get("max_train"),
        max_vocab=opts.get("max_vocab", 30000),
        seed=opts.get("subset_seed", 0),
    )


def data_options(args: argparse.Namespace) -> dict:
    return {
        "langs": _langs(args.langs),
        "max_train": args.limit,
        "max_vocab": args.max_vocab,
        "subset_seed": args.seed,
        "subdir": "main",
        "source": "en",
        "suffix": "_train",
        "split_seed": 19,
    }


def _langs(s: str) -> list[str]:
    langs = [x.strip() for x in s.split(",") if x.strip()]
    if len(langs) < 1 or len(set(langs)) != len(langs):
        raise RnnmodError(f"--langs needs distinct language codes, got {s!r}")
    return langs


def train_translation(args: argparse.Namespace) -> None:
    from .translate.runs import save_translation_run
    from .translate.train import Seq2SeqTrainConfig, train_seq2seq

    opts = data_options(args)
    data = load_translation_task(args.data_dir, opts)
    tc = Seq2SeqTrainConfig(
        cell=args.cell,
        depth=args.depth,
        epochs=args.epochs or 5,
        batch_size=args.batch_size or 64,
        seed=args.seed,
        hidden=args.hidden,
        embed_dim=args.embed_dim,
        test_per_lang=args.test_per_lang,
        progress=not args.quiet,
    )
    model, metrics = train_seq2seq(data, tc)
    config = {
        "task": data.task,
        "cell": args.cell,
        "depth": args.depth,
        "seed": args.seed,
        "data_options": opts,
        "test_per_lang": args.test_per_lang,
    }
    out = save_translation_run(
        Path(args.out),
        model,
        config,
        data.src_vocab,
        data.tgt_vocab,
        data.langs,
        metrics,
        overwrite=args.overwrite,
    )
    per = ", ".join(f"{k} {v['bleu']:.2f}" for k, v in metrics["per_language"].items())
    human = (
        f"{data.task} {args.cell}-{args.depth}: test BLEU {metrics['test_bleu']:.2f} ({per}), "
        f"legacy BLEU-1 {metrics['test_bleu1_legacy']:.4f} ({metrics['train_seconds']:.1f} s) → {out}"
    )
    print(json.dumps({"out": str(out), **metrics}, sort_keys=True) if args.json else human)


def decompose_translation(args: argparse.Namespace, run, out: Path) -> None:
    """``rnnmod decompose`` of a translation run (called from cli_modules)."""
    import sys
    import time

    from .decomposition import preset
    from .translate.decompose import N_POSITIVE, decompose_translator
    from .translate.evaluate import data_for_run
    from .translate.store import save_translation_modules

    if getattr(args, "budget", None) is not None:
        raise RnnmodError("--budget is not supported for translation models")
    if args.gate_strategy == "per-gate":
        raise RnnmodError(
            "translation modules use the hidden-state strategy (no --gate-strategy per-gate)"
        )
    for opt in ("module_output", "padding_module", "channel"):
        if getattr(args, opt, None) is not None:
            raise RnnmodError(
                f"--{opt.replace('_', '-')} applies to classifiers; a translation module has no head to channel"
            )
    if out.exists() and not args.overwrite:
        raise RnnmodError(f"{out} already exists; pass --overwrite to replace it")
    overrides = {
        "mode": args.mode,
        "max_remove": args.max_remove,
        "n_positive": args.n_positive or N_POSITIVE,
        "seed": args.seed,
        "observe_steps": args.observe_steps,
        "sampling": args.sampling,
        "min_observations": args.min_observations,
    }
    cfg = preset(args.preset, **overrides)
    data = data_for_run(run, args.data_dir)
    start = time.perf_counter()
    dec = decompose_translator(run, data, cfg)
    seconds = time.perf_counter() - start
    for w in dec.warnings:
        print(f"rnnmod: warning: {w}", file=sys.stderr)
    extra = {
        "task": run.task,
        "mode": cfg.mode,
        "config": cfg.to_dict(),
        "config_hash": cfg.hash(),
        "n_observed_examples": 0 if dec.samples is None else len(dec.samples.union),
        "warnings": dec.warnings,
        "data_notes": data.notes,
        "timings": {k: round(v, 4) for k, v in dec.timings.items()},
    }
    save_translation_modules(out, dec.modules, extra, overwrite=args.overwrite)
    retained = sum(m.retained() for m in dec.modules) / len(dec.modules)
    obj = {
        "out": str(out),
        "reused": False,
        "n_modules": len(dec.modules),
        "retained_units": retained,
        "seconds": round(seconds, 3),
    }
    print(
        json.dumps(obj, sort_keys=True)
        if args.json
        else f"{len(dec.modules)} language modules ({cfg.preset}, {cfg.mode}) in {seconds:.2f} s, "
        f"{retained:.1%} of decoder units retained → {out}"
    )


def evaluate_translation(args: argparse.Namespace) -> None:
    """``rnnmod evaluate`` of a translation module set (called from cli_modules)."""
    from .translate.evaluate import TEST_PER_LANG, evaluate_translator
    from .translate.store import load_translation_modules

    tr = load_translation_modules(Path(args.mods))
    res = evaluate_translator(
        tr, args.data_dir, getattr(args, "test_per_lang", None) or TEST_PER_LANG
    )
    if args.json:
        print(json.dumps(res, sort_keys=True))
        return
    print(
        f"{res['task']} {res['cell']}-{res['depth']} {res['mode']} ({res['preset']}), "
        f"{res['n_modules']} language modules, {res['n_test']} test pairs"
    )
    for lang, v in res["per_language"].items():
        print(
            f"  {lang}: BLEU monolithic {v['monolithic']:6.2f}  composed {v['composed']:6.2f}  "
            f"Δ {v['delta']:+.2f}   BLEU-1 (legacy) {v['monolithic_bleu1_legacy']:.4f} → "
            f"{v['composed_bleu1_legacy']:.4f}   retained {v['retained_units']:.1%}"
        )
    print(
        f"  mean: BLEU monolithic {res['monolithic']:.2f}  composed {res['composed']:.2f}  "
        f"Δ {res['delta']:+.2f}  ({res['seconds']:.1f} s)"
    )
    print(
        f"  Jaccard (legacy) {res['jaccard_legacy']:.4f}   Jaccard (mask) {res['jaccard_mask']:.4f}   "
        f"retained decoder units {res['retained_units']:.1%}"
    )


def compose_translation(args: argparse.Namespace) -> None:
    """``rnnmod compose`` of translation module sets: pick language modules (``lang`` or
    ``N:lang``) from one or more sets into one translator that routes by language."""
    from .composition.compose import _parse_choice
    from .translate.store import (
        is_translation_set,
        load_translation_modules,
        save_translation_modules,
    )

    paths = [Path(p) for p in args.mods]
    bad = [str(p) for p in paths if not is_translation_set(p)]
    if bad:
        raise RnnmodError(f"cannot compose translation modules with classifier modules ({bad[0]})")
    sets = [load_translation_modules(p) for p in paths]
    picked = []
    for choice in [x.strip() for x in args.labels.split(",") if x.strip()]:
        which, lang = _parse_choice(choice, len(sets))
        hits = [s for i, s in enumerate(sets) if (which is None or i == which) and lang in s.langs]
        if not hits:
            known = sorted({x for s in sets for x in s.langs})
            raise RnnmodError(f"no module for language {lang!r}; available: {', '.join(known)}")
        if len(hits) > 1:
            raise RnnmodError(
                f"language {lang!r} exists in several module sets; write N:{lang} with N the set's position (1-based)"
            )
        picked.append(hits[0].modules[lang])
    if not picked:
        raise RnnmodError("choose the languages to compose (--labels fr,2:ua)")
    modes = {s.manifest.get("mode") for s in sets}
    extra = {
        "task": "composed",
        "mode": modes.pop() if len(modes) == 1 else "mixed",
        "composed_from": [str(p) for p in paths],
    }
    out = save_translation_modules(Path(args.out), picked, extra, overwrite=args.overwrite)
    langs = [m.lang for m in picked]
    print(
        json.dumps({"out": str(out), "labels": langs})
        if args.json
        else f"composed {len(langs)} language modules ({', '.join(langs)}) → {out}"
    )


def reproduce_tatoeba(args: argparse.Namespace, cells: list[str]) -> None:
    """``rnnmod reproduce rq1|rq3 --tasks tatoeba``: the encoder-decoder rows of Table II (RQ1)
    and of Table IV (RQ3, translation replace)."""
    from .experiments.rq1 import parse_depths
    from .translate.rq1 import TatoebaRQ1Options, run_tatoeba_rq1

    opts = TatoebaRQ1Options(
        cells=cells,
        depths=parse_depths(args.depths or "1,2"),
        modes=[x.strip() for x in args.modes.split(",") if x.strip()],
        presets=[x.strip() for x in args.presets.split(",") if x.strip()],
        runs_dir=args.runs_dir,
        results_dir=args.results_dir,
        data_dir=args.data_dir,
        epochs=args.epochs,
        test_per_lang=args.max_test or 500,
        progress=not args.quiet,
    )
    if args.what == "rq3":
        from .translate.replace import run_tatoeba_rq3

        rows = run_tatoeba_rq3(opts)
        line = "  {cell} {mode:9s} depth {faulty_depth} ← {best_depth} {class}: BLEU {faulty_bleu:.2f} → {composed_bleu:.2f} (Δ {delta:+.2f})"
    else:
        rows = run_tatoeba_rq1(opts)
        line = "  {cell}-{depth} {preset:8s} {mode:9s} {pair}: BLEU {monolithic:.2f} → {composed:.2f} (Δ {delta:+.2f})"
    if args.json:
        print(json.dumps({"rows": rows}, sort_keys=True))
        return
    name = f"{args.what}_tatoeba"
    print(f"wrote {args.results_dir / (name + '.csv')} and {args.results_dir / (name + '.md')}")
    for r in rows:
        print(line.format(**r))


def cmd_scenario(args: argparse.Namespace) -> None:
    from .experiments.scenarios import ScenarioOptions, run_scenario

    res = run_scenario(
        ScenarioOptions(
            scenario=args.name,
            cell=args.cell,
            depth=args.depth,
            mode=args.mode,
            runs_dir=args.runs_dir,
            results_dir=args.results_dir,
            data_dir=args.data_dir,
            epochs=args.epochs,
            hidden=args.hidden,
            max_train_per_lang=args.max_train_per_lang,
            progress=not args.quiet,
        )
    )
    if args.json:
        print(json.dumps(res, sort_keys=True))
        return
    md = args.results_dir / f"scenario_{res['scenario']}.md"
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md} and {md.with_suffix('.json')}")


def cmd_translate(args: argparse.Namespace) -> None:
    from .translate.decode import check_lang, translate_texts
    from .translate.store import open_translator

    # options may follow the sentences (``translate RUN --to fr "text"``): parse them intermixed
    rest = argparse.ArgumentParser(prog="rnnmod translate", add_help=False)
    rest.add_argument("--to", default=args.to)
    rest.add_argument("--file", type=Path, default=args.file)
    rest.add_argument("--json", action="store_true", default=args.json)
    rest.add_argument("--data-dir", type=Path, default=args.data_dir)
    rest.add_argument("words", nargs="*")
    usage = "usage: rnnmod translate RUN_OR_MODS --to LANG [TEXT ...]"
    try:
        parsed = rest.parse_intermixed_args(args.args)
    except SystemExit:
        raise RnnmodError(usage) from None
    args.to, args.file, args.json = parsed.to, parsed.file, parsed.json
    if not parsed.words:
        raise RnnmodError(usage)
    if not args.to:
        raise RnnmodError("say which language to translate into with --to (e.g. --to fr)")
    source, *texts = parsed.words
    tr = open_translator(Path(source))
    check_lang(args.to, tr.langs, source)
    if args.file:
        texts += read_text_arg(args.file).splitlines()
    if not texts:
        raise RnnmodError("give sentences to translate as arguments or with --file")
    out = translate_texts(tr.route, texts, [args.to] * len(texts), warn=True)
    if args.json:
        rows = [{"text": t, "translation": o.text, "ended": o.ended} for t, o in zip(texts, out)]
        print(json.dumps({"to": args.to, "translations": rows}, ensure_ascii=False))
    else:
        for o in out:
            print(o.text)


@register_command
def _register(sub: argparse._SubParsersAction) -> None:
    t = sub.choices.get("train")
    if t is not None:
        g = t.add_argument_group("translation (--task tatoeba; --limit caps the training pairs)")
        g.add_argument("--hidden", type=int, default=256, help="recurrent units (default 256)")
        g.add_argument("--embed-dim", type=int, default=128, help="embedding size (default 128)")
        g.add_argument("--max-vocab", type=int, default=30000, help="words per vocabulary")
        g.add_argument("--langs", default="fr,de,it", help="target languages (default fr,de,it)")
        g.add_argument(
            "--test-per-lang", type=int, default=500, help="test pairs per language for BLEU"
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
    _add_data_dir(p)
    p.set_defaults(func=cmd_translate)

    s = sub.add_parser(
        "scenario",
        help="the paper's motivating scenarios: add-language (Ukrainian) or fix-language (Estonian-English)",
    )
    s.add_argument(
        "name",
        choices=("add-language", "fix-language"),
        help="add-language: give an en→fr/de/it translator Ukrainian from another model's module; "
        "fix-language: replace the weak English module of an et→en/de/it translator "
        "(docs/translation.md, paper-method §12)",
    )
    s.add_argument(
        "--cell", default="lstm", choices=("lstm", "gru", "rnn", "rnn-relu"), help="default lstm"
    )
    s.add_argument("--depth", type=int, default=1, choices=(1, 2, 3, 4), help="default 1")
    s.add_argument(
        "--mode", default="rolled", choices=("rolled", "unrolled"), help="modules (default rolled)"
    )
    s.add_argument("--epochs", type=int, default=3, help="training epochs per model (default 3)")
    s.add_argument("--hidden", type=int, default=256, help="recurrent units (default 256)")
    s.add_argument(
        "--max-train-per-lang",
        type=int,
        default=4000,
        help="training pairs per target language (seeded subset; default 4000)",
    )
    s.add_argument(
        "--runs-dir",
        type=Path,
        default=Path("runs/scenarios"),
        help="where the scenario's models are trained (reused when present)",
    )
    s.add_argument(
        "--results-dir",
        type=Path,
        default=Path("results"),
        help="writes scenario_<name>.{md,json} there",
    )
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    _add_data_dir(s)
    s.set_defaults(func=cmd_scenario)
