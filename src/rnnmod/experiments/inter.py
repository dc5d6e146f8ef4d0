"""RQ2 inter reuse and RQ3 inter replace (paper-method §10.2, §11.2): modules of two models of
different I/O types and different vocabularies composed on raw text.

Two problem families, each pairing a one-output task with a many-output task:

* ``M:1-M:N``: Clinc domains (M:1) with Brown tags (M:N);
* ``1:1-1:N``: MathQA categories (1:1) with emotions labels (1:N, the stand-in for toxic).

Each module reads the raw text encoded by its *own* run's vocabulary (``Vocab.encode_texts``), so
no shared tokenizer is needed (the paper trained special "combined" models for this).

**Inter reuse** (one-output class a, many-output label b): the 2-class problem "examples of the
many-output task whose label sequence contains b → 0, examples of class a → 1". Training groups
are balanced by seeded undersampling (the paper's ``RandomUnderSampler``); each test group is
capped at ``test_cap`` examples (seeded). Composed decision, the paper's odds rule: s_b = the
largest odds P_pos/P_neg of module b over its real positions (the non-padding input tokens of an
M:N tagger, every output step of a 1:N model), s_a = module a's odds; predict 0 if s_b ≥ s_a,
else 1. The odds are computed from the channelled head's logits as exp(z_pos − z_neg). For a
two-slot head (1:1, M:1) that is p/(1−p) of the module's probability p, an increasing function,
so the odds rule takes exactly the decisions of comparing probabilities (tested); for our
many-output heads, which keep a third (padding) slot, it leaves the padding mass out, as the
paper's two-slot heads did. Both rules' accuracies are reported (the other as an extra column).

**Inter replace** (faulty one-output class f, many-output label b): the one-output task without
class f plus the many-output examples containing b, relabelled f. The composed model = the
one-output modules ≠ f plus module b playing class f: predict f when b's score is at least the
best other module's, else that module's class (raw probabilities for M:1←M:N and odds for
1:1←1:N, as the paper). Our one deviation from the paper: the
injected group's *training* examples are undersampled to the largest remaining class (the paper
undersampled every class down to the smallest, which shrinks the baseline's training set to a
few dozen examples per class for MathQA); test groups are capped as for reuse.

**Baselines**: a model of the one-output run's architecture (cell, depth, hidden, embedding,
sequence length) trained from scratch on the new problem, with a vocabulary fitted on the
problem's training texts tokenised by the one-output task's tokenizer (at most as many ids as
the run's own vocabulary). Δ = composed − baseline accuracy (pp) on the same test examples.

Every module of a run pair is scored once on the pooled test texts (cached on disk under
``results/<rq>_inter/cache``); a combo is then a lookup plus one scratch training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..composition.calibrate import fit_calibration
from ..composition.scores import log_odds, max_over_positions, real_positions
from ..data import load_task
from ..data.base import TaskData
from ..data.vocab import Vocab, tokenize
from ..decomposition import decompose, preset
from ..decomposition.config import preset_key
from ..errors import RnnmodError
from ..metrics.accuracy import accuracy
from ..modules.module import ModuleBank
from ..nn.zoo import predict_logits
from ..runs import Run, load_run
from ..storage import read_json, write_bytes_atomic, write_csv, write_json
from ..training import TrainConfig, fresh_model, train_classifier
from .freshness import latest_rows
from .paper import FAMILY, _num, _rows

# problem → (one-output task, many-output task); the key is the paper's Table III/IV I/O row
PROBLEMS: dict[str, tuple[str, str]] = {
    "1:1-1:N": ("mathqa", "emotions"),
    "M:1-M:N": ("clinc", "brown"),
}
# the paper's decision for replace: odds for 1:1←1:N, raw probabilities for M:1←M:N (§11.2)
REPLACE_RULE = {"1:1-1:N": "odds", "M:1-M:N": "probability"}
TEST_CAP = 1000
MANY, ONE = 0, 1  # source of an example in a new problem


@dataclass
class InterOptions:
    problems: list[str]
    cells: list[str]
    depths: list[int]
    mode: str | None = None  # None: rolled for 1:1, unrolled otherwise
    preset: str = "default"
    runs_dir: Path = Path("runs")
    results_dir: Path = Path("results")
    data_dir: Path | None = None
    test_cap: int = TEST_CAP
    max_combos: int | None = None  # a seeded random subset of the combos (same for every cell)
    epochs: int | None = None  # scratch baseline epochs (default: the one-output task's)
    seed: int = 0
    rule: str = "calibrated"  # the headline decision: "calibrated" (ours) or "paper" (§10.2/§11.2)
    progress: bool = True


# ---------------------------------------------------------------------------------------------
# building the new problems (pure functions of the label tensors)


@dataclass
class Part:
    """Examples of a new problem: the source task of each (MANY or ONE), its index in that
    task's split, and its new label."""

    src: Tensor
    idx: Tensor
    y: Tensor

    def __len__(self) -> int:
        return len(self.y)

    @staticmethod
    def cat(parts: list[Part]) -> Part:
        return Part(*(torch.cat([getattr(p, k) for p in parts]) for k in ("src", "idx", "y")))


