"""Batched ``decompose`` vs the naive one-example-at-a-time reference, on Clinc (M:1).

For LSTM, GRU and vanilla RNN at depth 1 and 4 (trained for ``--epochs`` epochs, or reused from
``.bench/runs/``), and for each mode (rolled, unrolled): time ``decompose`` for all modules and
the naive reference on the same model and the same samples, check the masks are identical, and
write one JSON object per case to ``--out``. Ratios are what matter: absolute times drift on a
shared machine. Exit status 1 when any case's masks differ.

    .venv/bin/python benchmarks/decompose_speed.py            # full grid (12 cases)
    .venv/bin/python benchmarks/decompose_speed.py --quick    # LSTM-1 only
    .venv/bin/python benchmarks/decompose_speed.py --task brown --threads 1 --naive-classes 2

``--task brown``: the trained Brown M:N LSTM-4 (``runs/rq1/brown-lstm4``, nothing trained),
unrolled, per-output-step samples. The naive side runs one batch-of-1 pass per (class, step,
example), ~100k passes for all 12 module classes; ``--naive-classes K`` times it on the first K
module classes only and extrapolates to all of them by the number of forward passes (labelled
``naive_s_extrapolated``); masks are then compared on those K classes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import result_header  # noqa: E402
from naive_reference import bank_masks, mask_differences, naive_decompose, samples_from  # noqa: E402

from rnnmod.data import load_task  # noqa: E402
from rnnmod.decomposition import decompose, preset  # noqa: E402
from rnnmod.runs import load_run, save_run  # noqa: E402
from rnnmod.training import TrainConfig, train_classifier  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = [("lstm", 1), ("gru", 1), ("rnn", 1), ("lstm", 4), ("gru", 4), ("rnn", 4)]


def finish(result: dict, out: Path) -> int:
    """Write the result JSON; exit status 1 when any case's masks differ."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if result["all_identical"] else 1


def get_model(data, cell: str, depth: int, epochs: int, runs: Path, retrain: bool):
    """Reuse ``runs/clinc-<cell><depth>-e<epochs>`` when present, else train and save it."""
    path = runs / f"clinc-{cell}{depth}-e{epochs}"
    if path.is_dir() and not retrain:
        return load_run(path).model, path, False
    model, metrics = train_classifier(
        data, TrainConfig(cell=cell, depth=depth, epochs=epochs, progress=False)
    )
    config = {"task": "clinc", "io_type": data.io_type, "cell": cell, "depth": depth, "seed": 0}
    save_run(path, model, config, data.vocab, data.label_names, metrics, overwrite=True)
    model.eval()
    return model, path, True


