"""``rnnmod reproduce rq1``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .cli import _add_data_dir, register_command
from .errors import RnnmodError


def _csv(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def _one_mode(args: argparse.Namespace) -> str | None:
    """rq2/rq3 use one mode: the one given, or None (unrolled where it exists) by default."""
    return None if args.modes == "rolled,unrolled" else args.modes


def _one_preset(args: argparse.Namespace) -> str:
    """rq2/rq3 use one preset: the first given, or ``default`` when --presets is untouched."""
    return _csv(args.presets)[0] if args.presets != "default,paper" else "default"


def _print_rows(args: argparse.Namespace, rows: list[dict], wrote: str, unit: str = "rows") -> None:
    """One JSON object with the rows (--json), else the line naming what was written."""
    if args.json:
        print(json.dumps({"rows": rows}, sort_keys=True))
    else:
        print(f"wrote {wrote} ({len(rows)} {unit})")


def cmd_reproduce(args: argparse.Namespace) -> None:
    from .data import LOADERS
    from .experiments.rq1 import RQ1Options, parse_depths, run_rq1, summarize
    from .nn.cells import CELL_KINDS

    tasks = _csv(args.tasks or ("clinc" if args.what == "budget" else "mathqa,clinc"))
    cells = _csv(args.cells)
    if args.what in ("rq1", "rq3") and "tatoeba" in tasks:  # encoder-decoder rows: rnnmod.translate
        from .cli_translate import reproduce_tatoeba

        reproduce_tatoeba(args, cells)
        tasks = [t for t in tasks if t != "tatoeba"]
        if not tasks:
            return
    for t in tasks:
        if t not in LOADERS:
            raise RnnmodError(f"unknown task {t!r}; available: {', '.join(sorted(LOADERS))}")
    for c in cells:
        if c not in CELL_KINDS:
            raise RnnmodError(f"unknown cell {c!r}; expected one of {', '.join(CELL_KINDS)}")
    if args.what == "budget":
        from .experiments.budget import BudgetOptions, run_budget

        if len(tasks) != 1:
            raise RnnmodError("reproduce budget takes one task (--task clinc)")
        rows = run_budget(
            BudgetOptions(
                task=tasks[0],
                cells=cells,
                depths=parse_depths(args.depths or "1,2"),
                runs_dir=args.runs_dir,
                results_dir=args.results_dir,
                data_dir=args.data_dir,
                epochs=args.epochs,
                progress=not args.quiet,
            )
        )
        _print_rows(args, rows, f"{args.results_dir / 'budget.csv'}, budget.md and budget.png")
        return
    if args.what == "report":
        from .report.build import build_report

        md, page = build_report(args.results_dir)
        print(
            json.dumps({"md": str(md), "html": str(page)})
            if args.json
            else f"wrote {md} and {page}"
        )
        return
    if args.what == "all":
        from .experiments.all import run_all

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
            from .experiments.inter import PROBLEMS, InterOptions, run_inter

            problems = [p for p, (one, _many) in PROBLEMS.items() if one in tasks]
            if not problems:
                raise RnnmodError("--inter needs --tasks mathqa (1:1-1:N) and/or clinc (M:1-M:N)")
            rows = run_inter(
                "reuse" if args.what == "rq2" else "replace",
                InterOptions(problems=problems, max_combos=args.max_combos, **common),
            )
        else:
            from .experiments.reuse_replace import RQ23Options, run_rq2, run_rq3

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
        from .experiments.d1 import run_d1

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
    opts = RQ1Options(
        tasks=tasks,
        cells=cells,
        depths=parse_depths(args.depths or "1-4"),
        modes=_csv(args.modes),
        presets=_csv(args.presets),
        runs_dir=args.runs_dir,
        results_dir=args.results_dir,
        data_dir=args.data_dir,
        epochs=args.epochs,
        progress=not args.quiet,
        max_test=args.max_test,
    )
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


@register_command
def _register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "reproduce",
        help="reproduce the paper's experiments: rq1 (Table II), rq2 reuse (Table III), rq3 replace "
        "(Table IV), d1 (the authors' rolled evaluator defect), all (everything + the HTML report)",
    )
    r.add_argument(
        "what",
        choices=("all", "rq1", "rq2", "rq3", "d1", "budget", "report"),
        help="all: RQ1-RQ3 (+D1) of --profile and the report; report: rebuild results/report.{md,html} "
        "from the result CSVs; rq1: train what is missing, decompose, evaluate; d1: constant predictions of the "
        "authors' defective rolled many-output evaluator on already-trained runs; budget: the "
        "retention-accuracy curve of fixed removal fractions and budgeted modules (docs/budget.md); "
        "rq2: intra reuse, every class pair's composed model vs a model trained from scratch "
        "(Table III); rq3: intra replace, the worst depth's modules replaced by the best's (Table IV; --tasks tatoeba: per target language)",
    )
    r.add_argument("--tasks", "--task", default=None, help="default mathqa,clinc; budget: clinc")
    r.add_argument("--cells", default="lstm,gru,rnn")
    r.add_argument("--depths", default=None, help="e.g. 1-4 or 1,3 (default 1-4; budget: 1,2)")
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
        choices=("train", "val"),  # experiments.reuse_replace.CALIBRATION_SPLITS
        default="val",
        help="rq3: fit the calibrated rule on held-out texts, the validation split, where the "
        "task has one (default; Clinc — the other tasks have none and use training examples, "
        "each row's calibration_split says which) or always on training examples (train, "
        "what earlier versions did)",
    )
    r.add_argument("--quiet", action="store_true")
    r.add_argument("--json", action="store_true")
    _add_data_dir(r)
    r.set_defaults(func=cmd_reproduce)
