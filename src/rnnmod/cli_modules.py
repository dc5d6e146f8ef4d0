"""``rnnmod decompose | evaluate | compose | predict``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .cli import _add_data_dir, read_text_arg, register_command
from .errors import RnnmodError


def cmd_decompose(args: argparse.Namespace) -> None:
    """Decompose under the output's lock; a finished module set of the same model, data and
    configuration is reused (docs/reliability.md)."""
    from .locking import output_lock

    with output_lock(Path(args.out), "rnnmod decompose"):
        _decompose(args)


def _data_sha256(data) -> str:
    """Identity of the training split that decomposition samples from."""
    import hashlib

    h = hashlib.sha256()
    for t in (data.x_train, data.y_train):
        h.update(repr((str(t.dtype), tuple(t.shape))).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def _reusable(out: Path, run, cfg, data_sha: str) -> bool:
    """True when ``out`` is an intact module set of this model, data and configuration."""
    from . import FORMAT_VERSION, __version__
    from .modules.store import verify_moduleset

    if not (out / "manifest.json").is_file():
        return False
    try:
        man = verify_moduleset(out)
    except RnnmodError:
        return False
    shas = [s.get("model_sha256") for s in man["sources"].values()]
    return (
        man.get("config_hash") == cfg.hash()
        and man.get("data_sha256") == data_sha
        and shas == [run.model_sha256()]
        and man.get("format_version") == FORMAT_VERSION
        and man.get("rnnmod_version") == __version__
        and "composed_from" not in man
    )


def _budget_request(args: argparse.Namespace) -> dict | None:
    """``--budget TOL`` and its options as budgeted_decompose keywords (docs/budget.md)."""
    if getattr(args, "budget", None) is None:
        return None
    from .decomposition.budget import parse_tolerance

    return {
        "tolerance_pp": parse_tolerance(args.budget),
        "metric": args.budget_metric,
        "val_frac": args.val_frac,
    }


def _same_budget(out: Path, budget: dict | None) -> bool:
    """An existing module set is reused only when it was made with the same budget (or none)."""
    try:
        man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (man.get("budget") or {}).get("request") == budget


def _decompose(args: argparse.Namespace) -> None:
    from .composition.evaluate import load_data_for
    from .decomposition import decompose, preset
    from .modules.store import save_moduleset
    from .runs import load_run
    from .storage import recover_dir

    out = Path(args.out)
    recover_dir(out)  # a previous run killed while publishing: put its complete result back
    run = load_run(args.run)
    if run.io_type == "enc-dec":  # translators: one module per target language
        from .cli_translate import decompose_translation

        return decompose_translation(args, run, out)
    overrides = {
        "mode": args.mode,
        "gate_strategy": args.gate_strategy,
        "max_remove": args.max_remove,
        "n_positive": args.n_positive,
        "seed": args.seed,
        "module_output": args.module_output,
        "observe_steps": args.observe_steps,
        "sampling": args.sampling,
        "min_observations": args.min_observations,
        "ratio_rule": args.ratio_rule,
    }
    if args.paper_caps:
        overrides["paper_caps"] = True
    if args.padding_module is not None:
        overrides["padding_module"] = args.padding_module
    if args.channel is not None:
        overrides["channel"] = args.channel
    cfg = preset(args.preset, **overrides)
    data = load_data_for(run, args.data_dir)
    data_sha = _data_sha256(data)
    budget = _budget_request(args)
    if _reusable(out, run, cfg, data_sha) and _same_budget(out, budget):
        obj = {"out": str(out), "reused": True}
        print(
            json.dumps(obj, sort_keys=True)
            if args.json
            else f"reused {out}: its modules were made from the same model, data and configuration"
        )
        return
    if out.exists() and not args.overwrite:
        raise RnnmodError(f"{out} already exists; pass --overwrite to replace it")
    start = time.perf_counter()
    if budget is None:
        dec = decompose(run.model, data, cfg, progress=not args.quiet)
    else:
        from .decomposition.budget import budgeted_decompose

        dec, budget_summary = budgeted_decompose(
            run.model, data, cfg, progress=not args.quiet, **budget
        )
    seconds = time.perf_counter() - start
    for w in dec.warnings:
        print(f"rnnmod: warning: {w}", file=sys.stderr)
    extra = {
        "task": run.task,
        "io_type": run.io_type,
        "mode": cfg.mode,
        "config": cfg.to_dict(),
        "config_hash": cfg.hash(),
        "max_remove_effective": dec.max_remove,
        "n_observed_examples": len(dec.samples.union),
        "data_sha256": data_sha,
        "warnings": dec.warnings,
        "data_notes": data.notes,
    }
    if budget is not None:
        extra["budget"] = dict(budget_summary, request=budget)
    timings = {k: round(v, 4) for k, v in dec.timings.items()}
    save_moduleset(out, [(run, dec.bank)], extra, overwrite=args.overwrite, timings=timings)
    obj = {
        "out": str(out),
        "reused": False,
        "n_modules": len(dec.bank),
        "retained_units": float(dec.bank.retained_fraction().mean()),
        "seconds": round(seconds, 3),
    }
    if args.json:
        print(json.dumps(obj, sort_keys=True))
    else:
        print(
            f"{len(dec.bank)} modules ({cfg.preset}, {cfg.mode}) in {seconds:.2f} s, {obj['retained_units']:.1%} of units retained → {out}"
        )


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .composition.evaluate import evaluate_moduleset
    from .modules.store import load_moduleset
    from .translate.store import is_translation_set

    if is_translation_set(Path(args.mods)):
        from .cli_translate import evaluate_translation

        return evaluate_translation(args)
    ms = load_moduleset(args.mods)
    if args.labelled:
        return _evaluate_labelled(ms, args)
    if len(ms.sources) > 1:
        raise RnnmodError(
            f"{args.mods} holds modules of several models: evaluate it on labelled texts of its "
            "problem (--labelled CSV with 'text' and 'label' columns, or 'text' and 'tags' for taggers)"
        )
    res = evaluate_moduleset(ms, args.data_dir)
    if args.legacy_accuracy:
        if "composed_legacy" not in res:
            raise RnnmodError("--legacy-accuracy applies to many-output models (1:N, M:N) only")
        res["accuracy"] = "legacy: padding positions counted (paper §7)"
        for k in ("monolithic", "composed", "delta_pp"):
            res[k], res[f"{k}_padding_excluded"] = res.pop(f"{k}_legacy"), res[k]
    elif "composed_legacy" in res:
        res["accuracy"] = "real tokens only (padding positions excluded)"
    if args.json:
        print(json.dumps(res, sort_keys=True))
        return
    print(
        f"{res['task']} {res['cell']}-{res['depth']} {res['mode']} ({res['preset']}), {res['n_modules']} modules, {res['n_test']} test examples"
    )
    print(f"  monolithic accuracy  {res['monolithic']:.4f}")
    print(f"  composed accuracy    {res['composed']:.4f}   Δ {res['delta_pp']:+.2f} pp")
    print(
        f"  Jaccard (legacy)     {res['jaccard_legacy']:.4f}   Jaccard (mask) {res['jaccard_mask']:.4f}"
    )
    print(f"  retained units       {res['retained_units']:.1%}   ({res['seconds']:.2f} s)")
    if "cost_relative" in res:
        layers = ", ".join(f"{x:.1%}" for x in res["retained_per_layer"])
        print(
            f"  arithmetic cost      {res['cost_relative']:.1%} of {res['n_modules']} × monolithic "
            f"({res['cost_vs_monolithic']:.2f} × monolithic; retained per layer {layers})"
        )
    if "accuracy" in res:
        print(f"  accuracy over        {res['accuracy']}")
    for n in res["notes"]:
        print(f"  note: {n}")


def _evaluate_labelled(ms, args: argparse.Namespace) -> None:
    """Accuracy of a module set's decision on a labelled CSV: per text, or per token for a
    tagger set and tagged texts."""
    texts, want = read_labelled_csv(args.labelled)
    tagged = isinstance(want[0], list)
    if tagged != ms.per_position:
        raise RnnmodError(
            f"{args.mods} answers {'per token' if ms.per_position else 'once per text'}: give "
            f"{args.labelled} {'a tags' if ms.per_position else 'a label'} column"
        )
    gold = [t for tags in want for t in tags] if tagged else want
    unknown = sorted(set(gold) - set(ms.labels))
    if unknown:
        raise RnnmodError(
            f"{args.labelled}: label(s) {', '.join(map(repr, unknown[:3]))} are not modules of "
            f"{args.mods} ({', '.join(ms.labels)})"
        )
    if tagged:
        from .composition.compose import tag_targets

        run = next(iter(ms.sources.values()))
        y = tag_targets(run, texts, want, ms.labels)
        idx = ms.decide_positions(texts)
        on = y >= 0
        pairs = [(ms.labels[g], ms.labels[w]) for g, w in zip(idx[on].tolist(), y[on].tolist())]
    else:
        pairs = list(zip(ms.predict_texts(texts), want))
    per = {x: [g == w for g, w in pairs if w == x] for x in ms.labels}
    unit = "tokens" if tagged else "texts"
    res = {
        "rule": ms.rule,
        "n": len(pairs),
        "unit": unit,
        "accuracy": sum(g == w for g, w in pairs) / len(pairs),
        "per_label": {
            x: {"n": len(v), "accuracy": sum(v) / len(v) if v else None} for x, v in per.items()
        },
    }
    if args.json:
        print(json.dumps(res, sort_keys=True))
        return
    print(
        f"{args.mods} ({ms.rule} rule) on {res['n']} labelled {unit}: accuracy {res['accuracy']:.4f}"
    )
    for x, v in res["per_label"].items():
        acc = "—" if v["accuracy"] is None else f"{v['accuracy']:.4f}"
        print(f"  {x:20s} {acc}  ({v['n']} {unit})")


def cmd_compose(args: argparse.Namespace) -> None:
    from .composition import compose_modulesets
    from .modules.store import load_moduleset
    from .storage import read_json
    from .translate.store import is_translation_set

    if any(is_translation_set(Path(p)) for p in args.mods):
        from .cli_translate import compose_translation

        return compose_translation(args)
    sets = [load_moduleset(p) for p in args.mods]
    labels = [x.strip() for x in args.labels.split(",") if x.strip()]
    rule = args.rule or ("calibrated" if args.calibrate else "probability")
    calib = read_labelled_csv(args.calibrate) if args.calibrate else None
    out = compose_modulesets(
        sets, labels, Path(args.out), overwrite=args.overwrite, rule=rule, calibrate_on=calib
    )
    obj = {"out": str(out), "labels": labels, "rule": rule}
    if calib is not None:
        man = read_json(Path(out) / "manifest.json")
        obj["calibration_accuracy"] = man["calibration_accuracy"]
        if "calibration_positions" in man:
            obj["calibration_positions"] = man["calibration_positions"]
    if args.json:
        print(json.dumps(obj))
        return
    print(f"composed {len(labels)} modules ({', '.join(labels)}) → {out} (rule: {rule})")
    if calib is not None:
        what = f"{len(calib[0])} labelled texts"
        if "calibration_positions" in obj:
            what = f"the {obj['calibration_positions']} tokens of {len(calib[0])} tagged texts"
        print(f"calibrated on {what}: {100 * obj['calibration_accuracy']:.1f} % of them right")


def read_labelled_csv(path: Path) -> tuple[list[str], list[str] | list[list[str]]]:
    """A CSV with a header holding ``text`` and ``label`` columns → (texts, labels); with
    ``text`` and ``tags`` (space-separated, one per token) → (texts, tag lists)."""
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(read_text_arg(path), newline="")))
    cols = set(rows[0]) if rows else set()
    kind = "label" if "label" in cols else "tags"
    if "text" not in cols or not cols & {"label", "tags"}:
        raise RnnmodError(
            f"{path}: expected a CSV with a header holding 'text' and 'label' columns (or 'text' and 'tags')"
        )
    bad = next(
        (i for i, r in enumerate(rows, 2) if not r["text"] or not (r[kind] or "").strip()), None
    )
    if bad is not None:
        raise RnnmodError(f"{path}, line {bad}: empty text or {kind}")
    texts = [r["text"] for r in rows]
    if kind == "tags":
        return texts, [r["tags"].split() for r in rows]
    return texts, [r["label"].strip() for r in rows]


def cmd_predict(args: argparse.Namespace) -> None:
    from .modules.store import load_moduleset

    ms = load_moduleset(args.mods)
    texts = list(args.text)
    if args.file:
        texts += [line for line in read_text_arg(args.file).splitlines() if line.strip()]
    if not texts:
        raise RnnmodError("give text to classify as arguments or with --file")
    if ms.per_position:  # a tagger's modules: a label per position
        tags = ms.predict_tags(texts)
        if args.json:
            print(
                json.dumps({"predictions": [{"text": t, "tags": g} for t, g in zip(texts, tags)]})
            )
        else:
            for t, g in zip(texts, tags):
                print(f"{' '.join(g)}\t{t}")
        return
    idx, score = ms.decide_texts(texts)
    rows = [
        {"text": t, "label": ms.labels[i], "score": float(s)}
        for t, i, s in zip(texts, idx.tolist(), score.tolist())
    ]
    if args.json:
        print(json.dumps({"predictions": rows, "rule": ms.rule}))
    else:
        for r in rows:
            print(f"{r['label']}\t{r['score']:.3f}\t{r['text']}")


@register_command
def _register(sub: argparse._SubParsersAction) -> None:
    from .decomposition.config import MODES, PRESETS
    from .modules.store import RULES

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
        help="a (class, step) group with fewer observations keeps every unit (default 30; paper 1)",
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
        "--budget",
        metavar="TOL",
        default=None,
        help="budgeted decomposition (docs/budget.md): per module, remove as many units as keep "
        "its validation accuracy within TOL of the unpruned module, e.g. 1pp",
    )
    d.add_argument(
        "--budget-metric",
        choices=("ovr", "vote"),
        default="ovr",
        help="ovr: the module's own one-vs-rest accuracy (default); vote: accuracy of the "
        "composed model with only this module pruned",
    )
    d.add_argument(
        "--val-frac",
        type=float,
        default=0.1,
        help="budget: validation fraction carved from the training split when the task has no "
        "validation split (default 0.1; never the test split)",
    )
    d.add_argument("--overwrite", action="store_true")
    d.add_argument("--quiet", action="store_true")
    d.add_argument("--json", action="store_true")
    _add_data_dir(d)
    d.set_defaults(func=cmd_decompose)

    e = sub.add_parser(
        "evaluate", help="test accuracy of the monolithic model vs the composed modules"
    )
    e.add_argument("mods", type=Path, help="module set directory")
    e.add_argument("--json", action="store_true", help="print one JSON object on stdout")
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
    _add_data_dir(e)
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