def _group(src: int, idx: Tensor, label: int) -> Part:
    return Part(torch.full_like(idx, src), idx, torch.full_like(idx, label))


def containing(y: Tensor, label: int) -> Tensor:
    """Rows of a many-output label tensor [N, T] whose sequence holds ``label``."""
    return (y == label).any(1)


def seeded_order(n: int, seed: int) -> Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def take(mask: Tensor, order: Tensor, n: int | None) -> Tensor:
    """The first ``n`` (all when None) indices of ``order`` where ``mask`` holds, sorted. One
    seeded order per split, so the samples of different labels overlap as much as they can."""
    picked = order[mask[order]]
    return (picked if n is None else picked[:n]).sort().values


def reuse_parts(
    one_y: tuple[Tensor, Tensor], many_y: tuple[Tensor, Tensor], a: int, b: int, cap: int, seed: int
) -> tuple[Part, Part]:
    """Train and test examples of the 2-class problem: many-output rows containing b → 0, class a
    of the one-output task → 1. Training balanced by seeded undersampling; test groups ≤ cap."""
    out = []
    for split, (oy, my) in enumerate(zip(one_y, many_y)):
        on, mo = oy == a, containing(my, b)
        if split == 0:
            n = min(int(on.sum()), int(mo.sum()))
            ns = (n, n)
        else:
            ns = (cap, cap)
        ones = take(on, seeded_order(len(oy), seed + 2 * split), ns[0])
        many = take(mo, seeded_order(len(my), seed + 2 * split + 1), ns[1])
        out.append(Part.cat([_group(MANY, many, 0), _group(ONE, ones, 1)]))
    return out[0], out[1]


def replace_parts(
    one_y: tuple[Tensor, Tensor], many_y: tuple[Tensor, Tensor], f: int, b: int, cap: int, seed: int
) -> tuple[Part, Part]:
    """Train and test examples of the one-output task without class f plus the many-output
    rows containing b labelled f. Training: the injected group is undersampled to the largest
    remaining class; test: every one-output example ≠ f and at most ``cap`` injected ones."""
    out = []
    for split, (oy, my) in enumerate(zip(one_y, many_y)):
        keep = torch.nonzero(oy != f).flatten()
        largest = int(torch.bincount(oy[keep]).max()) if len(keep) else 0
        n = largest if split == 0 else cap
        many = take(containing(my, b), seeded_order(len(my), seed + 2 * split + 1), n)
        out.append(
            Part.cat([_group(MANY, many, f), Part(torch.full_like(keep, ONE), keep, oy[keep])])
        )
    return out[0], out[1]


# ---------------------------------------------------------------------------------------------
# decisions


def head_scores(z: Tensor) -> dict[str, Tensor]:
    """A module's two scores from its channelled head logits z [..., R] (slots: negative,
    positive, and for many-output modules the protected padding slot):

    * ``probability``: the module's confidence, softmax over its slots (the ``binary`` output);
    * ``odds``: the paper's odds P_pos/P_neg (§10.2), kept as its log z_pos − z_neg
      (:func:`rnnmod.composition.scores.log_odds`). With two slots it is p/(1−p) of the
      probability, an increasing function, so both rules take the same decisions; with a
      padding slot the odds ignore the padding mass, as the paper's heads (which had none) did."""
    return {"probability": torch.softmax(z, -1)[..., 1], "odds": log_odds(z)}


def reuse_decide(s_many: Tensor, s_one: Tensor) -> Tensor:
    """0 (the many-output label b) when its score is at least the one-output module's, else 1."""
    return (s_many < s_one).long()


