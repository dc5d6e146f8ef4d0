"""The public verbs of rnnmod, one entry point each for every model kind (re-exported by
``rnnmod``): train or bring a model, decompose it, compose modules, evaluate, predict, translate.
What differs between kinds is asked of the kind's handler (:mod:`rnnmod.kinds`)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .composition import compose_modulesets
from .decomposition import Decomposition, DecompositionConfig
from .errors import RnnmodError
from .kinds import kind_for_task, kind_of, kind_of_sets
from .locking import output_lock
from .modules.fill import removed_units_of
from .modules.reuse import data_sha256, reusable
from .modules.store import ModuleSet, load_moduleset, save_moduleset
from .runs import Run, load_run, save_run
from .storage import recover_dir
from .translation.decode import Decoding, Translation, translate_texts


def _run(run: Run | Path | str) -> Run:
    return run if isinstance(run, Run) else load_run(run)


def _moduleset(mods: ModuleSet | Path | str) -> ModuleSet:
    return mods if isinstance(mods, ModuleSet) else load_moduleset(mods)


def load(path: Path | str) -> Run | ModuleSet:
    """A run directory or a module set directory, whichever ``path`` holds."""
    p = Path(path)
    return load_moduleset(p) if (p / "manifest.json").is_file() else load_run(p)


def train(task: str, *, out: Path | str | None = None, overwrite: bool = False, **options) -> Run:
    """Train a model of the zoo on a task (``cell``, ``depth``, ``epochs``, ``seed``, … as the
    ``rnnmod train`` options) and, with ``out``, write its run directory."""
    return kind_for_task(task).train(task, out=out, overwrite=overwrite, **options)


def decompose(
    run: Run | Path | str,
    config: DecompositionConfig | None = None,
    *,
    data=None,
    data_dir: Path | str | None = None,
    progress: bool = False,
) -> Decomposition:
    """One module per class (per target language for translators) of a trained run, in memory:
    ``config`` defaults to the kind's ``default`` preset; ``data`` to the run's own task data."""
    run = _run(run)
    kind = kind_of(run)
    cfg = config or kind.decomposition_config("default")
    data = data if data is not None else kind.load_data(run, data_dir)
    dec = kind.decompose(run, data, cfg, progress=progress)
    dec.source = run
    return dec


def save_modules(
    dec: Decomposition, out: Path | str, *, extra: dict | None = None, overwrite: bool = False
) -> ModuleSet:
    """Write a decomposition as a module set directory and load it back."""
    run = dec.source
    if run is None:
        raise RnnmodError("this decomposition does not know its source run: use rnnmod.decompose")
    manifest = {
        "task": run.task,
        "io_type": run.io_type,
        "mode": dec.config.mode,
        "config": dec.config.to_dict(),
        "config_hash": dec.config.hash(),
        "max_remove_effective": dec.max_remove,
        "n_observed_examples": 0 if dec.samples is None else len(dec.samples.union),
        "warnings": dec.warnings,
        **(extra or {}),
    }
    timings = {k: round(v, 4) for k, v in dec.timings.items()}
    path = save_moduleset(
        Path(out), [(run, dec.bank)], manifest, overwrite=overwrite, timings=timings
    )
    return load_moduleset(path)


@dataclass
class DecomposeResult:
    """What :func:`decompose_to` did: the module set at ``out``, whether an existing one was
    reused, and the decomposition's warnings and wall time."""

    out: Path
    reused: bool
    n_modules: int = 0
    retained_units: float = 1.0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    # or "linear" / "learned": rebuilt from kept units by a fitted / learned fill (modules.fill)
    removed_units: str = "dead"


