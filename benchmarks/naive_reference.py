"""A deliberately naive decomposer that works the way the authors' tool does (paper-method §6).

For every class, for every positive and every negative example, run the model on that one
example, append each observed state vector to a Python list, then compute the per-unit
statistics with NumPy one unit at a time and apply the removal rule as the original's sequential
loop over the sorted units. Nothing is shared between classes and nothing is vectorised over
examples or units: this is the baseline ``decompose`` is timed against and an executable
restatement of the rules its masks are checked against.

Arithmetic (``arithmetic="exact"``, the default): observations are the model's float32 states;
robust means are computed in float64 (the mean of N copies of a value is that value) and active
rates are exact fractions, so ties are real ties and no decision hinges on rounding.
``arithmetic="decompose"`` uses ``decompose``'s precision instead (float32 median and MAD; rates
in the dtype the installed ``decompose`` uses). With ``forward="recorded"`` (the rows of one batched recording instead of one run per
example) the two settings tell *which* numerical choice makes two sets of masks differ (see
docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from rnnmod.data.base import TaskData
from rnnmod.data.vocab import Vocab
from rnnmod.decomposition.config import DecompositionConfig, effective_max_remove
from rnnmod.decomposition.sampling import ClassSamples
from rnnmod.nn.zoo import ONE_OUTPUT, SeqClassifier, build_classifier

GATES = {"rnn": 1, "rnn-relu": 1, "lstm": 4, "gru": 3}
# Gate blocks with a logistic activation in PyTorch order: LSTM (i, f, g, o), GRU (r, z, n).
SIGMOID_GATE_BLOCKS = {"rnn": (), "rnn-relu": (), "lstm": (0, 1, 3), "gru": (0, 1)}


@dataclass
class NaiveResult:
    """Masks in ``ModuleBank`` layout: per layer a bool tensor [C, S, W], True = kept."""

    masks: list[torch.Tensor]
    positives: list[list[int]]
    negatives: list[list[int]]
    max_remove: float
    timings: dict = field(default_factory=dict)
    n_forward: int = 0
    d: list[list[list[np.ndarray | None]]] = field(default_factory=list)  # [layer][class][step]


# --------------------------------------------------------------------------- sampling (§6.1)


def naive_samples(
    labels: torch.Tensor,
    n_classes: int,
    n_positive: int,
    n_negative: int | None,
    method: str,
    seed: int,
) -> tuple[list[list[int]], list[list[int]]]:
    """Training indices of the positives and negatives of every class, by walking the data.

    ``first-n``: the first ``n_positive`` examples of the class and the first ``n_negative``
    examples of any other class, in dataset order (the authors' ``sample_for_one_output``).
    ``stratified``: the same walk over a seeded permutation (the one ``decompose`` draws), with
    the negatives split over the other classes in proportion to their size (largest remainder).
    """
    y = [int(v) for v in labels.tolist()]
    n_neg = n_negative if n_negative is not None else math.ceil(n_positive / max(1, n_classes - 1))
    if method == "first-n":
        order = list(range(len(y)))
    else:
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).tolist()
    sizes = [y.count(k) for k in range(n_classes)]
    positives, negatives = [], []
    for m in range(n_classes):
        pos = []
        for i in order:
            if len(pos) >= n_positive:
                break
            if y[i] == m:
                pos.append(i)
        neg = []
        if method == "first-n":
            for i in order:
                if len(neg) >= n_neg:
                    break
                if y[i] != m:
                    neg.append(i)
        else:
            quota = _largest_remainder(n_neg, [0 if k == m else sizes[k] for k in range(n_classes)])
            taken = [0] * n_classes
            for i in order:
                if len(neg) >= n_neg:
                    break
                k = y[i]
                if k != m and taken[k] < quota[k]:
                    neg.append(i)
                    taken[k] += 1
        positives.append(pos)
        negatives.append(neg)
    return positives, negatives


def _largest_remainder(total: int, weights: list[int]) -> list[int]:
    s = sum(weights)
    if s == 0:
        return [0] * len(weights)
    exact = [total * w / s for w in weights]
    base = [math.floor(e) for e in exact]
    short = total - sum(base)
    by_remainder = sorted(range(len(weights)), key=lambda k: -(exact[k] - base[k]))
    for k in by_remainder[:short]:
        base[k] += 1
    return base


def samples_from(cs: ClassSamples) -> tuple[list, list]:
    """The per-class training indices of a ``Decomposition.samples``: [class][example] for
    one-output models, [class][output step][example] for many-output models."""
    union = cs.union.tolist()

    def rows(t: list) -> list:
        if t and isinstance(t[0], list):
            return [rows(r) for r in t]
        return [union[p] for p in t if p >= 0]

    return rows(cs.pos.tolist()), rows(cs.neg.tolist())


# --------------------------------------------------------------------------- forward (§4)


@torch.no_grad()
def forward_engine(model: SeqClassifier, ids: torch.Tensor, gates: bool) -> list[np.ndarray]:
    """One example through the cell engine (a batch of 1): per layer [T, W] float32."""
    out = model.run_engine(ids.unsqueeze(0), record_gates=gates)
    states = out.gates if gates else out.hidden
    return [s[0].numpy() for s in states]


class NumpyStack:
    """The recurrent stack as a plain NumPy per-step loop (paper-method §4, PyTorch layouts)."""

    def __init__(self, model: SeqClassifier):
        self.model = model
        self.cell = model.cfg.cell
        self.layers = [
            tuple(
                t.detach().numpy().astype(np.float32)
                for t in (w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh)
            )
            for w in model.layer_weights()
        ]

    @torch.no_grad()
    def __call__(self, ids: torch.Tensor, gates: bool) -> list[np.ndarray]:
        x = self.model.recurrent_input(ids.unsqueeze(0))[0].numpy()
        out = []
        for w_ih, w_hh, b_ih, b_hh in self.layers:
            hid = w_hh.shape[1]
            h = np.zeros(hid, np.float32)
            c = np.zeros(hid, np.float32)
            hs, gs = [], []
            for xt in x:
                a = w_ih @ xt + b_ih
                r = w_hh @ h + b_hh
                if self.cell == "lstm":
                    s = a + r
                    i, f = _sigmoid(s[:hid]), _sigmoid(s[hid : 2 * hid])
                    g, o = np.tanh(s[2 * hid : 3 * hid]), _sigmoid(s[3 * hid :])
                    c = f * c + i * g
                    h = o * np.tanh(c)
                    gate = np.concatenate([i, f, g, o])
                elif self.cell == "gru":
                    rg = _sigmoid(a[:hid] + r[:hid])
                    z = _sigmoid(a[hid : 2 * hid] + r[hid : 2 * hid])
                    n = np.tanh(a[2 * hid :] + rg * r[2 * hid :])
                    h = (1 - z) * n + z * h
                    gate = np.concatenate([rg, z, n])
                else:
                    s = a + r
                    h = np.tanh(s) if self.cell == "rnn" else np.maximum(s, 0)
                    gate = h
                hs.append(h)
                gs.append(gate)
            out.append(np.stack(gs if gates else hs))
            x = np.stack(hs)
        return out


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-v))


class RecordedStates:
    """Diagnostic forward: rows of ONE batched engine recording over the given examples (what
    ``decompose`` observes), looked up per example. Not naive; used to tell rounding from rules."""

    def __init__(self, model: SeqClassifier, ids: torch.Tensor, index: list[int], gates: bool):
        from rnnmod.decomposition.observe import record_states

        self.row = {i: r for r, i in enumerate(index)}
        self.states = [s.numpy() for s in record_states(model, ids[index], gates=gates)]

    def __call__(self, i: int) -> list[np.ndarray]:
        return [s[self.row[i]] for s in self.states]


# --------------------------------------------------------------------------- statistics (§6.3)


def robust_mean_abs(
    values: np.ndarray, outlier_mads: float = 2.0, arithmetic: str = "exact"
) -> float:
    """``get_mean_minus_outliers`` of one unit: mean of |v| without the observations whose
    distance from the median is ``outlier_mads`` MADs or more (nothing dropped when MAD = 0).

    ``decompose`` uses ``decompose``'s precision instead: median, deviations and MAD in
    float32, the mean summed in float64 and rounded to float32.
    """
    if arithmetic == "decompose":
        a = np.abs(values.astype(np.float32))
        med = np.median(a)
        dev = np.abs(a - med)
        mad = np.median(dev)
        kept = a if mad == 0 else a[dev / mad < np.float32(outlier_mads)]
        return np.float32(kept.sum(dtype=np.float64) / len(kept))
    a = np.abs(values.astype(np.float64))
    med = np.median(a)
    dev = np.abs(a - med)
    mad = np.median(dev)
    if mad == 0:
        return float(np.mean(a))
    return float(np.mean(a[dev / mad < outlier_mads]))


def active_rate(values: np.ndarray, threshold: float, absolute: bool, inclusive: bool) -> Fraction:
    """Exact fraction of observations above the threshold (ReLU: v > 0; gates: |v| ≥ 0.5)."""
    v = np.abs(values) if absolute else values
    hits = int(np.count_nonzero(v >= threshold if inclusive else v > threshold))
    return Fraction(hits, len(v))


def unit_statistics(
    obs: np.ndarray, cell: str, per_gate: bool, cfg: DecompositionConfig, arithmetic: str = "exact"
) -> list:
    """One statistic per column of ``obs`` [N, W], computed column by column."""
    width = obs.shape[1]
    hidden = width // GATES[cell] if per_gate else width
    sigmoid_blocks = SIGMOID_GATE_BLOCKS[cell] if per_gate else ()
    stats = []
    for col in range(width):
        column = obs[:, col]
        if col // hidden in sigmoid_blocks:
            stats.append(active_rate(column, cfg.gate_active_threshold, True, True))
        elif cell == "rnn-relu":
            stats.append(active_rate(column, 0.0, False, False))
        else:
            stats.append(robust_mean_abs(column, cfg.outlier_mads, arithmetic))
    if arithmetic == "decompose":
        # decompose returns one tensor per group: rates in its rate dtype, and robust means
        # (float32) promoted to that dtype when a group mixes both (per-gate LSTM/GRU)
        has_rates = any(isinstance(v, Fraction) for v in stats)
        dtype = decompose_rate_dtype() if has_rates else np.float32
        return [dtype(float(v)) for v in stats]
    return stats


@functools.cache
def decompose_rate_dtype() -> type:
    """The precision of ``decompose``'s activation rates, asked from the installed code
    (float32 up to commit bae35e1; float64 after it rounds Python-style)."""
    from rnnmod.decomposition.concern import active_rate as torch_active_rate

    rate = torch_active_rate(torch.ones(1, 1, 1), torch.ones(1, 1, dtype=torch.bool))
    return np.float64 if rate.dtype == torch.float64 else np.float32


# --------------------------------------------------------------------------- removal (§6.4)


def sorted_units(d: list) -> list[int]:
    """Units by d ascending; ties keep unit order (Python's sort is stable)."""
    return sorted(range(len(d)), key=lambda n: d[n])


def remove_by_comparison(
    d: list, max_remove: float, ratio: float = 1.1, tangle: float = 0.0
) -> list[bool]:
    """The second ``removeAndTangleConcernBasedOnComparison``: True = removed."""
    n_units = len(d)
    removed = [False] * n_units
    order = sorted_units(d)
    first = d[order[0]]
    count = 0
    for k, n in enumerate(order):
        remove = d[n] + tangle < 0
        if count / n_units >= max_remove:
            remove = k != 0 and d[n] < 0 and first / d[n] < ratio
        if remove:
            removed[n] = True
            count += 1
    return removed


def remove_by_active_rate(d: list, max_remove: float, threshold: float = -0.5) -> list[bool]:
    """``removeAndTangleConcernBasedActiveStat`` (ReLU): remove d ≤ threshold while under the cap.

    Exact rate differences are compared with the threshold as written (-0.1 means -1/10)."""
    if d and isinstance(d[0], Fraction):
        threshold = Fraction(repr(threshold))
    n_units = len(d)
    removed = [False] * n_units
    count = 0
    for n in sorted_units(d):
        if count / n_units < max_remove and d[n] <= threshold:
            removed[n] = True
            count += 1
    return removed


def remove_per_gate(d: list, n_blocks: int, max_remove: float) -> list[bool]:
    """Per-gate strategy: one global ascending pass over all gate columns; a column with d < 0
    is removed while its own gate block's count / H is under the cap."""
    hidden = len(d) // n_blocks
    removed = [False] * len(d)
    count = [0] * n_blocks
    for n in sorted_units(d):
        block = n // hidden
        if d[n] < 0 and count[block] / hidden < max_remove:
            removed[n] = True
            count[block] += 1
    return removed


# --------------------------------------------------------------------------- observation (§6.2)


def observed_steps(
    ids: torch.Tensor, steps: int, mode: str, observe: str, flattens: bool
) -> list[tuple[int, int]]:
    """(group, step) pairs one example contributes: rolled pools into group 0 (every step, every
    real-token step, or the last step); unrolled puts step t in group t. ``tokens`` skips padded
    positions (input id 0) of sequence models."""
    tokens = ids.tolist()

    def real(t: int) -> bool:
        return observe != "tokens" or flattens or tokens[t] != 0

    if mode == "unrolled":
        return [(t, t) for t in range(steps) if real(t)]
    if observe == "last":
        return [(0, steps - 1)]
    return [(0, t) for t in range(steps) if real(t)]


def example_runner(
    model: SeqClassifier, data: TaskData, forward: str, per_gate: bool, union: list[int]
):
    """One training example (by index) → per-layer states [T, W]: the cell engine on a batch of
    1, a per-step NumPy loop, or rows of one batched recording over ``union`` (diagnostic)."""
    if forward == "numpy":
        stack = NumpyStack(model)
        return lambda i: stack(data.x_train[i], per_gate)
    if forward == "recorded":
        return RecordedStates(model, data.x_train, union, per_gate)
    return lambda i: forward_engine(model, data.x_train[i], per_gate)


def select_row(
    observations: dict,
    row: int,
    masks: list[np.ndarray],
    all_d: list | None,
    cell: str,
    cfg: DecompositionConfig,
    per_gate: bool,
    arithmetic: str,
    max_remove: float,
) -> None:
    """For every layer and group of one module: statistics of its positive and negative
    observation lists, the removal rule, and the kept units written to masks[layer][row, group].
    A group with fewer than ``min_observations`` (at least 1) observations on either side keeps
    every unit — for an empty group, the authors' fallback."""
    min_observations = max(1, getattr(cfg, "min_observations", 1))
    for layer, (pos_groups, neg_groups) in enumerate(zip(observations["pos"], observations["neg"])):
        for group, (pos, neg) in enumerate(zip(pos_groups, neg_groups)):
            if min(len(pos), len(neg)) < min_observations:
                continue
            s_pos = unit_statistics(np.array(pos), cell, per_gate, cfg, arithmetic)
            s_neg = unit_statistics(np.array(neg), cell, per_gate, cfg, arithmetic)
            d = [p - q for p, q in zip(s_pos, s_neg)]
            if per_gate:
                removed = remove_per_gate(d, GATES[cell], max_remove)
            elif cell == "rnn-relu":
                removed = remove_by_active_rate(d, max_remove, cfg.relu_tangle_threshold)
            else:
                removed = remove_by_comparison(d, max_remove, cfg.ratio_rule, cfg.tangle_threshold)
            masks[layer][row, group] = ~np.array(removed)
            if all_d is not None:
                all_d[layer][row][group] = np.array([float(v) for v in d])


def naive_decompose(
    model: SeqClassifier,
    data: TaskData,
    cfg: DecompositionConfig,
    *,
    samples: ClassSamples | None = None,
    forward: str = "engine",
    arithmetic: str = "exact",
    keep_d: bool = False,
    classes: list[int] | None = None,
) -> NaiveResult:
    """Masks of every module, computed one class, one example and one unit at a time.

    ``samples``: take the examples ``decompose`` chose instead of walking the data again.
    ``forward``: ``engine`` (the cell engine on a batch of 1), ``numpy`` (a per-step NumPy loop)
    or ``recorded`` (diagnostic, see :class:`RecordedStates`). ``arithmetic``: see the module
    docstring. ``keep_d``: keep every group's d vector (for reports). Many-output models (1:N,
    M:N): see :func:`naive_decompose_many` (``samples`` required, ``classes`` optional).
    """
    if arithmetic == "float32":  # the name of "decompose" before its rates became float64
        arithmetic = "decompose"
    if forward not in ("engine", "numpy", "recorded") or arithmetic not in ("exact", "decompose"):
        raise ValueError(f"unknown forward {forward!r} or arithmetic {arithmetic!r}")
    cfg.validate()
    if model.cfg.io_type not in ONE_OUTPUT:
        return naive_decompose_many(
            model,
            data,
            cfg,
            samples=samples,
            forward=forward,
            arithmetic=arithmetic,
            keep_d=keep_d,
            classes=classes,
        )
    if classes is not None:
        raise ValueError("classes= is for many-output models only")
    model.eval()
    cell, depth, n_classes = model.cfg.cell, model.cfg.depth, model.cfg.n_classes
    per_gate = cfg.gate_strategy == "per-gate"
    max_remove = effective_max_remove(cfg, model.cfg.io_type, cell, depth)
    steps = model.steps
    groups = steps if cfg.mode == "unrolled" else 1
    width = model.cfg.hidden * (GATES[cell] if per_gate else 1)
    timings = {"sample": 0.0, "forward": 0.0, "statistics": 0.0}

    t0 = time.perf_counter()
    if samples is None:
        positives, negatives = naive_samples(
            data.y_train, n_classes, cfg.n_positive, cfg.n_negative, cfg.sampling, cfg.seed
        )
    else:
        positives, negatives = samples_from(samples)
    timings["sample"] = time.perf_counter() - t0

    union = sorted({i for rows in positives + negatives for i in rows})
    run_one = example_runner(model, data, forward, per_gate, union)

    masks = [np.ones((n_classes, groups, width), dtype=bool) for _ in range(depth)]
    all_d = [[[None] * groups for _ in range(n_classes)] for _ in range(depth)]
    n_forward = 0
    for m in range(n_classes):
        t0 = time.perf_counter()
        observations = {}
        for kind, examples in (("pos", positives[m]), ("neg", negatives[m])):
            lists = [[[] for _ in range(groups)] for _ in range(depth)]
            for i in examples:
                states = run_one(i)
                n_forward += 1
                where = observed_steps(
                    data.x_train[i], steps, cfg.mode, cfg.observe_steps, model.flattens
                )
                for layer in range(depth):
                    for group, t in where:
                        lists[layer][group].append(states[layer][t])
            observations[kind] = lists
        timings["forward"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        select_row(
            observations,
            m,
            masks,
            all_d if keep_d else None,
            cell,
            cfg,
            per_gate,
            arithmetic,
            max_remove,
        )
        timings["statistics"] += time.perf_counter() - t0

    return NaiveResult(
        masks=[torch.from_numpy(k) for k in masks],
        positives=positives,
        negatives=negatives,
        max_remove=max_remove,
        timings=timings,
        n_forward=n_forward,
        d=all_d if keep_d else [],
    )


def module_classes(n_classes: int, pad_label: int | None, cfg: DecompositionConfig) -> list[int]:
    """Many-output models: every class except the padding class, unless ``padding_module``."""
    if pad_label is None or cfg.padding_module:
        return list(range(n_classes))
    return [c for c in range(n_classes) if c != pad_label]


def naive_decompose_many(
    model: SeqClassifier,
    data: TaskData,
    cfg: DecompositionConfig,
    *,
    samples: ClassSamples | None,
    forward: str = "engine",
    arithmetic: str = "exact",
    keep_d: bool = False,
    classes: list[int] | None = None,
) -> NaiveResult:
    """Many-output (1:N, M:N) masks the naive way: per module class, per output step t, per
    positive and negative example of (class, t), one forward pass of batch 1, and the state at
    step t appended to a Python list (group t when unrolled, the one pooled group when rolled).
    Every observed step is a labelled output step, so nothing is skipped as padding.

    ``samples`` (a ``Decomposition.samples``; [C, T, N] positions) is required: the reference
    reuses ``decompose``'s per-step draw. ``classes``: a subset of the module classes (for timing
    on part of the classes); masks are [len(classes), S, W] in that order.
    """
    if samples is None or samples.pos.dim() != 3:
        raise ValueError("many-output models: pass samples= (a many-output Decomposition.samples)")
    model.eval()
    cell, depth, n_classes = model.cfg.cell, model.cfg.depth, model.cfg.n_classes
    per_gate = cfg.gate_strategy == "per-gate"
    max_remove = effective_max_remove(cfg, model.cfg.io_type, cell, depth)
    all_classes = module_classes(n_classes, data.pad_label, cfg)
    classes = all_classes if classes is None else list(classes)
    if not set(classes) <= set(all_classes):
        raise ValueError(f"classes {classes} are not module classes {all_classes}")
    out_steps = samples.pos.shape[1]
    groups = out_steps if cfg.mode == "unrolled" else 1
    width = model.cfg.hidden * (GATES[cell] if per_gate else 1)
    timings = {"sample": 0.0, "forward": 0.0, "statistics": 0.0}

    t0 = time.perf_counter()
    positives, negatives = samples_from(samples)  # [class][step][example]
    timings["sample"] = time.perf_counter() - t0

    run_one = example_runner(model, data, forward, per_gate, samples.union.tolist())

    masks = [np.ones((len(classes), groups, width), dtype=bool) for _ in range(depth)]
    all_d = [[[None] * groups for _ in classes] for _ in range(depth)]
    n_forward = 0
    for row, m in enumerate(classes):
        t0 = time.perf_counter()
        observations = {}
        for kind, per_step in (("pos", positives[m]), ("neg", negatives[m])):
            lists = [[[] for _ in range(groups)] for _ in range(depth)]
            for t in range(out_steps):
                group = t if cfg.mode == "unrolled" else 0
                for i in per_step[t]:
                    states = run_one(i)
                    n_forward += 1
                    for layer in range(depth):
                        lists[layer][group].append(states[layer][t])
            observations[kind] = lists
        timings["forward"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        select_row(
            observations,
            row,
            masks,
            all_d if keep_d else None,
            cell,
            cfg,
            per_gate,
            arithmetic,
            max_remove,
        )
        timings["statistics"] += time.perf_counter() - t0

    return NaiveResult(
        masks=[torch.from_numpy(k) for k in masks],
        positives=positives,
        negatives=negatives,
        max_remove=max_remove,
        timings=timings,
        n_forward=n_forward,
        d=all_d if keep_d else [],
    )


def bank_masks(decomposition) -> list[torch.Tensor]:
    """The masks of a ``Decomposition`` whichever strategy produced them."""
    bank = decomposition.bank
    return bank.gate_masks if bank.gate_masks is not None else bank.unit_masks


def mask_differences(a: list[torch.Tensor], b: list[torch.Tensor]) -> list[dict]:
    """Where two mask lists disagree: one entry per (layer, class, step) group."""
    out = []
    if len(a) != len(b):
        return [{"error": f"{len(a)} vs {len(b)} layers"}]
    for layer, (x, y) in enumerate(zip(a, b)):
        if x.shape != y.shape or x.dtype != y.dtype:
            out.append(
                {
                    "layer": layer,
                    "error": f"{tuple(x.shape)}/{x.dtype} vs {tuple(y.shape)}/{y.dtype}",
                }
            )
            continue
        for c, s in torch.nonzero((x != y).any(-1)).tolist():
            diff = torch.nonzero(x[c, s] != y[c, s]).flatten().tolist()
            out.append({"layer": layer, "class": c, "step": s, "units": diff})
    return out


# --------------------------------------------------------------------------- synthetic sweep

SYN_N, SYN_C, SYN_T, SYN_HIDDEN = 40, 4, 6, 8
SYN_VOCAB = SYN_N + 12


def synthetic_task(seed: int = 0, padded: bool = True) -> TaskData:
    """40 pre-padded sequences (4 classes, length 6) whose first real token is unique, so no
    two examples share a state at a real token. Unpadded: every sequence is full length."""
    n, t = SYN_N, SYN_T
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(2, t + 1, (n,), generator=g) if padded else torch.full((n,), t)
    x = torch.randint(2 + n, SYN_VOCAB, (n, t), generator=g)
    start = t - lens
    x[torch.arange(n), start] = 2 + torch.arange(n)
    x[torch.arange(t).unsqueeze(0) < start.unsqueeze(1)] = 0
    y = (torch.arange(n) % SYN_C)[torch.randperm(n, generator=g)]
    vocab = Vocab(tokens=["<pad>", "<unk>"] + [f"w{i}" for i in range(SYN_VOCAB - 2)], seq_len=t)
    names = [f"c{i}" for i in range(SYN_C)]
    return TaskData("synthetic", "M:1", x, y, x[:4], y[:4], vocab, names)


def synthetic_model(cell: str, depth: int, seed: int = 0) -> SeqClassifier:
    """A random-weight M:1 classifier for :func:`synthetic_task` (hidden 8)."""
    torch.manual_seed(seed)
    model = build_classifier(
        io_type="M:1",
        cell=cell,
        depth=depth,
        vocab_size=SYN_VOCAB,
        embed_dim=5,
        hidden=SYN_HIDDEN,
        n_classes=SYN_C,
        seq_len=SYN_T,
    )
    return model.eval()


SWEEP_OBSERVE = [
    ("rolled", "tokens", True),
    ("rolled", "all", True),
    ("rolled", "last", True),
    ("unrolled", "tokens", True),
    ("unrolled", "all", True),
    ("unrolled", "all", False),
]


def sweep(seeds: int = 8) -> dict:
    """Compare naive and ``decompose`` masks over random synthetic cases; classify every
    mismatch by whether it survives the same rules on ``decompose``'s own batched states
    (``recorded``) and with ``decompose``'s precision as well (``precision``)."""
    from rnnmod.decomposition import decompose, preset
    from rnnmod.nn.cells import CELL_KINDS

    # keep only the authors' empty-group fallback where the config has a minimum group size
    fields = DecompositionConfig.__dataclass_fields__
    tiny_groups = {"min_observations": 1} if "min_observations" in fields else {}
    rows = []
    for seed in range(seeds):
        for cell in CELL_KINDS:
            for depth in (1, 2):
                model = synthetic_model(cell, depth, seed)
                for mode, observe, padded in SWEEP_OBSERVE:
                    data = synthetic_task(seed, padded)
                    for strategy in ("hidden-state", "per-gate"):
                        sampling, cap = ("stratified", 0.05) if depth == 1 else ("first-n", 0.3)
                        cfg = preset(
                            "default",
                            mode=mode,
                            observe_steps=observe,
                            sampling=sampling,
                            n_positive=10,
                            max_remove=cap,
                            gate_strategy=strategy,
                            **tiny_groups,
                        )
                        theirs = bank_masks(decompose(model, data, cfg, progress=False))
                        row = {
                            "seed": seed,
                            "cell": cell,
                            "depth": depth,
                            "mode": mode,
                            "observe": observe,
                            "padded": padded,
                            "strategy": strategy,
                        }
                        diff = mask_differences(naive_decompose(model, data, cfg).masks, theirs)
                        row["groups"] = len(diff)
                        if diff:
                            for key, arith in (("recorded", "exact"), ("precision", "decompose")):
                                other = naive_decompose(
                                    model, data, cfg, forward="recorded", arithmetic=arith
                                )
                                row[key] = len(mask_differences(other.masks, theirs))
                        rows.append(row)
    bad = [r for r in rows if r["groups"]]
    return {
        "cases": len(rows),
        "differ": len(bad),
        "gone_on_recorded_states": sum(r["recorded"] == 0 for r in bad),
        "gone_with_its_precision_too": sum(r["precision"] == 0 for r in bad),
        "differing": bad,
    }


if __name__ == "__main__":
    import argparse
    import json

    p = argparse.ArgumentParser(description="naive vs decompose masks on synthetic cases")
    p.add_argument("--sweep", type=int, default=8, metavar="SEEDS")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="write the full result as JSON")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = sweep(args.sweep)
    for r in result["differing"]:
        print(
            f"seed {r['seed']} {r['cell']}-{r['depth']} {r['mode']}/{r['observe']}"
            f"{'' if r['padded'] else ' (unpadded)'} {r['strategy']}: {r['groups']} groups differ;"
            f" on decompose's states {r['recorded']}, with its precision too {r['precision']}"
        )
    print(
        f"{result['differ']} of {result['cases']} cases differ; on decompose's own states "
        f"{result['gone_on_recorded_states']} agree, with its precision too "
        f"{result['gone_with_its_precision_too']}"
    )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