def replace_decide(s_many: Tensor, s_others: Tensor, labels: list[int], f: int) -> Tensor:
    """Module b plays class f against the remaining modules (``labels`` their classes, s_others
    [K−1, B]): f when b's score ≥ the best remaining module's, else that module's class."""
    best, arg = s_others.max(0)
    return torch.where(s_many >= best, torch.full_like(arg, f), torch.as_tensor(labels)[arg])


# ---------------------------------------------------------------------------------------------
# the two sides of a problem: run, data, modules, scores on the pooled test texts


@dataclass
class Side:
    run: Run
    data: TaskData
    mode: str


@dataclass
class PooledScores:
    """Every module of both runs on the pooled test examples: all one-output test examples, then
    ``many_idx`` of the many-output test split. one[rule] [K1, P], many[rule] [K2, P] (the max
    over real steps), rule = "probability" or "odds" (:func:`head_scores`)."""

    one: dict[str, Tensor]
    many: dict[str, Tensor]
    one_labels: list[int]
    many_labels: list[int]
    n_one: int
    many_idx: Tensor
    pos: dict = field(default_factory=dict)

    def rows(self, part: Part) -> Tensor:
        if not self.pos:
            self.pos = {int(i): self.n_one + k for k, i in enumerate(self.many_idx.tolist())}
        many_rows = torch.tensor([self.pos.get(int(i), -1) for i in part.idx.tolist()])
        out = torch.where(part.src == ONE, part.idx, many_rows)
        if (out < 0).any():
            raise RnnmodError("a test example of the new problem was not scored (internal error)")
        return out


_DATA: dict[tuple, TaskData] = {}


def load_side(task: str, cell: str, depth: int, opts: InterOptions) -> Side:
    path = opts.runs_dir / f"{task}-{cell}{depth}"
    if not (path / "metrics.json").is_file():
        raise RnnmodError(
            f"{path} is missing: train it first (rnnmod reproduce rq1 --tasks {task} --cells {cell} --depths {depth})"
        )
    run = load_run(path)
    options = dict(run.config.get("data_options") or {})
    key = (task, str(opts.data_dir), tuple(sorted(options.items())))
    if key not in _DATA:
        _DATA[key] = load_task(task, opts.data_dir, **options)
    data = _DATA[key]
    if run.vocab.tokens != data.vocab.tokens:
        raise RnnmodError(f"{path} was trained with another vocabulary than the {task} data give")
    if "texts_test" not in data.extra:
        raise RnnmodError(f"the {task} loader gives no raw texts (extra['texts_test'])")
    mode = opts.mode or ("rolled" if run.io_type == "1:1" else "unrolled")
    return Side(run, data, mode)


def many_pool(many: TaskData, labels: list[int], split: str, n: int, seed: int) -> Tensor:
    """Union over labels of the many-output examples any combo of ``split`` can draw: the first
    ``n`` rows holding each label in the seeded order of :func:`reuse_parts`/:func:`replace_parts`
    (test: ``n`` = the cap; train: the largest one-output class, which bounds both undersamplings)."""
    y = getattr(many, f"y_{split}")
    order = seeded_order(len(y), seed + (1 if split == "train" else 3))
    return torch.unique(torch.cat([take(containing(y, b), order, n) for b in labels]))


_BANKS: dict[tuple, ModuleBank] = {}  # per process: the test and the training pool share them


def _bank_logits(side: Side, texts: list[str], ids_own: Tensor, opts: InterOptions):
    key = (str(side.run.path), side.run.model_sha256(), preset_key(opts.preset), side.mode)
    if key not in _BANKS:
        cfg = preset(opts.preset, mode=side.mode)
        _BANKS[key] = decompose(side.run.model, side.data, cfg, progress=False).bank
    bank = _BANKS[key]
    ids = torch.cat([ids_own, side.run.vocab.encode_texts(texts)]) if texts else ids_own
    return bank, ids, bank.scores(side.run.model, ids, output="logits")


RULES = ("probability", "odds")  # the raw scores kept per module
DECISIONS = ("calibrated", "odds", "probability")  # composed rules recorded on every row


