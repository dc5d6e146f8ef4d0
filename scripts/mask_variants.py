"""Measurement, not a feature: variants of the learned unit masks that were tried and not kept
(docs/budget.md, "Why dead units stop short of 20 %").

Each run decomposes a Clinc run, learns masks with the library's learner
(``rnnmod.decomposition.learned``) and one change, and prints the mean retained units and the
composed − monolithic accuracy (pp) on 3,000 training examples, the validation split and the test
split; a JSON line per run is appended to ``--log``.

Variants (what else learns beside the masks, on the training split, with its own Adam):

* ``base``: nothing (the library as it is);
* ``head``: every module's channelled head rows and biases;
* ``calibration``: a scale and an offset per module of the score the composed vote compares;
* ``const``: a removed unit emits a learned constant per module instead of 0 (its output folds
  into the kept units' and the head's biases, so a module would stay compact);
* ``const+head``;
* ``linear`` (depth 1): after the masks are learned as in ``base``, each removed unit emits a
  least-squares linear function of its module's kept units, fitted to the monolithic model's
  states on 3,000 training examples (also foldable: into the kept units' recurrent weights and
  the head — a change of weights, not a mask);
* ``linear-loop`` (depth 1): the same reconstruction inside the learning, refitted to the
  current masks every 10 steps, so the masks are learned for it rather than for dead units;
* ``linear-judged`` (depth 1, with ``--budget``): masks learned for dead units, but every
  checkpoint judged with the reconstruction fitted to its masks.

Estimators (how a mask logit becomes a mask while learning): ``straight-through`` (the
library's), ``hard-concrete`` (Louizos et al. 2018: a stretched, clamped concrete sample,
β = 2/3, stretch (−0.1, 1.1), the penalty the expected fraction of open gates).

The ``const`` variant and the hard-concrete estimator change two lines of library functions for
this process only (``patch_source``; it fails if the lines are not found).

    RNNMOD_DATA=../shared/data .venv/bin/python scripts/mask_variants.py /tmp/g1 --variant head
    RNNMOD_DATA=../shared/data .venv/bin/python scripts/mask_variants.py /tmp/g1 --budget 1 \
        --estimator hard-concrete
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import torch

import rnnmod
import rnnmod.nn.cells as cells
from rnnmod.decomposition import learned as L
from rnnmod.decomposition import mask_objective as MO
from rnnmod.decomposition.config import DecompositionConfig
from rnnmod.kinds import kind_of
from rnnmod.metrics.cost import composed_cost
from rnnmod.modules.module import vote
from rnnmod.nn.zoo import predict_logits

VARIANTS = (
    "base",
    "head",
    "calibration",
    "const",
    "const+head",
    "linear",
    "linear-loop",
    "linear-judged",
)


def patch_source(func, old: str, new: str):
    """``func`` recompiled in its own module with ``old`` replaced by ``new`` (exactly once)."""
    src = textwrap.dedent(inspect.getsource(func))
    if src.count(old) != 1:
        raise SystemExit(f"{func.__name__}: the line to patch is not in the library any more")
    scope = func.__globals__
    exec(compile(src.replace(old, new), inspect.getsourcefile(func), "exec"), scope)  # noqa: S102
    return scope[func.__name__]


def use_hard_concrete() -> None:
    beta, gamma, zeta = 2.0 / 3.0, -0.1, 1.1

    def relaxed(logits, gen):
        masks, count = [], 0
        for lg in logits:
            u = torch.rand(lg.shape, generator=gen).clamp(1e-6, 1 - 1e-6)
            s = torch.sigmoid((u.log() - (-u).log1p() + lg) / beta)
            masks.append((s * (zeta - gamma) + gamma).clamp(0.0, 1.0))
            count = count + torch.sigmoid(lg - beta * math.log(-gamma / zeta)).sum((1, 2))
        return masks, count

    L.relaxed_hc = relaxed
    L._learn = patch_source(
        L._learn,
        "masks = [straight_through(lg) for lg in logits]  # shaped like the bank's masks\n"
        "            ce = objective.loss(masks, gen)\n"
        "            retained = sum(m.sum((1, 2)) for m in masks) / total_units  # [K]",
        "masks, count = relaxed_hc(logits, gen)\n"
        "            ce = objective.loss(masks, gen)\n"
        "            retained = count / total_units",
    )


def fill_removed_units(name: str, fill_lines: str) -> None:
    """Removed units emit what ``fill_lines`` (run after the engine's ``h_new = h_new * um``,
    with ``cells.<name>`` in scope) adds instead of staying 0; the composed accuracy then runs on
    the engine (the fast kernels know dead units only)."""
    setattr(cells, name, None)
    cells.run_layer = patch_source(
        cells.run_layer,
        "            h_new = h_new * um\n",
        f"            h_new = h_new * um\n            if {name} is not None:\n{fill_lines}",
    )

    def engine_accuracy(model, bank, x, y, pad=None):
        return MO._accuracy(vote(bank.scores(model, x, kernel="engine"), bank.class_index), y, pad)

    L.composed_accuracy = MO.composed_accuracy = engine_accuracy


def use_constant_fill() -> None:
    """Removed units emit ``cells.FILL`` [K, H] (one constant per module and unit)."""
    fill_removed_units(
        "FILL", "                h_new = h_new + (1 - um) * _mask_at(FILL[:, None, :], t, batch)\n"
    )


def use_linear_fill() -> None:
    """Removed units emit ``h_kept @ M_k + c_k`` (``cells.LINEAR`` = (M [K, H, H], c [K, H]))."""
    fill_removed_units(
        "LINEAR",
        "                m_, c_ = LINEAR\n"
        "                hk = h_new.view(m_.shape[0], -1, h_new.shape[-1])\n"
        "                fill = torch.baddbmm(c_[:, None, :], hk, m_).view_as(h_new)\n"
        "                h_new = h_new + (1 - um) * fill\n",
    )


@torch.no_grad()
def fit_linear(model, bank, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per module, the least-squares map from its kept units' states to its removed units'
    (the monolithic model's states on ``x``, every step), with an intercept."""
    states = model.run_engine(x).hidden[0].reshape(-1, model.cfg.hidden)  # [N·T, H]
    return fit_linear_states(states, bank.unit_masks[0][:, 0])