def best_of(repeat: int, fn):
    """Run ``fn`` ``repeat`` times; keep the fastest run (its result and wall time)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        took = time.perf_counter() - t0
        if took < best:
            best, out = took, result
    return out, best


def statistics_breakdown(model, data, cfg) -> dict:
    """Time the parts of decompose's "statistics" stage by calling its building blocks in the
    same order: index grids, gathering each class's observations, the robust means (§6.3) and
    the selection (§6.4). Hidden-state strategy, logistic cells."""
    from rnnmod.decomposition import concern
    from rnnmod.decomposition.observe import (
        drop_padding,
        gather_observations,
        record_states,
        selection_grid,
    )
    from rnnmod.decomposition.sampling import sample_one_output

    n_classes = model.cfg.n_classes
    sm = sample_one_output(
        data.y_train, n_classes, cfg.n_positive, cfg.n_negative, cfg.sampling, cfg.seed
    )
    states = record_states(model, data.x_train[sm.union])
    out = dict.fromkeys(("grid", "gather", "robust_mean", "select"), 0.0)

    def timed(key, fn, *a):
        t0 = time.perf_counter()
        r = fn(*a)
        out[key] += time.perf_counter() - t0
        return r

    def grids():
        g = []
        for samples in (sm.pos, sm.neg):
            rows, steps = selection_grid(samples, model.steps, cfg.mode, cfg.observe_steps)
            if cfg.observe_steps == "tokens" and not model.flattens:
                rows = drop_padding(rows, steps, data.x_train[sm.union] != 0)
            g.append((rows, steps))
        return g

    shape = None
    for layer_states in states:
        stats = []
        for rows, steps in timed("grid", grids):
            values, valid = timed("gather", gather_observations, layer_states, rows, steps)
            shape = shape or list(values.shape)
            stats.append(timed("robust_mean", concern.robust_mean_abs, values, valid))
        d = (stats[0] - stats[1]).reshape(n_classes, -1, stats[0].shape[-1])
        timed("select", concern.select_comparison, d, cfg.max_remove)
    out = {k: round(v, 4) for k, v in out.items()}
    out["positive_values_shape"] = shape
    out["positive_valid_fraction"] = round(float((grids()[0][0] >= 0).float().mean()), 3)
    return out


def run_case(model, data, cell: str, depth: int, mode: str, args) -> dict:
    cfg = preset(args.preset, mode=mode, n_positive=args.n_positive)
    dec, t_fast = best_of(args.repeat, lambda: decompose(model, data, cfg, progress=False))
    naive, t_naive = best_of(
        args.naive_repeat, lambda: naive_decompose(model, data, cfg, forward=args.naive_forward)
    )
    same_samples = (naive.positives, naive.negatives) == samples_from(dec.samples)
    diff = mask_differences(naive.masks, bank_masks(dec))
    case = {
        "model": f"{cell}-{depth}",
        "cell": cell,
        "depth": depth,
        "mode": mode,
        "preset": args.preset,
        "observe_steps": cfg.observe_steps,
        "sampling": cfg.sampling,
        "decompose_s": round(t_fast, 4),
        "naive_s": round(t_naive, 4),
        "ratio": round(t_naive / t_fast, 2),
        "n_classes": model.cfg.n_classes,
        "n_samples": naive.n_forward,
        "n_union": len(dec.samples.union),
        "n_positive": sum(dec.samples.n_pos),
        "n_negative": sum(dec.samples.n_neg),
        "same_samples": same_samples,
        "identical": same_samples and not diff,
        "decompose_timings": {k: round(v, 4) for k, v in dec.timings.items()},
        "naive_timings": {k: round(v, 4) for k, v in naive.timings.items()},
    }
    if args.breakdown and cell != "rnn-relu" and cfg.gate_strategy == "hidden-state":
        case["statistics_breakdown"] = statistics_breakdown(model, data, cfg)
    if diff:
        case["differing_groups"] = len(diff)
        case["differing_units"] = sum(len(g.get("units", [])) for g in diff)
        case["differences"] = diff[:20]
        # Same rules on decompose's own batched states: tells forward rounding from rule logic.
        for name, arith in (("recorded_exact", "exact"), ("recorded_precision", "decompose")):
            other = naive_decompose(
                model, data, cfg, samples=dec.samples, forward="recorded", arithmetic=arith
            )
            case[f"differing_groups_{name}"] = len(mask_differences(other.masks, bank_masks(dec)))
    return case


def run_brown_case(model, data, mode: str, args) -> dict:
    """Brown M:N: decompose (all module classes) vs the naive per-(class, step, example)
    reference on the same per-step samples, optionally on a subset of the module classes."""
    cfg = preset(args.preset, mode=mode, n_positive=args.n_positive)
    dec, t_fast = best_of(args.repeat, lambda: decompose(model, data, cfg, progress=False))
    classes = dec.bank.class_index
    subset = classes[: args.naive_classes] if args.naive_classes else classes
    naive, t_naive = best_of(
        args.naive_repeat,
        lambda: naive_decompose(
            model,
            data,
            cfg,
            samples=dec.samples,
            forward=args.naive_forward,
            arithmetic=args.naive_arithmetic,
            classes=subset,
        ),
    )
    rows = [classes.index(c) for c in subset]
    theirs = [m[rows] for m in bank_masks(dec)]
    diff = mask_differences(naive.masks, theirs)
    n_all = sum(dec.samples.n_pos[c] + dec.samples.n_neg[c] for c in classes)
    case = {
        "model": f"{model.cfg.cell}-{model.cfg.depth}",
        "task": "brown",
        "io_type": model.cfg.io_type,
        "cell": model.cfg.cell,
        "depth": model.cfg.depth,
        "mode": mode,
        "preset": args.preset,
        "n_positive_wanted": cfg.n_positive,
        "n_negative_wanted": dec.samples.wanted_neg,
        "min_observations": cfg.min_observations,
        "module_classes": classes,
        "naive_classes": subset,
        "naive_arithmetic": args.naive_arithmetic,
        "decompose_s": round(t_fast, 4),
        "naive_s": round(t_naive, 4),
        "n_samples": naive.n_forward,
        "n_samples_all_classes": n_all,
        "n_union": len(dec.samples.union),
        "identical": not diff,
        "masks_compared_on": "all module classes" if subset == classes else f"classes {subset}",
        "decompose_timings": {k: round(v, 4) for k, v in dec.timings.items()},
        "naive_timings": {k: round(v, 4) for k, v in naive.timings.items()},
        "units_removed_per_layer": [int((~m).sum()) for m in bank_masks(dec)],
    }
    if subset == classes:
        case["ratio"] = round(t_naive / t_fast, 2)
    else:
        est = t_naive * n_all / naive.n_forward
        case["naive_s_extrapolated"] = round(est, 2)
        case["ratio_extrapolated"] = round(est / t_fast, 2)
        case["ratio"] = case["ratio_extrapolated"]
    if diff:
        case["differing_groups"] = len(diff)
        case["differences"] = diff[:20]
    return case


def main_brown(args, argv) -> int:
    data = load_task("brown", args.data_dir)
    run = args.brown_run
    model = load_run(run).model.eval()
    cases = []
    for mode in args.modes.split(","):
        case = run_brown_case(model, data, mode, args)
        case["run"] = str(run.relative_to(ROOT) if run.is_relative_to(ROOT) else run)
        cases.append(case)
        extra = "" if "naive_s_extrapolated" not in case else " (extrapolated)"
        print(
            f"brown {case['model']} {mode}: decompose {case['decompose_s']:.2f} s, naive "
            f"{case['naive_s']:.1f} s on {case['n_samples']} of {case['n_samples_all_classes']} "
            f"passes, ratio {case['ratio']:.1f}x{extra}, masks "
            f"{'identical' if case['identical'] else 'DIFFER'} ({case['masks_compared_on']})",
            flush=True,
        )
    result = {
        **result_header("decompose_speed", argv),
        "task": "brown",
        "preset": args.preset,
        "naive_forward": args.naive_forward,
        "all_identical": all(c["identical"] for c in cases),
        "cases": cases,
    }
    return finish(result, args.out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="LSTM-1 only (both modes)")
    p.add_argument("--epochs", type=int, default=2, help="training epochs (default 2)")
    p.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    p.add_argument("--out", type=Path, default=ROOT / ".bench" / "decompose_speed.json")
    p.add_argument("--runs", type=Path, default=ROOT / ".bench" / "runs")
    p.add_argument(
        "--data-dir", default=os.environ.get("RNNMOD_DATA") or str(ROOT.parent / "shared" / "data")
    )
    p.add_argument("--preset", default="default", choices=["default", "paper"])
    p.add_argument("--modes", default="rolled,unrolled")
    p.add_argument(
        "--models", default=None, help="comma list such as lstm-1,gru-4 (default: all six)"
    )
    p.add_argument("--repeat", type=int, default=3, help="decompose runs per case, fastest kept")
    p.add_argument("--naive-repeat", type=int, default=1, help="naive runs per case, fastest kept")
    p.add_argument("--naive-forward", default="engine", choices=["engine", "numpy"])
    p.add_argument("--retrain", action="store_true", help="train again even if a run exists")
    p.add_argument(
        "--breakdown", action="store_true", help="also time the parts of the statistics stage"
    )
    p.add_argument(
        "--task",
        default="clinc",
        choices=["clinc", "brown"],
        help="brown: the trained M:N LSTM-4 of --brown-run (unrolled unless --modes)",
    )
    p.add_argument("--brown-run", type=Path, default=ROOT / "runs" / "rq1" / "brown-lstm4")
    p.add_argument(
        "--naive-classes",
        type=int,
        default=None,
        help="brown: time the naive side on the first K module classes and extrapolate",
    )
    p.add_argument(
        "--n-positive", type=int, default=None, help="positives per class (and step), both sides"
    )
    p.add_argument(
        "--naive-arithmetic",
        default="decompose",
        choices=["decompose", "exact"],
        help="brown: precision of the naive statistics (default: decompose's)",
    )
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.task == "brown":
        if args.modes == "rolled,unrolled":
            args.modes = "unrolled"
        if args.out == ROOT / ".bench" / "decompose_speed.json":
            args.out = ROOT / ".bench" / "decompose_speed-brown.json"
        return main_brown(args, argv)
    models = MODELS[:1] if args.quick else MODELS
    if args.models:
        wanted = [m.strip() for m in args.models.split(",")]
        models = [(c, d) for c, d in MODELS if f"{c}-{d}" in wanted]
    data = load_task("clinc", args.data_dir)
    cases = []
    print(f"{'model':8} {'mode':9} {'n':>5} {'decompose s':>12} {'naive s':>9} {'ratio':>7}  masks")
    for cell, depth in models:
        model, path, trained = get_model(data, cell, depth, args.epochs, args.runs, args.retrain)
        for mode in args.modes.split(","):
            case = run_case(model, data, cell, depth, mode, args)
            case["run"] = str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
            case["trained_now"] = trained
            cases.append(case)
            verdict = (
                "identical" if case["identical"] else f"DIFFER ({case['differing_groups']} groups)"
            )
            print(
                f"{case['model']:8} {mode:9} {case['n_samples']:5d} {case['decompose_s']:12.3f} "
                f"{case['naive_s']:9.2f} {case['ratio']:6.1f}x  {verdict}",
                flush=True,
            )
    result = {
        **result_header("decompose_speed", argv),
        "task": "clinc",
        "epochs": args.epochs,
        "preset": args.preset,
        "naive_forward": args.naive_forward,
        "all_identical": all(c["identical"] for c in cases),
        "cases": cases,
    }
    return finish(result, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
