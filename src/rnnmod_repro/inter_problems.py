"""The new problems of the inter experiments (paper-method §10.2, §11.2) and their decisions:
pure functions of the two tasks' label tensors and of module scores.

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
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from rnnmod.modules.scores import log_odds

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


def head_scores(z: Tensor) -> dict[str, Tensor]:
    """A module's two scores from its channelled head logits z [..., R] (slots: negative,
    positive, and for many-output modules the protected padding slot):

    * ``probability``: the module's confidence, softmax over its slots (the ``binary`` output);
    * ``odds``: the paper's odds P_pos/P_neg (§10.2), kept as its log z_pos − z_neg
      (:func:`rnnmod.modules.scores.log_odds`). With two slots it is p/(1−p) of the
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


def paper_rule(rq: str, problem: str) -> str:
    """The paper's decision: odds for reuse, and for replace odds (1:1←1:N) or raw
    probabilities (M:1←M:N) (§10.2, §11.2)."""
    return "odds" if rq == "reuse" else REPLACE_RULE[problem]


def combos(one_labels: list[int], many_labels: list[int], opts: InterOptions) -> list[tuple]:
    """(one-output class, many-output label) pairs; a seeded random subset with max_combos
    (``random.Random(seed).sample``: for these grid sizes a smaller N draws a subset of a larger
    N's combos, so a run with fewer combos reuses the cached rows of a bigger one; tested)."""
    grid = [(a, b) for a in one_labels for b in many_labels]
    if opts.max_combos and opts.max_combos < len(grid):
        grid = sorted(random.Random(opts.seed).sample(grid, opts.max_combos))
    return grid