def decompose_to(
    run: Run | Path | str,
    out: Path | str,
    config: DecompositionConfig,
    *,
    budget: dict | None = None,
    learned: dict | None = None,
    data_dir: Path | str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> DecomposeResult:
    """Decompose into a module set directory under the output's lock. A finished module set of
    the same model, data, configuration and budget is reused; ``budget`` (``tolerance_pp``,
    ``metric``, ``val_frac``) searches each module's removal on a validation split
    (docs/budget.md); ``learned`` (``target_retained`` or ``tolerance_pp`` with ``val_frac``,
    optionally ``steps``, ``removed_units`` (``dead``, ``linear``, ``learned`` or ``auto``: what
    a removed unit becomes, :mod:`rnnmod.modules.fill`) and — a classifier's budget — ``confidence``, the
    one-sided level of the lower bound each checkpoint is judged on) learns every module's unit masks on the
    training split after the default decomposition (docs/budget.md, "Learned masks")."""
    if budget is not None and learned is not None:
        raise RnnmodError("give a rank budget or learned masks, not both")
    out = Path(out)
    with output_lock(out, "rnnmod decompose"):
        recover_dir(out)  # a previous run killed while publishing: put its result back
        run = _run(run)
        kind = kind_of(run)
        data = kind.load_data(run, data_dir)
        data_sha = data_sha256(data)
        recorded = None
        if learned is not None:
            from .decomposition.learned import ALGORITHM

            recorded = {**learned, "algorithm": ALGORITHM}
        if reusable(out, run, config, data_sha, budget) and _learned_request(out) == recorded:
            return DecomposeResult(out, True)
        if out.exists() and not overwrite:
            raise RnnmodError(f"{out} already exists; pass --overwrite to replace it")
        start = time.perf_counter()
        extra = {"data_sha256": data_sha, "data_notes": data.notes}
        if budget is None:
            dec = kind.decompose(run, data, config, progress=progress)
        else:
            from .decomposition.budget import budgeted_decompose

            dec, summary = budgeted_decompose(run.model, data, config, progress=progress, **budget)
            extra["budget"] = dict(summary, request=budget)
        if learned is not None:
            t0 = time.perf_counter()
            bank, summary = kind.learn_masks(
                run, data, dec.bank, seed=config.seed, progress=progress, **learned
            )
            dec = replace(dec, bank=bank, timings=dict(dec.timings, learn=time.perf_counter() - t0))
            extra["learned"] = dict(summary, request=recorded)
        seconds = time.perf_counter() - start
        dec.source = run
        save_modules(dec, out, extra=extra, overwrite=overwrite)
        retained = float(dec.bank.retained_fraction().mean())
        removed = removed_units_of(dec.bank, extra.get("learned"))
        return DecomposeResult(
            out, False, len(dec.bank), retained, seconds, dec.warnings, removed_units=removed
        )


def _learned_request(out: Path) -> dict | None:
    """The ``learned`` request recorded in the manifest of the module set at ``out``."""
    try:
        man = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return (man.get("learned") or {}).get("request")


def compose(
    sets: list[ModuleSet | Path | str],
    labels: list[str],
    out: Path | str,
    *,
    rule: str | None = None,
    calibrate_on: tuple[list[str], list] | None = None,
    overwrite: bool = False,
    single: bool = False,
) -> ModuleSet:
    """Pick modules by label (``label`` or ``N:label``, N the set's 1-based position) from one
    or more module sets into a new module set (reuse and replace). ``rule``: how classifiers'
    modules are compared (probability, odds, calibrated — the default with ``calibrate_on``
    labelled texts); translators' modules route by language. A classifier's set of one module
    always predicts its label: it needs ``single=True``."""
    loaded = [_moduleset(s) for s in sets]
    kind = kind_of_sets(loaded)
    rule = rule or ("calibrated" if calibrate_on is not None else "probability")
    kind.check_composable(loaded, rule, calibrate_on is not None)
    path = compose_modulesets(
        loaded,
        labels,
        Path(out),
        overwrite=overwrite,
        rule=rule,
        calibrate_on=calibrate_on,
        manifest_extra=lambda parts: kind.compose_extra(loaded, parts),
        allow_single=single or not kind.votes,
    )
    return load_moduleset(path)


def evaluate(mods: ModuleSet | Path | str, data_dir: Path | str | None = None, **options) -> dict:
    """Monolithic vs composed quality of a module set on its source's test split: accuracy for
    classifiers (``legacy_accuracy`` counts padding as the paper did), BLEU for translators
    (``test_per_lang``)."""
    ms = _moduleset(mods)
    return kind_of(ms).evaluate(ms, data_dir, **options)


def evaluate_labelled(
    mods: ModuleSet | Path | str,
    texts: list[str],
    labels: list[str] | list[list[str]],
    *,
    where: str = "the labelled texts",
) -> dict:
    """Accuracy of a module set's decision on labelled texts: per text (one label each), or per
    token for a tagger's set and tag lists — e.g. a composed model of several models."""
    ms = _moduleset(mods)
    tagged = isinstance(labels[0], list)
    if tagged != ms.per_position:
        raise RnnmodError(
            f"{ms.path} answers {'per token' if ms.per_position else 'once per text'}: give "
            f"{where} {'a tags' if ms.per_position else 'a label'} column"
        )
    gold = [t for tags in labels for t in tags] if tagged else labels
    unknown = sorted(set(gold) - set(ms.labels))
    if unknown:
        raise RnnmodError(
            f"{where}: label(s) {', '.join(map(repr, unknown[:3]))} are not modules of "
            f"{ms.path} ({', '.join(ms.labels)})"
        )
    if tagged:
        from .composition.compose import tag_targets

        run = next(iter(ms.sources.values()))
        y = tag_targets(run, texts, labels, ms.labels)
        idx = ms.decide_positions(texts)
        on = y >= 0
        pairs = [(ms.labels[g], ms.labels[w]) for g, w in zip(idx[on].tolist(), y[on].tolist())]
    else:
        pairs = list(zip(ms.predict_texts(texts), labels))
    per = {x: [g == w for g, w in pairs if w == x] for x in ms.labels}
    return {
        "rule": ms.rule,
        "n": len(pairs),
        "unit": "tokens" if tagged else "texts",
        "accuracy": sum(g == w for g, w in pairs) / len(pairs),
        "per_label": {
            x: {"n": len(v), "accuracy": sum(v) / len(v) if v else None} for x, v in per.items()
        },
    }


def evaluation_report(res: dict, mods: ModuleSet | Path | str) -> list[str]:
    """The human-readable lines of :func:`evaluate`'s result."""
    return kind_of(_moduleset(mods)).evaluation_lines(res)


def predict(mods: ModuleSet | Path | str, texts: list[str]) -> list[str] | list[list[str]]:
    """Each text's label (one-output modules, or any set under the odds/calibrated rules), or
    its tags (a tagger's modules voting per position)."""
    ms = _moduleset(mods)
    return ms.predict_tags(texts) if ms.per_position else ms.predict_texts(texts)


def translate(
    source: Run | ModuleSet | Path | str,
    texts: list[str],
    to: str,
    *,
    warn: bool = False,
    beam: int = 1,
    no_unk: bool = False,
) -> list[Translation]:
    """Translate sentences into language ``to`` with a translation run or module set, greedily
    or with a beam of ``beam`` hypotheses; ``no_unk``: never write ``<unk>`` (the most probable
    known word instead)."""
    if isinstance(source, (str, Path)):
        source = load(source)
    route = kind_of(source).router(source)
    route(to)
    decoding = Decoding(beam=beam, no_unk=no_unk)
    return translate_texts(route, texts, [to] * len(texts), warn=warn, decoding=decoding)


__all__ = [
    "DecomposeResult",
    "compose",
    "decompose",
    "decompose_to",
    "evaluate",
    "evaluate_labelled",
    "evaluation_report",
    "load",
    "predict",
    "save_modules",
    "save_run",
    "train",
    "translate",
]
