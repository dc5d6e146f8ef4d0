"""``rnnmod decompose | evaluate | compose | predict``."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ..errors import RnnmodError
from .common import add_data_dir, label_list, read_text_arg, tsv_field


def _method(args: argparse.Namespace) -> str:
    """``--method`` as given, else learned under ``--budget`` and rank without it."""
    if getattr(args, "method", None):
        return args.method
    return "learned" if getattr(args, "budget", None) is not None else "rank"


def _budget_request(args: argparse.Namespace) -> dict | None:
    """``--budget TOL --method rank`` and its options as budgeted_decompose keywords."""
    if getattr(args, "budget", None) is None or _method(args) != "rank":
        return None
    from ..decomposition.budget import parse_tolerance

    return {
        "tolerance_pp": parse_tolerance(args.budget),
        "metric": args.budget_metric or "ovr",
        "val_frac": args.val_frac,
    }


def _learned_request(args: argparse.Namespace) -> dict | None:
    """Learned masks (``--budget TOL``, or ``--method learned [--target-retained F]``) as
    learned_masks keywords (docs/budget.md)."""
    if _method(args) != "learned":
        if getattr(args, "target_retained", None) is not None:
            raise RnnmodError("--target-retained needs --method learned")
        for flag in ("learn_steps", "learn_candidates"):
            if getattr(args, flag, None) is not None:
                name = "--" + flag.replace("_", "-")
                raise RnnmodError(f"{name} needs --method learned (or --budget)")
        if getattr(args, "budget_confidence", None) is not None:
            raise RnnmodError("--budget-confidence applies to learned masks (--budget TOL)")
        if getattr(args, "removed_units", None) is not None:
            raise RnnmodError(
                "--removed-units applies to learned masks (--budget TOL or --method learned)"
            )
        return None
    if getattr(args, "budget_metric", None) is not None:
        raise RnnmodError(
            "--budget-metric applies to --method rank; learned masks are chosen on the composed "
            "model's validation accuracy"
        )
    steps = {} if args.learn_steps is None else {"steps": args.learn_steps}
    if getattr(args, "removed_units", None) is not None:
        steps["removed_units"] = args.removed_units
    if getattr(args, "learn_candidates", None) is not None:
        steps["candidates"] = args.learn_candidates
    if args.budget is not None:
        if args.target_retained is not None:
            raise RnnmodError(
                "give --budget (as few units as keep the accuracy) or --target-retained (a "
                "fixed fraction), not both"
            )
        from ..decomposition.budget import parse_tolerance

        confidence = (
            {} if (q := getattr(args, "budget_confidence", None)) is None else {"confidence": q}
        )
        return {
            "tolerance_pp": parse_tolerance(args.budget),
            "val_frac": args.val_frac,
            **steps,
            **confidence,
        }
    if getattr(args, "budget_confidence", None) is not None:
        raise RnnmodError("--budget-confidence applies to an accuracy budget (--budget TOL)")
    target = 0.2 if args.target_retained is None else args.target_retained
    if not 0 < target <= 1:
        raise RnnmodError(f"--target-retained must be in (0, 1], got {target}")
    return {"target_retained": target, **steps}


def cmd_decompose(args: argparse.Namespace) -> None:
    from ..api import decompose_to
    from ..kinds import kind_of
    from ..runs import load_run

    run = load_run(args.run)
    kind = kind_of(run)
    cfg = kind.decomposition_config(
        args.preset,
        mode=args.mode,
        gate_strategy=args.gate_strategy,
        max_remove=args.max_remove,
        n_positive=args.n_positive,
        seed=args.seed,
        module_output=args.module_output,
        observe_steps=args.observe_steps,
        sampling=args.sampling,
        min_observations=args.min_observations,
        ratio_rule=args.ratio_rule,
        paper_caps=True if args.paper_caps else None,
        padding_module=args.padding_module,
        channel=args.channel,
        unit_semantics=args.unit_semantics,
    )
    kind.check_options(budget=args.budget if _method(args) == "rank" else None)
    res = decompose_to(
        run,
        args.out,
        cfg,
        budget=_budget_request(args),
        learned=_learned_request(args),
        data_dir=args.data_dir,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    if res.reused:
        obj = {"out": str(res.out), "reused": True}
        human = (
            f"reused {res.out}: its modules were made from the same model, data and configuration"
        )
    else:
        if not args.quiet:
            for line in warning_lines(res.warnings, res.n_modules, verbose=args.verbose):
                print(f"rnnmod: warning: {line}", file=sys.stderr)
        obj = {
            "out": str(res.out),
            "reused": False,
            "n_modules": res.n_modules,
            "retained_units": res.retained_units,
            "seconds": round(res.seconds, 3),
            "warnings": res.warnings,
            "removed_units": res.removed_units,
        }
        human = (
            f"{res.n_modules} modules ({cfg.preset}, {cfg.mode}"
            f"{', ' + cfg.unit_semantics if cfg.unit_semantics != 'dead' else ''}) in {res.seconds:.2f} s, "
            f"{res.retained_units:.1%} of units retained"
            f"{FILLED.get(res.removed_units, '')}"
            f" → {res.out}"
        )
    print(json.dumps(obj, sort_keys=True) if args.json else human)


#: what the decompose summary says of a module set's removed units
FILLED = {
    "linear": " (removed ones rebuilt by a least-squares linear fill)",
    "learned": " (removed ones rebuilt by a learned linear fill)",
}

_FEW = re.compile(r"class (.+): only (\d+) positive (observations|examples) \(wanted (\d+)\)")
_NONE = re.compile(r"class (.+): no training example: no module")
MAX_WARNING_LINES = 5


def warning_lines(warnings: list[str], n_modules: int, *, verbose: bool = False) -> list[str]:
    """A decomposition's warnings (of ``n_modules`` modules) as at most
    :data:`MAX_WARNING_LINES` lines (every one with ``verbose``): the classes with fewer
    positives than asked in one line, those without a training example (no module) in one line
    when there are more than two."""
    if verbose:
        return list(warnings)
    few = [m for w in warnings if (m := _FEW.fullmatch(w))]
    none = [m for w in warnings if (m := _NONE.fullmatch(w))]
    n_classes = n_modules + len(none)
    lines: list[str] = []
    if len(none) > 2:
        names = ", ".join(m.group(1) for m in none[:3])
        lines.append(
            f"{len(none)} classes have no training example and got no module ({names}, …); "
            "--verbose lists them"
        )
    else:
        lines += [m.group(0) for m in none]
    lines += [w for w in warnings if _FEW.fullmatch(w) is None and _NONE.fullmatch(w) is None]
    if len(few) == 1:
        lines.append(few[0].group(0))
    elif few:
        low = min(int(m.group(2)) for m in few)
        lines.append(
            f"{len(few)} of {n_classes} classes have fewer positive {few[0].group(3)} than "
            f"asked (min {low}, wanted {few[0].group(4)}); --verbose lists them"
        )
    if len(lines) > MAX_WARNING_LINES:
        rest = len(lines) - (MAX_WARNING_LINES - 1)
        lines = lines[: MAX_WARNING_LINES - 1] + [f"{rest} more warnings; --verbose lists them"]
    return lines


def per_lang_count(text: str) -> int | str:
    """``--test-per-lang``: a count ≥ 1 or ``all``."""
    if text == "all":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a count >= 1 or 'all', got {text!r}")
    return n


def cmd_evaluate(args: argparse.Namespace) -> None:
    from ..api import evaluate, evaluate_labelled, evaluation_report
    from ..modules.store import load_moduleset

    ms = load_moduleset(args.mods)
    if args.labelled:
        texts, want = read_labelled_csv(args.labelled)
        res = evaluate_labelled(ms, texts, want, where=str(args.labelled))
        if args.json:
            print(json.dumps(res, sort_keys=True))
            return
        print(
            f"{args.mods} ({ms.rule} rule) on {res['n']} labelled {res['unit']}: accuracy {res['accuracy']:.4f}"
        )
        for x, v in res["per_label"].items():
            acc = "—" if v["accuracy"] is None else f"{v['accuracy']:.4f}"
            print(f"  {x:20s} {acc}  ({v['n']} {res['unit']})")
        return
    from ..kinds import kind_of

    options = {"legacy_accuracy": True} if args.legacy_accuracy else {}
    kind_of(ms).check_options(beam=args.beam, no_unk=args.no_unk, test_per_lang=args.test_per_lang)
    if args.beam is not None:
        options["beam"] = args.beam
    if args.no_unk:
        options["no_unk"] = True
    if args.test_per_lang is not None:
        options["test_per_lang"] = None if args.test_per_lang == "all" else args.test_per_lang
    res = evaluate(ms, args.data_dir, progress=not (args.json or args.quiet), **options)
    if args.json:
        print(json.dumps(res, sort_keys=True))
        return
    print("\n".join(evaluation_report(res, ms)))


def cmd_compose(args: argparse.Namespace) -> None:
    from ..api import compose
    from ..kinds import kind_of

    labels = label_list(args.labels)
    calib = read_labelled_csv(args.calibrate) if args.calibrate else None
    ms = compose(
        list(args.mods),
        labels,
        Path(args.out),
        rule=args.rule,
        calibrate_on=calib,
        overwrite=args.overwrite,
        single=args.single,
    )
    if len(labels) == 1 and kind_of(ms).votes:
        print(f"rnnmod: warning: {args.out} always predicts {labels[0]!r}", file=sys.stderr)
    man = ms.manifest
    obj = {"out": str(args.out), "labels": labels, "rule": ms.rule}
    for k in ("calibration_accuracy", "calibration_positions"):
        if k in man:
            obj[k] = man[k]
    if args.json:
        print(json.dumps(obj))
        return
    print(f"composed {len(labels)} modules ({', '.join(labels)}) → {args.out} (rule: {ms.rule})")
    if calib is not None:
        what = f"{len(calib[0])} labelled texts"
        if "calibration_positions" in obj:
            what = f"the {obj['calibration_positions']} tokens of {len(calib[0])} tagged texts"
        print(f"calibrated on {what}: {100 * obj['calibration_accuracy']:.1f} % of them right")


def read_labelled_csv(path: Path) -> tuple[list[str], list[str] | list[list[str]]]:
    from ..data.labelled import parse_labelled_csv

    return parse_labelled_csv(read_text_arg(path), str(path))


def text_reports(ms, texts: list[str]) -> tuple[int, list[bool]]:
    """(how many texts are longer than the set's models read — their ends are cut, as in
    training —, which texts have no token left for any of the models — they get no label),
    each reported in one line on stderr; one tokenisation per vocabulary. Predictions are not
    affected."""
    cut, empty, lengths = [False] * len(texts), [True] * len(texts), set()
    for vocab in {id(r.vocab): r.vocab for r in ms.sources.values()}.values():
        counts = vocab.counts(texts)
        flags = [ids > vocab.seq_len for _, ids in counts]
        if any(flags):
            lengths.add(vocab.seq_len)
        cut = [a or b for a, b in zip(cut, flags)]
        empty = [e and not tokens for e, (tokens, _) in zip(empty, counts)]
    n = sum(cut)
    if n:
        reads = "/".join(str(x) for x in sorted(lengths))
        who = "the model reads" if len(lengths) == 1 else "the models read"
        print(
            f"rnnmod: warning: {n} of {len(texts)} texts were cut to {reads} tokens ({who} {reads})",
            file=sys.stderr,
        )
    if any(empty):
        print(
            f"rnnmod: note: {sum(empty)} of {len(texts)} texts have no token left after "
            "tokenisation; they get no label",
            file=sys.stderr,
        )
    return n, empty


def cmd_predict(args: argparse.Namespace) -> None:
    from ..modules.store import load_moduleset

    ms = load_moduleset(args.mods)
    texts = list(args.text)
    if args.file:
        texts += [line for line in read_text_arg(args.file).splitlines() if line.strip()]
    if not texts:
        raise RnnmodError("give text to classify as arguments or with --file")
    truncated, empty = text_reports(ms, texts)
    reason = {"label": None, "reason": "no token left after tokenisation"}
    if ms.per_position:  # a tagger's modules: a label per position
        tags = ms.predict_tags(texts)
        if args.json:
            rows = [
                {"text": t, "tags": g} | (reason if e else {})
                for t, g, e in zip(texts, tags, empty)
            ]
            print(json.dumps({"predictions": rows, "truncated": truncated}))
        else:
            for t, g in zip(texts, tags):
                print(f"{' '.join(tsv_field(x) for x in g)}\t{tsv_field(t)}")
        return
    idx, score = ms.decide_texts(texts)
    rows = [
        {"text": t, "label": None, "reason": reason["reason"]}
        if e
        else {"text": t, "label": ms.labels[i], "score": float(s)}
        for t, i, s, e in zip(texts, idx.tolist(), score.tolist(), empty)
    ]
    if args.json:
        print(json.dumps({"predictions": rows, "rule": ms.rule, "truncated": truncated}))
    else:
        for r in rows:
            label, score_text = (r["label"], f"{r['score']:.3f}") if r["label"] else ("-", "-")
            print(f"{tsv_field(label)}\t{score_text}\t{tsv_field(r['text'])}")


def register(sub: argparse._SubParsersAction) -> None:
    from ..choices import MODES, PRESETS, RULES, UNIT_SEMANTICS

    d = sub.add_parser("decompose", help="decompose a trained run into one module per class")
    d.add_argument("run", type=Path, help="trained run directory")
    d.add_argument("--out", required=True, type=Path, help="module set directory to write")
    d.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="rolled: one mask per layer; unrolled: one per layer and time step",
    )
    d.add_argument(
        "--preset",
        choices=PRESETS,
        default="default",
        help="default: our choices; paper: the authors' effective code (docs/method.md)",
    )
    d.add_argument("--gate-strategy", choices=("hidden-state", "per-gate"), default=None)
    d.add_argument(
        "--max-remove",
        type=float,
        default=None,
        help="cap on the fraction of units removed per layer (default 0.05)",
    )
    d.add_argument(
        "--paper-caps",
        action="store_true",
        help="use the authors' per-script caps (paper-method §6.5)",
    )
    d.add_argument(
        "--n-positive", type=int, default=None, help="positive samples per class (default 500)"
    )
    d.add_argument("--sampling", choices=("stratified", "first-n"), default=None)
    d.add_argument("--observe-steps", choices=("tokens", "all", "last"), default=None)
    d.add_argument("--module-output", choices=("binary", "softmax"), default=None)
    d.add_argument("--seed", type=int, default=None)
    d.add_argument(
        "--ratio-rule",
        type=float,
        default=None,
        help="past the cap, also remove units whose d is within this ratio of the most negative "
        "(the authors' code: 1.1, the paper preset); 0 stops at the cap (default preset)",
    )
    d.add_argument(
        "--min-observations",
        type=int,
        default=None,
        help="a (class, step) group with fewer positive or negative observations is thin "
        "(default 30; paper 1): unrolled, default preset, its step uses the class's statistic "
        "pooled over steps; a class thin even pooled keeps every unit",
    )
    d.add_argument(
        "--padding-module",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="many-output models: also build a module for the padding class (paper preset: yes)",
    )
    d.add_argument(
        "--channel",
        choices=("protect-padding", "paper"),
        default=None,
        help="many-output heads: keep the padding column (default) or the authors' channel",
    )
    d.add_argument(
        "--unit-semantics",
        choices=UNIT_SEMANTICS,
        default=None,
        help="what a removed unit is when modules run: dead (state 0 at every step; both "
        "presets) or legacy-edits (the original tool's per-step weight edits: a removed unit "
        "keeps the recurrent input of kept units and its state; docs/method.md)",
    )
    d.add_argument(
        "--budget",
        metavar="TOL",
        default=None,
        help="budgeted decomposition (docs/budget.md), e.g. 1pp: learn each module's unit masks "
        "and keep the fewest units that hold the composed model's validation accuracy within "
        "TOL of the monolithic model's (a translator: each language's greedy BLEU, 0.5pp = "
        "0.5 BLEU; "
        "default --method learned); with --method rank (classifiers), remove units by the "
        "concern statistic while each module's --budget-metric holds",
    )
    d.add_argument(
        "--budget-metric",
        choices=("ovr", "vote"),
        default=None,
        help="--method rank only: ovr, the module's own one-vs-rest accuracy (default; it can "
        "hardly fail, docs/budget.md); vote, the composed model with only this module pruned",
    )
    d.add_argument(
        "--val-frac",
        type=float,
        default=0.1,
        help="budget: validation fraction carved from the training split when the task has no "
        "validation split (default 0.1; never the test split; the model saw those rows in "
        "training — `rnnmod train --hold-out` keeps them out)",
    )
    d.add_argument(
        "--method",
        choices=("rank", "learned"),
        default=None,
        help="learned (the default with --budget): after the decomposition, learn each module's "
        "unit (or, per-gate, gate-column) masks on the training split with the weights and "
        "channelled heads frozen (classifiers, taggers and translators, rolled and unrolled; "
        "docs/budget.md); rank (the default without --budget): the concern statistic selects "
        "the removed units",
    )
    d.add_argument(
        "--target-retained",
        type=float,
        default=None,
        metavar="F",
        help="--method learned without --budget: fraction of units each module should keep, in "
        "(0, 1] (default 0.2)",
    )
    d.add_argument(
        "--budget-confidence",
        type=float,
        default=None,
        metavar="Q",
        help="learned --budget of a classifier or tagger: judge every checkpoint on the one-sided "
        "Q lower confidence bound (e.g. 0.9) of its composed − monolithic validation difference "
        "instead of the difference itself, so the budget carries to new data of the same kind "
        "(larger modules; docs/budget.md)",
    )
    d.add_argument(
        "--removed-units",
        choices=("auto", "dead", "linear", "learned"),
        default=None,
        help="learned masks: what a module's removed units become — dead (0: masks only, the "
        "source weights as they are), linear (each rebuilt by least squares from the module's "
        "kept units, fitted to the monolithic model's states on training examples) or learned "
        "(the same kind of fill, learned with the masks on the composed objective: the module's "
        "kept weights are then trained, the source model never). A fill folds into the kept "
        "units' weights, so the module stays as small. auto (default): learned under --budget "
        "for LSTM, GRU and tanh RNN models (Clinc: 16-20 %% of the units within 1 pp where dead "
        "units keep 22-33 %%), for a fixed --target-retained linear for GRU models and stacked "
        "LSTMs and dead elsewhere; dead wherever a fill cannot fold (docs/budget.md, "
        '"A learned fill")',
    )
    d.add_argument(
        "--learn-steps",
        type=int,
        default=None,
        metavar="N",
        help="learned masks: optimisation steps (default 800; for a classifier's or tagger's "
        "--budget 1200 with a learned fill, else 1600; with --budget learning stops sooner once "
        "the validation accuracy stays out of the budget)",
    )
    d.add_argument(
        "--learn-candidates",
        type=int,
        default=None,
        metavar="P",
        help="learned masks of a one-output classifier with more than P modules: learn each "
        "training example under P modules' masks only — its own and its hardest rivals (the "
        "classes the monolithic model ranks next on it) — so a step costs the same for 150 "
        "classes as for 16 (default 16; 0: every module on every example; docs/budget.md)",
    )
    d.add_argument("--overwrite", action="store_true")
    d.add_argument("--quiet", action="store_true", help="no progress bar, no warnings")
    d.add_argument(
        "--verbose",
        action="store_true",
        help="every warning on its own line (default: at most 5 lines, per-class warnings "
        "summarised; --json and the manifest hold them all)",
    )
    d.add_argument("--json", action="store_true")
    add_data_dir(d)
    d.set_defaults(func=cmd_decompose)

    e = sub.add_parser(
        "evaluate", help="test accuracy of the monolithic model vs the composed modules"
    )
    e.add_argument("mods", type=Path, help="module set directory")
    e.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.add_argument(
        "--beam",
        type=int,
        default=None,
        metavar="N",
        help="translators: decode with a beam of N hypotheses per sentence (default: greedy)",
    )
    e.add_argument(
        "--no-unk",
        action="store_true",
        default=None,
        help="translators: never decode <unk>, take the most probable known word instead "
        "(a capped target vocabulary's model writes <unk> for the words it lacks)",
    )
    e.add_argument(
        "--test-per-lang",
        type=per_lang_count,
        default=None,
        metavar="N|all",
        help="translators: the first N test pairs of each language, or all of them (default "
        "500; a BLEU difference on 500 pairs has a 95 %% interval about 2 BLEU wide)",
    )
    e.add_argument(
        "--legacy-accuracy",
        action="store_true",
        help="many-output models: count padding positions as the paper did (default: real tokens only)",
    )
    e.add_argument(
        "--labelled",
        type=Path,
        default=None,
        metavar="CSV",
        help="accuracy on these labelled texts instead of the source model's test split, for "
        "composed models of several models: 'text' and 'label' columns (one label per text), or "
        "'text' and 'tags' (space-separated, one per token: a tagger set's token accuracy)",
    )
    add_data_dir(e)
    e.set_defaults(func=cmd_evaluate)

    c = sub.add_parser(
        "compose", help="build a composed model from chosen modules (labels; N:label picks set N)"
    )
    c.add_argument("mods", type=Path, nargs="+", help="module set directories")
    c.add_argument(
        "--labels",
        required=True,
        help="comma-separated labels, e.g. banking,travel or 1:banking,2:travel",
    )
    c.add_argument("--out", required=True, type=Path, help="module set directory to write")
    c.add_argument(
        "--calibrate",
        type=Path,
        default=None,
        metavar="CSV",
        help="labelled texts of the new problem (CSV with 'text' and 'label' columns, labels = "
        "module labels): fit per-module maps that make the scores of different models "
        "comparable (rule 'calibrated'); needed to mix one-output and many-output modules well. "
        "Taggers' modules (e.g. one module of a better tagger replacing a faulty one's): 'text' "
        "and 'tags' columns, one tag per token, and the set tags token by token. "
        "`rnnmod data export TASK --split train` writes either kind",
    )
    c.add_argument(
        "--single",
        action="store_true",
        help="allow a set of one module (it always predicts its label)",
    )
    c.add_argument(
        "--rule",
        choices=RULES,
        default=None,
        help="how modules are compared: probability (default; modules of one I/O family), odds "
        "(the paper's inter-reuse rule, one log-odds per text; a tagger's module: its max over "
        "the tokens), calibrated (the default with --calibrate)",
    )
    c.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    c.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    c.set_defaults(func=cmd_compose)

    p = sub.add_parser("predict", help="classify raw text with a module set or composed model")
    p.add_argument("mods", type=Path)
    p.add_argument("text", nargs="*", help="texts to classify")
    p.add_argument("--file", type=Path, help="one text per line")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)