def pooled_scores(
    one: Side, many: Side, cache: Path, opts: InterOptions, split: str = "test"
) -> PooledScores:
    """Every module of both runs on the pooled examples of ``split`` (cached on disk). The
    training pool feeds the calibrated rule (:mod:`rnnmod.composition.calibrate`)."""
    labels = [c for c in range(many.run.model.cfg.n_classes) if c != many.data.pad_label]
    if split == "test":
        n = opts.test_cap
    else:
        n = int(torch.bincount(one.data.y_train).max())
    many_idx = many_pool(many.data, labels, split, n, opts.seed)
    key = ":".join(
        ["logits", one.run.model_sha256(), many.run.model_sha256(), preset_key(opts.preset)]
        + [one.mode]
        + [many.mode, str(opts.test_cap), str(opts.seed)]
        + [hashlib.sha256(many_idx.numpy().tobytes()).hexdigest()]
        + ([] if split == "test" else [split])  # the test key predates the training pool
    )
    f = cache / f"scores-{hashlib.sha256(key.encode()).hexdigest()[:20]}.safetensors"
    n_one = len(getattr(one.data, f"y_{split}"))
    if f.is_file():
        t = load_file(f)
        return PooledScores(
            {r: t[f"one_{r}"] for r in RULES},
            {r: t[f"many_{r}"] for r in RULES},
            t["one_labels"].tolist(),
            t["many_labels"].tolist(),
            n_one,
            t["many_idx"],
        )
    one_texts = one.data.extra[f"texts_{split}"]
    many_texts = [many.data.extra[f"texts_{split}"][i] for i in many_idx.tolist()]
    one_x, many_x = (getattr(side.data, f"x_{split}") for side in (one, many))
    b1, _, z1 = _bank_logits(one, many_texts, one_x, opts)  # [K1, P, R]
    # many side: its own rows in pool order (one-output texts first, then many_idx)
    b2, ids2, z2 = _bank_logits(many, one_texts, many_x[many_idx], opts)
    n_m = len(many_idx)
    z2, ids2 = torch.cat([z2[:, n_m:], z2[:, :n_m]], 1), torch.cat([ids2[n_m:], ids2[:n_m]])
    real = real_positions(many.run.io_type, ids2)
    s1 = head_scores(z1)
    s2 = {
        r: max_over_positions(v, real) for r, v in head_scores(z2).items()
    }  # [K2, P, T] → [K2, P]
    cache.mkdir(parents=True, exist_ok=True)
    tensors = {
        **{f"one_{r}": v.contiguous() for r, v in s1.items()},
        **{f"many_{r}": v.contiguous() for r, v in s2.items()},
        "one_labels": torch.tensor(b1.class_index),
        "many_labels": torch.tensor(b2.class_index),
        "many_idx": many_idx.contiguous(),
    }
    tmp = f.with_suffix(".tmp")
    save_file(tensors, tmp)
    tmp.replace(f)
    return PooledScores(s1, s2, b1.class_index, b2.class_index, n_one, many_idx)


# ---------------------------------------------------------------------------------------------
# baseline: the one-output architecture from scratch on the new problem's texts


def part_texts(part: Part, one: TaskData, many: TaskData, split: str) -> list[str]:
    texts = {ONE: one.extra[f"texts_{split}"], MANY: many.extra[f"texts_{split}"]}
    return [texts[s][i] for s, i in zip(part.src.tolist(), part.idx.tolist())]


def problem_data(
    one: Side, many: Side, train: Part, test: Part, label_names: list[str], note: str
) -> TaskData:
    """The new problem as id tensors under a vocabulary fitted on its training texts."""
    rv = one.run.vocab
    tr_texts = part_texts(train, one.data, many.data, "train")
    te_texts = part_texts(test, one.data, many.data, "test")
    vocab = Vocab.fit(
        tokenize(tr_texts, rv.tokenizer),
        tokenizer=rv.tokenizer,
        seq_len=rv.seq_len,
        padding=rv.padding,
        truncating=rv.truncating,
        max_size=rv.size,
    )
    return TaskData(
        one.data.task,
        one.data.io_type,
        vocab.encode_texts(tr_texts),
        train.y.clone(),
        vocab.encode_texts(te_texts),
        test.y.clone(),
        vocab,
        label_names,
        notes=[note],
    )


BASELINE_INIT = TrainConfig().init  # scratch baselines start as every model of the zoo does


