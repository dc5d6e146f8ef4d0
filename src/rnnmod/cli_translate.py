"""``rnnmod train --task tatoeba`` (options added to ``train``) and ``rnnmod translate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .cli import _add_data_dir, read_text_arg, register_command
from .errors import RnnmodError


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
    from .api import load, translate

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
    out = translate(source, texts, parsed.to, warn=True)
    if parsed.json:
        rows = [{"text": t, "translation": o.text, "ended": o.ended} for t, o in zip(texts, out)]
        print(json.dumps({"to": parsed.to, "translations": rows}, ensure_ascii=False))
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