@torch.no_grad()
def fit_linear_states(
    states: torch.Tensor, kept: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``fit_linear`` on given states [rows, H] for kept units [K, H] (bool)."""
    k, h = kept.shape
    maps, consts = torch.zeros(k, h, h), torch.zeros(k, h)
    ones = torch.ones(len(states), 1)
    for i in range(k):
        keep = kept[i]
        if bool(keep.all()):
            continue
        design = torch.cat([states[:, keep], ones], dim=1)
        beta = torch.linalg.lstsq(design, states[:, ~keep]).solution  # [kept + 1, removed]
        sub = maps[i][keep]
        sub[:, ~keep] = beta[:-1]
        maps[i][keep] = sub
        consts[i][~keep] = beta[-1]
    return maps, consts


def objective_for(variant: str, side_lr: float):
    class Variant(L.ClassifierObjective):
        """The classifiers' objective with extra parameters learned beside the masks."""

        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            k = self.n_modules
            self.extra: list[torch.Tensor] = []
            learn_cal = variant == "calibration"
            self.scale = torch.zeros(k, requires_grad=learn_cal)
            self.shift = torch.zeros(k, requires_grad=learn_cal)
            if learn_cal:
                self.extra += [self.scale, self.shift]
            if "head" in variant:
                self.head_w = self.head_w.clone().requires_grad_(True)
                self.head_b = self.head_b.clone().requires_grad_(True)
                self.extra += [self.head_w, self.head_b]
            if "const" in variant:
                cells.FILL = torch.zeros(k, self.shapes[0][-1], requires_grad=True)
                self.extra.append(cells.FILL)
            self.side = torch.optim.Adam(self.extra, lr=side_lr) if self.extra else None

        def loss(self, masks, gen):
            if variant == "linear-loop":
                self.steps_seen = getattr(self, "steps_seen", 0) + 1
                if self.steps_seen % 10 == 1:
                    kept = masks[0][:, 0].detach() > 0.5
                    cells.LINEAR = fit_linear_states(self.states_to_fit(), kept)
            # the learner's backward pass has filled the extra parameters' gradients
            if self.side is not None and any(p.grad is not None for p in self.extra):
                self.side.step()
                self.side.zero_grad(set_to_none=True)
            idx = self.next_batch(gen)
            ids, target = self.x[idx], self.y[idx]
            score = L.module_scores(self.head_logits(ids, masks))
            return self.composed_loss(score * self.scale.exp() + self.shift, target)

        def states_to_fit(self) -> torch.Tensor:
            """The monolithic model's states [rows, H] on 1,000 of the training examples the
            masks learn on (seeded), computed once: what the in-learning reconstructions fit."""
            if not hasattr(self, "fit_states"):
                pick = torch.randperm(len(self.x), generator=torch.Generator().manual_seed(2))
                with torch.no_grad():
                    run = self.model.run_engine(self.x[pick[:1000]])
                self.fit_states = run.hidden[0].reshape(-1, run.hidden[0].shape[-1])
            return self.fit_states

        def validate(self, bank):
            if variant != "linear-judged":
                return super().validate(bank)
            cells.LINEAR = fit_linear_states(self.states_to_fit(), bank.unit_masks[0][:, 0])
            try:
                return super().validate(bank)
            finally:
                cells.LINEAR = None  # the learning runs dead units

        def bank(self, masks, state=None):
            out = super().bank(masks, state)
            with torch.no_grad():  # s·(z_pos − z_neg) + shift as a head: both rows scaled
                s = self.scale.exp()[:, None]
                out.head_weight = self.head_w.detach() * s[:, :, None]
                out.head_bias = self.head_b.detach() * s
                out.head_bias[:, 1] += self.shift.detach()
            return out

    return Variant


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--variant", choices=VARIANTS, default="base")
    p.add_argument("--estimator", choices=("straight-through", "hard-concrete"),
                   default="straight-through")  # fmt: skip
    p.add_argument("--target", type=float, default=0.2, help="fixed target (without --budget)")
    p.add_argument("--budget", type=float, default=None, help="accuracy budget, pp")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--side-lr", type=float, default=0.01, help="Adam lr of the extra parameters")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a LearnedOptions field, e.g. --option patience=5")  # fmt: skip
    p.add_argument("--log", type=Path, default=Path("results/mask_variants.jsonl"))
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.estimator == "hard-concrete":
        use_hard_concrete()
    if "const" in a.variant:
        use_constant_fill()
    if a.variant.startswith("linear"):
        use_linear_fill()
        if rnnmod.load(a.run).model.cfg.depth != 1:
            raise SystemExit("the linear reconstruction is written for depth-1 models")

    run = rnnmod.load(a.run)
    kind = kind_of(run)
    data = kind.load_data(run, None)
    model = run.model.eval()
    dec = kind.decompose(run, data, DecompositionConfig(seed=a.seed), progress=False)
    # removed units dead, as every variant here was measured (--option removed_units=linear: the
    # library's fill; not with the linear variants, which fill by their own patch)
    options = L.LearnedOptions(removed_units="dead")
    for item in a.option:
        name, value = item.split("=", 1)
        kind_ = type(getattr(options, name))
        options = replace(options, **{name: value == "True" if kind_ is bool else kind_(value)})
    t0 = time.perf_counter()
    how = {"tolerance_pp": a.budget} if a.budget is not None else {"target_retained": a.target}
    bank, summary = L.learned_masks(
        model, data, dec.bank, steps=a.steps, seed=a.seed, options=options,
        objective=objective_for(a.variant, a.side_lr), **how,
    )  # fmt: skip
    secs = time.perf_counter() - t0
    if a.variant.startswith("linear"):
        fit_rows = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(2))
        cells.LINEAR = fit_linear(model, bank, data.x_train[fit_rows[:3000]])

    def delta(x, y) -> float:
        mono = float((predict_logits(model, x).argmax(-1) == y).float().mean())
        return round(100 * (L.composed_accuracy(model, bank, x, y) - mono), 2)

    rows = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(1))[:3000]
    out = {
        "run": str(a.run), "variant": a.variant, "estimator": a.estimator,
        "target": None if a.budget is not None else a.target, "budget_pp": a.budget,
        "steps": a.steps, "options": a.option, "steps_run": summary["steps_run"], "seed": a.seed, "side_lr": a.side_lr if a.variant != "base" else None,
        "retained": round(float(bank.retained_fraction().mean()), 4),
        "d_train": delta(data.x_train[rows], data.y_train[rows]),
        "d_val": delta(data.x_val, data.y_val), "d_test": delta(data.x_test, data.y_test),
        "cost_vs_monolithic": round(composed_cost(model, bank)["cost_vs_monolithic"], 3),
        "seconds": round(secs, 1),
    }  # fmt: skip
    print(json.dumps(out), flush=True)
    a.log.parent.mkdir(parents=True, exist_ok=True)
    with a.log.open("a") as f:
        f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