def baseline_accuracy(one: Side, pdata: TaskData, opts: InterOptions) -> tuple[float, dict, Tensor]:
    cfg = dataclasses.replace(
        one.run.model.cfg, vocab_size=pdata.vocab.size, n_classes=pdata.n_classes
    )
    torch.manual_seed(opts.seed)
    model = fresh_model(cfg, BASELINE_INIT)
    tc = TrainConfig(
        cell=cfg.cell,
        depth=cfg.depth,
        epochs=opts.epochs,
        seed=opts.seed,
        hidden=cfg.hidden,
        progress=False,
    )
    model, metrics = train_classifier(pdata, tc, model=model)
    metrics["init"] = BASELINE_INIT  # a fresh model handed in, not a trained one fine-tuned
    pred = predict_logits(model, pdata.x_test).argmax(-1)
    return accuracy(pred, pdata.y_test), metrics, pred


# ---------------------------------------------------------------------------------------------
# the grids


def combos(one_labels: list[int], many_labels: list[int], opts: InterOptions) -> list[tuple]:
    """(one-output class, many-output label) pairs; a seeded random subset with max_combos
    (``random.Random(seed).sample``: for these grid sizes a smaller N draws a subset of a larger
    N's combos, so a run with fewer combos reuses the cached rows of a bigger one; tested)."""
    grid = [(a, b) for a in one_labels for b in many_labels]
    if opts.max_combos and opts.max_combos < len(grid):
        grid = sorted(random.Random(opts.seed).sample(grid, opts.max_combos))
    return grid


def _row_base(rq: str, problem: str, one: Side, many: Side, opts: InterOptions) -> dict:
    c = one.run.model.cfg
    sha_one, sha_many = one.run.model_sha256(), many.run.model_sha256()
    return {
        "rq": rq,
        "type": "inter",
        "io_type": problem,
        "task": f"{one.run.task}+{many.run.task}",
        "cell": c.cell,
        "depth": c.depth,
        "mode": f"{one.mode}/{many.mode}",
        "preset": opts.preset,
        "test_cap": opts.test_cap,
        "seed": opts.seed,
        "model_sha256": sha_one,
        "many_model_sha256": sha_many,
        # run → model hash: the reports drop the row once a run holds another model (freshness)
        "models": {str(one.run.path): sha_one, str(many.run.path): sha_many},
    }


def _cached(cache: Path, key: str) -> tuple[Path, dict | None]:
    f = cache / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"
    return f, (read_json(f) if f.is_file() else None)


def _combo_key(rq: str, base: dict, a: int, b: int, opts: InterOptions) -> str:
    pkey = preset_key(opts.preset)
    parts = (rq, base["model_sha256"], base["many_model_sha256"], pkey, base["mode"], a, b)
    return ":".join(str(v) for v in (*parts, opts.test_cap, opts.epochs, opts.seed, BASELINE_INIT))


def paper_rule(rq: str, problem: str) -> str:
    """The paper's decision: odds for reuse, and for replace odds (1:1←1:N) or raw
    probabilities (M:1←M:N) (§10.2, §11.2)."""
    return "odds" if rq == "reuse" else REPLACE_RULE[problem]


def module_stack(
    pooled: PooledScores, part: Part, rule: str, rq: str, a: int, b: int
) -> tuple[Tensor, list[int]]:
    """Scores [K, N] of the composed model's modules on ``part``, module b first, and the class
    each module plays (reuse: b → 0, a → 1; replace: b → a, the others their own)."""
    r = pooled.rows(part)
    s_many = pooled.many[rule][pooled.many_labels.index(b)][r]
    one = pooled.one[rule]
    if rq == "reuse":
        return torch.stack([s_many, one[pooled.one_labels.index(a)][r]]), [0, 1]
    others = [k for k, c in enumerate(pooled.one_labels) if c != a]
    return torch.cat([s_many[None], one[others][:, r]]), [a] + [
        pooled.one_labels[k] for k in others
    ]


def calibrated_predictions(
    train_pooled: PooledScores,
    train: Part,
    pooled: PooledScores,
    test: Part,
    rq: str,
    a: int,
    b: int,
) -> Tensor:
    """The calibrated rule: per-module affine maps of the log-odds fitted on the new problem's
    training examples (:func:`rnnmod.composition.calibrate.fit_calibration`), then the best module."""
    s_train, labels = module_stack(train_pooled, train, "odds", rq, a, b)
    position = torch.full((max(labels) + 1,), -1, dtype=torch.long)
    position[torch.as_tensor(labels)] = torch.arange(len(labels))
    cal = fit_calibration(s_train, position[train.y.long()])
    s_test, _ = module_stack(pooled, test, "odds", rq, a, b)
    return torch.as_tensor(labels)[cal.predict(s_test)]


