"""The paper's two motivating scenarios (paper-method §3.7, §12, Table V), end to end.

* ``add-language`` (source English, ``tatoeba/add_language``): a model en→{fr,de,it} is
  decomposed; Ukrainian is added with (solution 1) the ``ua`` module of a decomposed en→{de,ua}
  model, or (solution 2) a small en→ua model used whole as the module.
* ``fix-language`` (source Estonian, ``tatoeba/fix_language``): the et→{en,de,it} model's ``en``
  module is replaced by (solution 1) the ``en`` module of a decomposed et→{en,it} model, or
  (solution 2) a small et→en model trained on the larger ``_s2`` set.

Every model is tested on one common held-out set: the scenario's aligned lines are split by
**line** (seed 19, 15 % test, 15 % validation), so no English (Estonian) test sentence is in any
model's training pairs, whatever its languages (the authors split pairs per model, which lets a
test sentence appear in training under another target language). ``_s2`` pairs whose source is
a test sentence are dropped. The baseline "retrained" model is trained from scratch on all the
scenario's languages (fix-language: the base pairs plus the ``_s2`` English pairs).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from rnnmod.data.base import default_data_dir
from rnnmod.data.generic import Pair, TranslationPairs, read_lines
from rnnmod.decomposition import preset
from rnnmod.errors import RnnmodError
from rnnmod.runs import load_run
from rnnmod.storage import read_json, write_bytes_atomic, write_json

SPLIT_SEED = 19
TEST_PER_LANG = 500  # the first 500 test pairs per language, as the authors' evaluators


@dataclass(frozen=True)
class Scenario:
    name: str
    subdir: str
    source: str
    suffix: str
    original: list[str]
    solution1: list[str]
    solution2: list[str]
    target: str
    solution2_suffix: str | None = None
    solution1_max_vocab: int | None = None


SCENARIOS = {
    "add-language": Scenario(
        "add-language", "add_language", "en", "_ua_train_original",
        ["fr", "de", "it"], ["de", "ua"], ["ua"], "ua",
    ),
    "fix-language": Scenario(
        "fix-language", "fix_language", "et", "_et_train",
        ["en", "de", "it"], ["en", "it"], ["en"], "en",
        solution2_suffix="_et_train_s2", solution1_max_vocab=2000,
    ),
}  # fmt: skip


def _read(root: Path, source: str, suffix: str, langs: list[str]) -> tuple[list[str], dict]:
    src = read_lines(root / f"{source}{suffix}.txt", f"the {source} sentences")
    tgt = {}
    for lang in langs:
        lines = read_lines(root / f"{lang}{suffix}.txt", f"the {lang} sentences")
        if len(lines) != len(src):
            raise RnnmodError(f"{root / f'{lang}{suffix}.txt'}: not aligned with the source file")
        tgt[lang] = lines
    return src, tgt


def scenario_pairs(opts: dict, data_dir: Path | str | None) -> TranslationPairs:
    """Pairs of a scenario model (``data_options`` of its run): a line-level split of the base
    files; ``extra_suffix`` adds every pair of another aligned file set to training. A training pair
    whose source sentence is also a test or validation sentence is dropped."""
    sc = SCENARIOS[opts["scenario"]]
    root = Path(data_dir or default_data_dir()) / "tatoeba" / sc.subdir
    langs = list(opts["langs"])
    base_langs = langs
    src, tgt = _read(root, sc.source, sc.suffix, base_langs)
    order = list(range(len(src)))
    random.Random(SPLIT_SEED).shuffle(order)
    k = int(0.15 * len(src))
    test_lines, val_lines, train_lines = order[:k], order[k : 2 * k], order[2 * k :]

    def pairs(lines: list[int]) -> list[Pair]:
        return [Pair(src[i], tgt[x][i], x) for i in lines for x in base_langs]

    held = {src[i] for i in test_lines + val_lines}
    train = [p for p in pairs(train_lines) if p.source not in held]  # repeated sentences too
    notes = [
        f"scenario {sc.name}: {len(src)} aligned {sc.source} lines split by line (seed "
        f"{SPLIT_SEED}): {len(train_lines)} train, {k} validation, {k} test lines"
    ]
    extra = opts.get("extra_suffix")
    if extra:
        ex_langs = opts.get("extra_langs", base_langs)
        esrc, etgt = _read(root, sc.source, extra, ex_langs)
        add = [
            Pair(s, etgt[x][i], x) for i, s in enumerate(esrc) for x in ex_langs if s not in held
        ]
        train += add
        notes.append(f"plus {len(add)} pairs of {sc.source}{extra}.txt (held-out sources dropped)")
    random.Random(SPLIT_SEED).shuffle(train)
    return TranslationPairs(train, pairs(val_lines), pairs(test_lines), langs, notes)


@dataclass
class ScenarioOptions:
    scenario: str
    cell: str = "lstm"
    depth: int = 1
    mode: str = "rolled"
    runs_dir: Path = Path("runs/scenarios")
    results_dir: Path = Path("results")
    data_dir: Path | None = None
    epochs: int = 3
    hidden: int = 256
    max_vocab: int = 6000
    max_train_per_lang: int | None = 4000
    seed: int = 0
    progress: bool = True
    timings: dict = field(default_factory=dict)


def _train(name: str, langs: list[str], opts: ScenarioOptions, **extra) -> Path:
    from rnnmod.translate.data import build_translation_data
    from rnnmod.translate.runs import save_translation_run
    from rnnmod.translate.train import Seq2SeqTrainConfig, train_seq2seq

    sc = SCENARIOS[opts.scenario]
    path = opts.runs_dir / opts.scenario / f"{name}-{opts.cell}{opts.depth}"
    max_vocab = extra.pop("max_vocab", None) or opts.max_vocab
    settings = {"epochs": opts.epochs, "hidden": opts.hidden, "seed": opts.seed}
    settings |= {"max_train_per_lang": opts.max_train_per_lang, "max_vocab": max_vocab}
    if (path / "metrics.json").is_file():
        saved = read_json(path / "config.json").get("train_settings")
        if saved is not None and saved != settings:  # runs of before session 5 have none
            diff = ", ".join(
                f"{k} {saved.get(k)} → {v}" for k, v in settings.items() if saved.get(k) != v
            )
            raise RnnmodError(
                f"{path} was trained with other settings ({diff}): give another --runs-dir "
                "or delete it"
            )
        return path
    t0 = time.perf_counter()
    dopts = {"scenario": sc.name, "langs": langs, "split": "lines", **extra}
    pairs = scenario_pairs(dopts, opts.data_dir)
    cap = None if opts.max_train_per_lang is None else opts.max_train_per_lang * len(langs)
    dopts |= {"max_train": cap, "max_vocab": max_vocab, "subset_seed": opts.seed}
    dopts |= {"source": sc.source}
    data = build_translation_data(pairs, max_train=cap, max_vocab=max_vocab, seed=opts.seed)
    tc = Seq2SeqTrainConfig(
        cell=opts.cell,
        depth=opts.depth,
        epochs=opts.epochs,
        seed=opts.seed,
        hidden=opts.hidden,
        test_per_lang=TEST_PER_LANG,
        progress=opts.progress,
    )
    model, metrics = train_seq2seq(data, tc)
    config = {"task": f"tatoeba-{sc.name}", "cell": opts.cell, "depth": opts.depth}
    config |= {"seed": opts.seed, "data_options": dopts, "train_settings": settings}
    save_translation_run(
        path, model, config, data.src_vocab, data.tgt_vocab, data.langs, metrics, overwrite=True
    )
    opts.timings[f"train {name}"] = round(time.perf_counter() - t0, 1)
    return path


def _modules(run_path: Path, opts: ScenarioOptions) -> dict:
    from rnnmod.translate.decompose import N_POSITIVE, decompose_translator
    from rnnmod.translate.evaluate import data_for_run

    t0 = time.perf_counter()
    run = load_run(run_path)
    cfg = preset("default", mode=opts.mode, n_positive=N_POSITIVE)
    dec = decompose_translator(run, data_for_run(run, opts.data_dir), cfg)  # type: ignore[arg-type]
    opts.timings[f"decompose {run_path.name}"] = round(time.perf_counter() - t0, 1)
    return {m.lang: m for m in dec.modules}


def run_scenario(opts: ScenarioOptions) -> dict:
    """Train (or reuse) every model, decompose, compose both solutions, evaluate all on the
    common test lines, write ``results/scenario_<name>.{json,md}`` and the composed module sets
    under ``<runs_dir>/<scenario>/``."""
    from rnnmod.translate.data import test_by_language
    from rnnmod.translate.decode import Route, bleu_report
    from rnnmod.translate.evaluate import pairs_for
    from rnnmod.translate.store import save_translation_modules

    if opts.scenario not in SCENARIOS:
        raise RnnmodError(f"unknown scenario {opts.scenario!r}; available: {', '.join(SCENARIOS)}")
    sc = SCENARIOS[opts.scenario]
    start = time.perf_counter()
    all_langs = list(dict.fromkeys(sc.original + [sc.target]))
    orig = _train("original", sc.original, opts)
    sol1 = _train("solution1", sc.solution1, opts, max_vocab=sc.solution1_max_vocab)
    s2 = {}
    if sc.solution2_suffix:
        s2 = {"extra_suffix": sc.solution2_suffix, "extra_langs": sc.solution2}
    sol2 = _train("solution2", sc.solution2, opts, **s2)
    retrain_extra = {}
    if sc.solution2_suffix:
        retrain_extra = {"extra_suffix": sc.solution2_suffix, "extra_langs": sc.solution2}
    retrained = _train("retrained", all_langs, opts, **retrain_extra)

    orig_mods, sol1_mods, sol2_mods = (
        _modules(orig, opts),
        _modules(sol1, opts),
        _modules(sol2, opts),
    )
    keep = [m for lang, m in orig_mods.items() if lang != sc.target]
    base = opts.runs_dir / opts.scenario
    composed = {
        "solution1": keep + [sol1_mods[sc.target]],
        "solution2": keep + [sol2_mods[sc.target]],
    }
    for name, mods in composed.items():
        save_translation_modules(
            base / f"composed-{name}-{opts.mode}",
            mods,
            {"task": f"tatoeba-{sc.name}", "mode": opts.mode, "composed_from": name},
            overwrite=True,
        )
    test = test_by_language(
        pairs_for({"scenario": sc.name, "langs": all_langs, "split": "lines"}, opts.data_dir).test,
        all_langs,
        TEST_PER_LANG,
    )

    def whole(path: Path):
        run = load_run(path)
        r = Route(run.model, run.vocab, run.target_vocab, None)  # type: ignore[attr-defined]
        return run, (lambda _lang: r)

    def modular(mods: list):
        routes = {
            m.lang: Route(m.run.model, m.run.vocab, m.run.target_vocab, m.masks) for m in mods
        }
        return lambda lang: routes[lang]

    def report(route_for, langs: list[str]) -> dict:
        return bleu_report(route_for, [p for p in test if p.lang in langs])

    t0 = time.perf_counter()
    orig_run, orig_route = whole(orig)
    _, sol1_route = whole(sol1)
    _, sol2_route = whole(sol2)
    _, re_route = whole(retrained)
    rows = {
        "original (monolithic)": report(orig_route, sc.original),
        "original (modules)": report(modular(list(orig_mods.values())), sc.original),
        "solution 1 model (monolithic)": report(sol1_route, sc.solution1),
        "solution 2 model (monolithic)": report(sol2_route, sc.solution2),
        "composed, solution 1": report(modular(composed["solution1"]), all_langs),
        "composed, solution 2": report(modular(composed["solution2"]), all_langs),
        "retrained on all languages": report(re_route, all_langs),
    }
    opts.timings["evaluate"] = round(time.perf_counter() - t0, 1)
    result = {
        "scenario": sc.name,
        "target": sc.target,
        "languages": all_langs,
        "cell": opts.cell,
        "depth": opts.depth,
        "mode": opts.mode,
        "n_test": {x: sum(p.lang == x for p in test) for x in all_langs},
        "rows": rows,
        "timings": opts.timings,
        "seconds": round(time.perf_counter() - start, 1),
        "notes": orig_run.metrics.get("notes", []),
    }
    opts.results_dir.mkdir(parents=True, exist_ok=True)
    write_json(opts.results_dir / f"scenario_{sc.name}.json", result)
    write_bytes_atomic(opts.results_dir / f"scenario_{sc.name}.md", render(result).encode())
    return result


def render(res: dict) -> str:
    langs = res["languages"]
    head = (
        "| model | " + " | ".join(langs) + " | mean | BLEU-1 (legacy) per language | mean BLEU-1 |"
    )
    lines = [
        f"# Scenario {res['scenario']} ({res['cell']}-{res['depth']}, {res['mode']} modules)",
        "",
        "sacreBLEU on normalised text (0-100) per target language, and the paper's legacy "
        f"BLEU-1; target language: **{res['target']}**. Test pairs per language: "
        + ", ".join(f"{k} {v}" for k, v in res["n_test"].items()),
        "",
        head,
        "|" + "---|" * (len(langs) + 4),
    ]
    for name, r in res["rows"].items():
        per = r["per_language"]
        cells = [f"{per[x]['bleu']:.2f}" if x in per else "—" for x in langs]
        b1 = ", ".join(f"{x} {per[x]['bleu1_legacy']:.4f}" for x in langs if x in per)
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {r['bleu']:.2f} | {b1} | {r['bleu1_legacy']:.4f} |"
        )
    lines += ["", f"Total {res['seconds']:.0f} s; stages: "
              + ", ".join(f"{k} {v} s" for k, v in res["timings"].items())]  # fmt: skip
    return "\n".join(lines) + "\n"
