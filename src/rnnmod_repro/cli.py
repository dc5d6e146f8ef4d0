"""The reproduction's command line: ``rnnmod reproduce`` and ``rnnmod scenario``.

The core command line passes these two commands through (:mod:`rnnmod.cli_plugins`): it hands
:func:`run` the command's name and the arguments after it, after applying its own global
options (``--threads``, ``--debug``). Errors are raised as :class:`rnnmod.errors.RnnmodError`,
which the core prints as ``rnnmod: error: <one line>`` with exit status 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rnnmod import RnnmodError
from rnnmod.cli.common import add_data_dir

from .recipes import RECIPES


def parse_depths(s: str) -> list[int]:
    """A ``--depths`` value (``1-4``, ``1,3``) as the list of depths it names."""
    out: list[int] = []
    for part in s.split(","):
        a, _, b = part.partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            raise RnnmodError(f"invalid depth list {s!r}; use e.g. 1-4 or 1,3") from None
        out += list(range(lo, hi + 1))
    if not out or any(not 1 <= d <= 4 for d in out):
        raise RnnmodError(f"depths must be within 1-4, got {s!r}")
    return out


def _csv(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def _one_mode(args: argparse.Namespace) -> str | None:
    """rq2/rq3 use one mode: the one given, or None (unrolled where it exists) by default."""
    return None if args.modes == "rolled,unrolled" else args.modes


def _one_preset(args: argparse.Namespace) -> str:
    """rq2/rq3 use one preset: the first given, or ``default`` when --presets is untouched."""
    return _csv(args.presets)[0] if args.presets != "default,paper" else "default"


def _rq1_options(args: argparse.Namespace, cells: list[str], depths: str) -> dict:
    """The options RQ1 of classifiers and of translators share (``depths``: the default)."""
    return dict(
        cells=cells,
        depths=parse_depths(args.depths or depths),
        modes=_csv(args.modes),
        presets=_csv(args.presets),
        runs_dir=args.runs_dir,
        results_dir=args.results_dir,
        data_dir=args.data_dir,
        epochs=args.epochs,
        progress=not args.quiet,
    )


def _print_rows(args: argparse.Namespace, rows: list[dict], wrote: str, unit: str = "rows") -> None:
    """One JSON object with the rows (--json), else the line naming what was written."""
    if args.json:
        print(json.dumps({"rows": rows}, sort_keys=True))
    else:
        print(f"wrote {wrote} ({len(rows)} {unit})")


TRAINED = ("runs_dir", "results_dir", "data_dir", "epochs")  # where runs are trained and kept
TRANSLATORS = ("recipe", "time_limit")  # rq1 and rq3 of --tasks tatoeba
ALWAYS = ("help", "what", "quiet", "json")


def _reads(args: argparse.Namespace) -> tuple[str, ...]:
    """The options ``reproduce args.what`` reads; any other given to it is refused, not
    ignored."""
    what, grid = args.what, ("tasks", "cells", "depths")
    if what in ("budget", "learned-curve"):
        return (*grid, *TRAINED)
    if what == "report":
        return ("results_dir",)
    if what == "all":
        return ("profile", "runs_dir", "results_dir", "data_dir", "executor", "workers",
                "address", "retries", "pairs_per_task")  # fmt: skip
    if what == "d1":
        return (*grid, "runs_dir", "results_dir", "data_dir")
    if what == "rq1":
        return (*grid, "modes", "presets", *TRAINED, "max_test", *TRANSLATORS)
    common = (*grid, "modes", "presets", *TRAINED, "inter")
    if args.inter:
        return (*common, "legacy_rule", "max_combos")
    if what == "rq2":
        return (*common, "max_test", "max_pairs", "legacy_baseline")
    return (*common, "legacy_rule", "max_test", "calibrate_on", *TRANSLATORS)


def _refuse_unread(args: argparse.Namespace) -> None:
    """One line naming the options ``args.what`` would ignore, if any was given."""
    reads = _reads(args)
    parser = reproduce_parser()
    given = [
        a.option_strings[0]
        for a in parser._actions
        if a.dest not in (*reads, *ALWAYS) and getattr(args, a.dest) != a.default
    ]
    if given:
        named = ", ".join(f"--{d.replace('_', '-')}" for d in reads)
        raise RnnmodError(
            f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to reproduce "
            f"{args.what} (it reads {named})"
        )


def _curve(args: argparse.Namespace, task: str | None, cells: list[str]) -> None:
    """``reproduce budget`` (the rank method's curve) or ``learned-curve`` (the learned masks')."""
    if task is None:
        raise RnnmodError(f"reproduce {args.what} takes one task (--task clinc)")
    if args.what == "budget":
        from .retention_curve import BudgetOptions as Options
        from .retention_curve import run_budget as sweep

        name, depths, unit = "budget", "1,2", "rows"
    else:
        from .learned_curve import CurveOptions as Options
        from .learned_curve import run_learned_curve as sweep

        name, depths, unit = "learned_curve", "1", "checkpoints"
    rows = sweep(
        Options(
            task=task,
            cells=cells,
            depths=parse_depths(args.depths or depths),
            runs_dir=args.runs_dir,
            results_dir=args.results_dir,
            data_dir=args.data_dir,
            epochs=args.epochs,
            progress=not args.quiet,
        )
    )
    wrote = f"{args.results_dir / name}.csv, {name}.md and {name}.png"
    _print_rows(args, rows, wrote, unit=unit)


def cmd_reproduce(args: argparse.Namespace) -> None:
    from rnnmod.data import LOADERS
    from rnnmod.nn.cells import CELL_KINDS

    from .rq1_cost import RQ1Options, run_rq1, summarize

    _refuse_unread(args)
    curves = ("budget", "learned-curve")
    tasks = _csv(args.tasks or ("clinc" if args.what in curves else "mathqa,clinc"))
    cells = _csv(args.cells)
    if (
        args.what in ("rq1", "rq3") and "tatoeba" in tasks
    ):  # encoder-decoder rows: rnnmod.translation
        reproduce_tatoeba(args, cells)
        tasks = [t for t in tasks if t != "tatoeba"]
        if not tasks:
            return
    if args.recipe != "paper" or args.time_limit is not None:
        raise RnnmodError("--recipe and --time-limit are for the translators (--tasks tatoeba)")
    for t in tasks:
        if t not in LOADERS:
            raise RnnmodError(f"unknown task {t!r}; available: {', '.join(sorted(LOADERS))}")
    for c in cells:
        if c not in CELL_KINDS:
            raise RnnmodError(f"unknown cell {c!r}; expected one of {', '.join(CELL_KINDS)}")
    if args.what in curves:
        _curve(args, tasks[0] if len(tasks) == 1 else None, cells)
        return
    if args.what == "report":
        from .report import build_report

        md, page = build_report(args.results_dir)
        print(
            json.dumps({"md": str(md), "html": str(page)})
            if args.json
            else f"wrote {md} and {page}"
        )
        return
    if args.what == "all":
        from .profile import run_all

        timing = run_all(
            args.profile,
            runs_dir=args.runs_dir,
            results_dir=args.results_dir,
            data_dir=args.data_dir,
            progress=not args.quiet,
            executor=args.executor,
            workers=args.workers,
            address=args.address,
            retries=args.retries,
            pairs_per_task=args.pairs_per_task,
        )
        if args.json:
            print(json.dumps({"seconds": timing}, sort_keys=True))
        else:
            print(
                f"{args.profile} profile done in {timing['total']:.0f} s → "
                f"{args.results_dir / 'report.md'}, {args.results_dir / 'report.html'}"
            )
        return
    if args.what in ("rq2", "rq3"):
        # the options intra and inter reuse/replace share
        common = dict(
            cells=cells,
            depths=parse_depths(args.depths or "1"),
            mode=_one_mode(args),
            preset=_one_preset(args),
            runs_dir=args.runs_dir,
            results_dir=args.results_dir,
            data_dir=args.data_dir,
            epochs=args.epochs,
            rule="paper" if args.legacy_rule else "calibrated",
            progress=not args.quiet,
        )
        name = f"{args.what}_inter" if args.inter else args.what
        if args.inter:
            from .inter import run_inter
            from .inter_problems import PROBLEMS, InterOptions

            problems = [p for p, (one, _many) in PROBLEMS.items() if one in tasks]
            if not problems:
                raise RnnmodError("--inter needs --tasks mathqa (1:1-1:N) and/or clinc (M:1-M:N)")
            rows = run_inter(
                "reuse" if args.what == "rq2" else "replace",
                InterOptions(problems=problems, max_combos=args.max_combos, **common),
            )
        else:
            from .intra_models import RQ23Options
            from .intra_replace import run_rq3
            from .intra_reuse import run_rq2

            opts = RQ23Options(
                tasks=tasks,
                max_test=args.max_test,
                max_pairs=args.max_pairs,
                legacy_baseline=args.legacy_baseline,
                calibrate_on=args.calibrate_on,
                **common,
            )
            rows = run_rq2(opts) if args.what == "rq2" else run_rq3(opts)
        _print_rows(args, rows, f"{args.results_dir / (name + '.csv')} and .md")
        return
    if args.what == "d1":
        from .defective_evaluator import run_d1

        rows = run_d1(
            tasks,
            cells,
            parse_depths(args.depths or "1-4"),
            args.runs_dir,
            args.results_dir,
            args.data_dir,
        )
        d1 = f"{args.results_dir / 'd1.csv'} and {args.results_dir / 'd1.md'}"
        _print_rows(args, rows, d1, unit="models")
        return
    opts = RQ1Options(tasks=tasks, **_rq1_options(args, cells, "1-4"), max_test=args.max_test)
    rows = run_rq1(opts)
    summary = summarize(rows)
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}, sort_keys=True))
        return
    print(f"wrote {args.results_dir / 'rq1.csv'} and {args.results_dir / 'rq1.md'}")
    for s in summary:
        print(
            f"  {s['task']:8s} {s['preset']:8s} {s['mode']:9s} mean Δ {s['mean_delta_pp']:+.2f} pp, worst {s['worst_delta_pp']:+.2f} pp over {s['n_models']} models"
        )


def reproduce_tatoeba(args: argparse.Namespace, cells: list[str]) -> None:
    """``rnnmod reproduce rq1|rq3 --tasks tatoeba``: the encoder-decoder rows of Table II (RQ1)
    and of Table IV (RQ3, translation replace)."""
    from .tatoeba_rq1 import TatoebaRQ1Options, run_tatoeba_rq1

    opts = TatoebaRQ1Options(
        **_rq1_options(args, cells, "1,2"),
        test_per_lang=args.max_test or 500,
        recipe=args.recipe,
        time_limit=args.time_limit,
    )
    if args.what == "rq3":
        from .tatoeba_rq3 import run_tatoeba_rq3

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
    from rnnmod.decomposition.budget import parse_tolerance

    from .scenarios import ScenarioOptions, run_scenario

    if args.recipe == "paper" and args.time_limit is not None:
        raise RnnmodError("--time-limit is for --recipe reference or attention (paper is epochs)")
    given = {k: getattr(args, k) for k in ("epochs", "max_train_per_lang", "time_limit")}
    fixed = [f"--{k.replace('_', '-')}" for k, v in given.items()
             if v is not None and k in RECIPES[args.recipe]]  # fmt: skip
    if fixed:
        raise RnnmodError(f"--recipe {args.recipe} sets {' and '.join(fixed)}; leave them out")
    res = run_scenario(
        ScenarioOptions(
            scenario=args.name,
            cell=args.cell,
            depth=args.depth,
            mode=args.mode,
            runs_dir=args.runs_dir,
            results_dir=args.results_dir,
            data_dir=args.data_dir,
            hidden=args.hidden,
            recipe=args.recipe,
            budget=None if args.budget is None else parse_tolerance(args.budget),
            progress=not args.quiet,
            **{k: v for k, v in given.items() if v is not None},  # else ScenarioOptions' defaults
        )
    )
    if args.json:
        print(json.dumps(res, sort_keys=True))
        return
    md = args.results_dir / f"scenario_{res['scenario']}.md"
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md} and {md.with_suffix('.json')}")


def reproduce_parser() -> argparse.ArgumentParser:
    r = argparse.ArgumentParser(prog="rnnmod reproduce")
    r.add_argument(
        "what",
        choices=("all", "rq1", "rq2", "rq3", "d1", "budget", "learned-curve", "report"),
        help="all: RQ1-RQ3 (+D1) of --profile and the report; report: rebuild results/report.{md,html} "
        "from the result CSVs; rq1: train what is missing, decompose, evaluate; d1: constant predictions of the "
        "authors' defective rolled many-output evaluator on already-trained runs; budget: the "
        "retention-accuracy curve of fixed removal fractions and budgeted modules (docs/budget.md); "
        "learned-curve: the learned masks' curve, dead and with the linear fill, beside budget's "
        "rank and paper-rule points (run budget first for those; docs/budget.md); "
        "rq2: intra reuse, every class pair's composed model vs a model trained from scratch "
        "(Table III); rq3: intra replace, the worst depth's modules replaced by the best's (Table IV; --tasks tatoeba: per target language)",
    )
    r.add_argument(
        "--tasks", "--task", default=None, help="default mathqa,clinc; budget, learned-curve: clinc"
    )
    r.add_argument(
        "--recipe",
        choices=tuple(RECIPES),
        default="paper",
        help="--tasks tatoeba: how the translators are trained: paper (24,000 pairs, 3 epochs, "
        "the paper's split), reference (every pair, adaptive softmax, length buckets, early "
        "stopping, the line split) or attention (reference + Luong attention, punctuation "
        "kept, dropout 0.2; docs/translation.md)",
    )
    r.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="MINUTES",
        help="--tasks tatoeba, a recipe other than paper: training minutes per translator "
        "(default: until early stopping or the recipe's last epoch)",
    )
    r.add_argument("--cells", default="lstm,gru,rnn")
    r.add_argument(
        "--depths",
        default=None,
        help="e.g. 1-4 or 1,3 (default 1-4; budget: 1,2; learned-curve: 1)",
    )
    r.add_argument("--modes", default="rolled,unrolled")
    r.add_argument("--presets", default="default,paper")
    r.add_argument(
        "--epochs", type=int, default=None, help="override training epochs (default: the paper's)"
    )
    r.add_argument(
        "--runs-dir", type=Path, default=Path("runs"), help="where trained runs are kept and reused"
    )
    r.add_argument("--results-dir", type=Path, default=Path("results"))
    r.add_argument(
        "--max-test",
        type=int,
        default=None,
        help="evaluate on a seeded random subset of this many test examples (default: all)",
    )
    r.add_argument(
        "--profile",
        choices=("quick", "full"),
        default="quick",
        help="all: quick (MathQA+Clinc, depth 1-2, CI-sized) or full (the paper's grid, then "
        "inter reuse/replace, the Tatoeba translators and both scenarios; hours)",
    )
    r.add_argument("--max-pairs", type=int, default=None, help="rq2: only the first N class pairs")
    r.add_argument(
        "--executor",
        choices=("local", "ray", "sequential"),
        default="local",
        help="all: run the grid as independent tasks on a process pool (local) or on Ray "
        "(pip install 'rnnmod[ray]'), or stage by stage in this process (docs/scale-out.md)",
    )
    r.add_argument(
        "--workers", type=int, default=None, help="all: local pool size (default: the CPU count)"
    )
    r.add_argument(
        "--address", default=None, help="all --executor ray: the cluster to join (e.g. auto)"
    )
    r.add_argument(
        "--retries", type=int, default=2, help="all: attempts after a task's first failure"
    )
    r.add_argument(
        "--pairs-per-task",
        type=int,
        default=None,
        help="all: RQ2 class pairs per task (default 4; 1 spreads a big grid over more workers)",
    )
    r.add_argument(
        "--legacy-baseline",
        action="store_true",
        help="rq2: the paper's baseline (fine-tune the trained model with a 2-way head) instead of training from scratch",
    )
    r.add_argument(
        "--inter",
        action="store_true",
        help="rq2/rq3: inter reuse/replace instead (modules of two I/O types on raw text: "
        "--tasks mathqa → MathQA with emotions, clinc → Clinc with Brown; docs/results.md)",
    )
    r.add_argument(
        "--max-combos",
        type=int,
        default=None,
        help="--inter: a seeded random subset of N (class, label) combos per model pair",
    )
    r.add_argument(
        "--legacy-rule",
        "--legacy-inter-rule",
        dest="legacy_rule",
        action="store_true",
        help="rq2 --inter, rq3: headline Δ from the paper's rule (raw odds/probability comparison; "
        "intra replace: each module votes with its confidence) instead of the calibrated rule "
        "(per-module affine maps of the log-odds fitted on training examples — modules of two "
        "models are made comparable); every row reports both",
    )
    r.add_argument(
        "--calibrate-on",
        choices=("train", "val"),  # intra_models.CALIBRATION_SPLITS
        default="val",
        help="rq3: fit the calibrated rule on held-out texts, the validation split, where the "
        "task has one (default; Clinc — the other tasks have none and use training examples, "
        "each row's calibration_split says which) or always on training examples (train)",
    )
    r.add_argument("--quiet", action="store_true")
    r.add_argument("--json", action="store_true")
    add_data_dir(r)
    r.set_defaults(func=cmd_reproduce)
    return r


def scenario_parser() -> argparse.ArgumentParser:
    s = argparse.ArgumentParser(prog="rnnmod scenario")
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
    s.add_argument(
        "--recipe",
        choices=tuple(RECIPES),
        default="paper",
        help="how the models are trained: paper (softmax, batch 64, 4,000 pairs per language, "
        "--epochs; 500 test pairs per language), reference (every pair, adaptive softmax, "
        "batch 128 in length buckets, early stopping; every test pair) or attention (reference "
        "+ Luong attention, punctuation kept, dropout 0.2; docs/translation.md)",
    )
    s.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="MINUTES",
        help="a recipe other than paper: training minutes per model (default: until early "
        "stopping or the recipe's last epoch)",
    )
    s.add_argument(
        "--budget",
        default=None,
        metavar="TOL",
        help="learn each language module as small as keeps its greedy BLEU within TOL points "
        "of its model's on validation pairs, confirmed on others (e.g. 0.5pp; as rnnmod "
        "decompose --budget; default: the default decomposition rule)",
    )
    s.add_argument(
        "--epochs", type=int, default=None, help="training epochs per model (default 3; paper)"
    )
    s.add_argument("--hidden", type=int, default=256, help="recurrent units (default 256)")
    s.add_argument(
        "--max-train-per-lang",
        type=int,
        default=None,
        help="training pairs per target language (seeded subset; default 4000; paper)",
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
    add_data_dir(s)
    s.set_defaults(func=cmd_scenario)
    return s


PARSERS = {"reproduce": reproduce_parser, "scenario": scenario_parser}


def run(command: str, argv: list[str]) -> None:
    """Run ``rnnmod <command> <argv...>`` (``reproduce`` or ``scenario``): parse ``argv`` with the
    command's parser (``--help`` and argparse's usage errors exit as argparse does), then run it.
    An argument no option takes is an :class:`~rnnmod.errors.RnnmodError`, as every other
    error, which the core command line prints as one line."""
    args, extra = PARSERS[command]().parse_known_args(argv)
    if extra:
        raise RnnmodError(f"unrecognized arguments: {' '.join(extra)}")
    args.func(args)