def composed_predictions(
    rq: str,
    problem: str,
    pooled: PooledScores,
    test: Part,
    a: int,
    b: int,
    train_pooled: PooledScores | None = None,
    train: Part | None = None,
) -> dict[str, Tensor]:
    """The composed model's predictions on ``test`` under every rule: the raw ``odds`` and
    ``probability`` comparisons and, given the training pool and part, ``calibrated``."""
    out = {}
    for rule in RULES:
        s, labels = module_stack(pooled, test, rule, rq, a, b)
        if rq == "reuse":
            out[rule] = reuse_decide(s[0], s[1])
        else:
            out[rule] = replace_decide(s[0], s[1:], labels[1:], a)
    if train_pooled is not None and train is not None:
        out["calibrated"] = calibrated_predictions(train_pooled, train, pooled, test, rq, a, b)
    return out


def inter_rows(
    rq: str,
    problem: str,
    cell: str,
    depth: int,
    opts: InterOptions,
    only: list[tuple[int, int]] | None = None,
) -> list[dict]:
    """One row per combo (``only``: just these (one-output class, many-output label) combos of
    the grid — a task's chunk). The scratch baseline (the slow part) is cached per combo under
    ``<rq>_inter/cache``; the composed accuracies are lookups in the pooled scores (cached under
    ``inter_scores``) and are recomputed on every call; finished rows go to ``<rq>_inter/rows``."""
    one_task, many_task = PROBLEMS[problem]
    one, many = (load_side(t, cell, depth, opts) for t in (one_task, many_task))
    out_dir = opts.results_dir / f"{'rq2' if rq == 'reuse' else 'rq3'}_inter"
    o, m = one.data, many.data
    one_labels = list(range(o.n_classes))
    many_labels = [c for c in range(m.n_classes) if c != m.pad_label]
    grid = combos(one_labels, many_labels, opts)
    if only is not None:
        chunk = {tuple(x) for x in only}
        grid = [c for c in grid if c in chunk]
    base = _row_base(rq, problem, one, many, opts)
    ys = ((o.y_train, o.y_test), (m.y_train, m.y_test))
    if opts.rule not in ("calibrated", "paper"):
        raise RnnmodError(f"unknown inter rule {opts.rule!r}; expected calibrated or paper")
    legacy = paper_rule(rq, problem)
    rule = legacy if opts.rule == "paper" else "calibrated"
    score_dir = opts.results_dir / "inter_scores"
    pooled = pooled_scores(one, many, score_dir, opts)
    train_pooled = pooled_scores(one, many, score_dir, opts, split="train")
    rows = []
    for a, b in grid:
        key = _combo_key(rq, base, a, b, opts)
        if rq == "reuse":
            train, test = reuse_parts(*ys, a=a, b=b, cap=opts.test_cap, seed=opts.seed)
            names = [f"{m.label_names[b]} ({m.task})", f"{o.label_names[a]} ({o.task})"]
        else:
            train, test = replace_parts(*ys, f=a, b=b, cap=opts.test_cap, seed=opts.seed)
            names = list(o.label_names)
            names[a] = f"{m.label_names[b]} ({m.task}) as {o.label_names[a]}"
        inj = test.src == MANY
        f, trained = _cached(out_dir / "cache", key)
        if trained is None:
            t0 = time.perf_counter()
            note = f"inter {rq} {problem}: {o.label_names[a]} / {m.label_names[b]}"
            pdata = problem_data(one, many, train, test, names, note)
            baseline, metrics, base_pred = baseline_accuracy(one, pdata, opts)
            trained = {
                "baseline": baseline,
                "baseline_kind": "scratch",
                "baseline_epochs": metrics["epochs"],
                "baseline_vocab": pdata.vocab.size,
                "baseline_many_group": accuracy(base_pred[inj], test.y[inj]),
                "baseline_one_group": accuracy(base_pred[~inj], test.y[~inj]),
                "n_train": len(train),
                "combo_seconds": round(time.perf_counter() - t0, 2),
            }
            write_json(f, trained)
        pred = composed_predictions(rq, problem, pooled, test, a, b, train_pooled, train)
        composed = accuracy(pred[rule], test.y)
        row = {
            **base,
            ("class_2" if rq == "reuse" else "class"): o.label_names[a],
            ("class_1" if rq == "reuse" else "replacement"): m.label_names[b],
            "rule": rule,
            "paper_rule": legacy,
            "composed": composed,
            **{k: trained[k] for k in ("baseline", "baseline_kind", "baseline_epochs")},
            "delta_pp": 100.0 * (composed - trained["baseline"]),
            **{f"composed_{d}_rule": accuracy(pred[d], test.y) for d in DECISIONS},
            "delta_pp_paper_rule": 100.0 * (accuracy(pred[legacy], test.y) - trained["baseline"]),
            # per source group: the many-output examples (label b / injected as f) and the rest
            "composed_many_group": accuracy(pred[rule][inj], test.y[inj]),
            "composed_one_group": accuracy(pred[rule][~inj], test.y[~inj]),
            "composed_one_group_paper_rule": accuracy(pred[legacy][~inj], test.y[~inj]),
            **{k: trained[k] for k in ("baseline_many_group", "baseline_one_group")},
            **{k: trained[k] for k in ("baseline_vocab", "n_train", "combo_seconds")},
            "n_test": len(test),
            "n_test_injected": int(inj.sum()),
        }
        write_json(out_dir / "rows" / f.name, row)
        rows.append(row)
        if opts.progress:
            print(
                f"inter {rq} {problem} {cell}-{depth} {o.label_names[a]}/{m.label_names[b]}: "
                f"composed {composed:.4f} baseline {row['baseline']:.4f} "
                f"Δ {row['delta_pp']:+.2f} pp (baseline {row['combo_seconds']:.0f} s)",
                flush=True,
            )
    return rows


def run_inter(rq: str, opts: InterOptions) -> list[dict]:
    """rq = "reuse" (RQ2) or "replace" (RQ3); writes results/rq2_inter.{csv,md} or rq3_inter."""
    if rq not in ("reuse", "replace"):
        raise ValueError(rq)
    rows = []
    for problem in opts.problems:
        if problem not in PROBLEMS:
            raise RnnmodError(f"unknown inter problem {problem!r}; expected {', '.join(PROBLEMS)}")
        for cell in opts.cells:
            for depth in opts.depths:
                rows += inter_rows(rq, problem, cell, depth, opts)
    name = "rq2_inter" if rq == "reuse" else "rq3_inter"
    write_inter_report(collect_inter(opts.results_dir, name), opts.results_dir, name)
    return rows


# ---------------------------------------------------------------------------------------------
# reports

ROW_KEY = (
    "io_type",
    "task",
    "cell",
    "depth",
    "mode",
    "preset",
    "class",
    "class_1",
    "class_2",
    "replacement",
    "test_cap",
    "seed",
)
GRID = {("reuse", "1:1-1:N"): 72, ("reuse", "M:1-M:N"): 120}
GRID.update({("replace", p): n for (_, p), n in GRID.items()})
PAPER_OVERALL = {("reuse", "1:1-1:N"): -6.22, ("reuse", "M:1-M:N"): -3.25}
PAPER_OVERALL.update({("replace", "1:1-1:N"): -4.64, ("replace", "M:1-M:N"): -9.81})


def collect_inter(results_dir: Path, name: str) -> list[dict]:
    return latest_rows(results_dir / name / "rows", ROW_KEY)


def paper_inter_cell(table: str, problem: str, cell: str) -> tuple[float | None, float | None]:
    if cell not in FAMILY:
        return None, None
    for r in _rows(table):
        if r["Type"] == "Inter" and r["I/O"] == problem:
            return _num(r[f"{FAMILY[cell]} mean"]), _num(r[f"{FAMILY[cell]} median"])
    return None, None


def _f(v: float | None) -> str:
    return "—" if v is None else f"{v:+.2f}"


def summarize_inter(rows: list[dict], rq: str) -> list[dict]:
    table = "table3_reuse.csv" if rq == "reuse" else "table4_replace.csv"
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["io_type"], r["task"], r["cell"], r["depth"], r["mode"], r.get("rule", "?"))
        groups.setdefault(key, []).append(r)
    out = []
    for (io, task, cell, depth, mode, rule), rs in sorted(groups.items()):
        ds = [r["delta_pp"] for r in rs]
        legacy = [r["delta_pp_paper_rule"] for r in rs if "delta_pp_paper_rule" in r]
        pm, pmed = paper_inter_cell(table, io, cell)
        secs = statistics.fmean(r["combo_seconds"] for r in rs)
        out.append(
            {
                "io_type": io,
                "task": task,
                "cell": cell,
                "depth": depth,
                "mode": mode,
                "rule": rule,
                "n": len(ds),
                "grid": GRID[(rq, io)],
                "mean_composed": statistics.fmean(r["composed"] for r in rs),
                "mean_baseline": statistics.fmean(r["baseline"] for r in rs),
                "mean_delta_pp": statistics.fmean(ds),
                "median_delta_pp": statistics.median(ds),
                "worst_delta_pp": min(ds),
                "mean_delta_paper_rule_pp": statistics.fmean(legacy) if legacy else None,
                "paper_mean": pm,
                "paper_median": pmed,
                "seconds_per_combo": secs,
            }
        )
    return out


def write_inter_report(rows: list[dict], results_dir: Path, name: str) -> None:
    rq = "reuse" if name == "rq2_inter" else "replace"
    results_dir.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for r in rows for k in r if not isinstance(r[k], dict)})
    ordered = sorted(rows, key=lambda r: tuple(str(r.get(k)) for k in ROW_KEY))
    write_csv(results_dir / f"{name}.csv", ordered, keys)
    what = (
        "inter reuse (Table III, Inter rows)"
        if rq == "reuse"
        else "inter replace (Table IV, Inter rows)"
    )
    summary = summarize_inter(rows, rq)
    lines = [
        f"# {name.upper().replace('_', ' ')}: {what}",
        "",
        "Δ = composed − scratch baseline accuracy, percentage points; paper = the published cell "
        "for the same I/O pair and cell family (the paper's combos pool its combined models).",
        "1:N is SemEval-2018 E-c emotions, a SUBSTITUTE for the paper's toxic comments; MathQA is "
        "re-split 80/20 from its official test split (the only one available).",
        "n = combos measured (a seeded subset when n < grid); time = mean seconds per combo "
        "(one scratch training and the lookups), one thread.",
        "",
        "rule = the composed model's decision behind Δ: `calibrated` (ours: per-module affine maps "
        "of the log-odds fitted on the new problem's training examples, rnnmod.composition.calibrate) "
        "or the paper's raw `odds` / `probability` comparison; the paper's rule is always reported "
        "beside it (Δ paper's rule).",
        "",
        "| I/O | tasks | cell | depth | mode | rule | n / grid | composed | baseline | mean Δ | median Δ | worst Δ | mean Δ paper's rule | paper mean | paper median | s / combo |",
        "|---|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summary:
        lines.append(
            f"| {s['io_type']} | {s['task']} | {s['cell']} | {s['depth']} | {s['mode']} | "
            f"{s['rule']} | {s['n']} / {s['grid']} | {s['mean_composed']:.4f} | "
            f"{s['mean_baseline']:.4f} | {_f(s['mean_delta_pp'])} | {_f(s['median_delta_pp'])} | "
            f"{_f(s['worst_delta_pp'])} | {_f(s['mean_delta_paper_rule_pp'])} | "
            f"{_f(s['paper_mean'])} | {_f(s['paper_median'])} | {s['seconds_per_combo']:.0f} |"
        )
    lines += [
        "",
        "Pooled over cells (the paper's text quotes these pooled means):",
        "",
        "| I/O | n | mean Δ | median Δ | mean Δ paper's rule | paper pooled mean | full grid (3 families) | est. hours at this speed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for io in sorted({r["io_type"] for r in rows}):
        rs = [r for r in rows if r["io_type"] == io]
        ds = [r["delta_pp"] for r in rs]
        legacy = [r["delta_pp_paper_rule"] for r in rs if "delta_pp_paper_rule" in r]
        full = 3 * GRID[(rq, io)]
        hours = full * statistics.fmean(r["combo_seconds"] for r in rs) / 3600
        lines.append(
            f"| {io} | {len(ds)} | {_f(statistics.fmean(ds))} | {_f(statistics.median(ds))} | "
            f"{_f(statistics.fmean(legacy) if legacy else None)} | "
            f"{_f(PAPER_OVERALL[(rq, io)])} | {full} | {hours:.1f} |"
        )
    write_bytes_atomic(results_dir / f"{name}.md", ("\n".join(lines) + "\n").encode())
