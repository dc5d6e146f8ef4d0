"""Modules as masks over a shared source model, stacked into a bank that runs in one pass.

A module of class m = the source model with some recurrent units (or gate columns) removed —
per layer, optionally per time step — and the output layer channelled into (negative, positive).
A :class:`ModuleBank` holds K modules of one source stacked along a module axis; scoring runs
the cell engine once over K copies of the batch (the fused module bank).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..errors import RnnmodError
from ..nn.cells import N_GATES, legacy_head_features
from ..nn.zoo import SeqClassifier
from .compact_bank import PER_MODULE_ROWS, CompactBank, compact_unsupported, masks_unsupported
from .fill import Fill, check_fill, fill_unsupported
from .masks import pack_mask, unpack_mask
from .native_bank import NativeBank, build_native_bank, native_unsupported

# Rows (modules × examples) per pass: past a few hundred rows the per-step tensors leave the
# cache and both paths lose 10-40 % per row on this CPU (docs/performance.md).
CHUNK_ROWS = 512
# Per-step (unrolled) masks need K·T module-code columns on the native path: it wins for small
# batches (launch overhead dominates) and loses to the engine for large ones (measured there).
PER_STEP_NATIVE_ROWS = 128
# ``kernel="auto"`` runs the compact bank (removed units sliced away) when its widest module keeps
# at most this fraction of every layer's units: above it, torch's native kernels over the full
# width win over the compact bank's per-step batched products (docs/performance.md).
COMPACT_MAX_WIDTH = 0.5
# From PER_MODULE_ROWS examples on, the compact bank runs at any width (models without users'
# shapes): on the fused kernel (.fused) the paper rule's modules (95 % kept) took 6.2x (LSTM-1),
# 4.1x (GRU-1), 4.1x (RNN-1) the monolithic model's time at batch 256 against 10.1x, 11.3x, 9.7x
# on the full-width native bank, and module by module on torch's layers 8.3x, 9.6x, 10.2x
# (benchmarks/compact_bank.py); `rnnmod evaluate` of 150 modules keeping up to 87 % took 11.5 s
# module by module against 23.4 s on the native bank. Users' shapes run module by module up to
# this width (3,000 Clinc validation examples, ten modules keeping 70 % of the units at random, build
# included: LSTM-1 0.57 s vs 0.97 s on the native bank, GRU-1 1.05 vs 1.49 s, RNN-1 0.30 vs
# 0.45 s; at 90 % no slower: scripts/compact_width.py). Below PER_MODULE_ROWS the width limit
# above stands (LSTM-1's paper-rule set at batch 1: 2.9x fused vs 2.4x native)
COMPACT_MAX_WIDTH_MANY_ROWS = 0.85


def _compact_facts(
    model: SeqClassifier,
    unit_masks: list[Tensor] | None,
    gate_masks: list[Tensor] | None,
    semantics: str,
) -> tuple[str, float]:
    """(:func:`~.compact_bank.compact_unsupported`, the widest module's kept share of a layer).
    Built from the masks, not the bank: a bank caching something that holds the bank would keep
    itself (and its compact kernels' weights) alive until the cyclic garbage collector runs."""
    unsupported = masks_unsupported(model, unit_masks, gate_masks, semantics)
    if unsupported:
        return unsupported, 1.0
    return "", max(float(m[:, 0].float().mean(1).max()) for m in unit_masks)


def engine_semantics(unit_semantics: str, steps: int, one_output: bool) -> str:
    """The cell-engine semantics that runs a bank's unit masks as its module set was decomposed
    (``steps``: the masks' S). ``legacy-edits`` follows the original tool's decomposers: the
    unrolled ones (every model kind) and the rolled ones for 1:1, 1:N and M:N models edit a copy
    of the layer's weights, which the engine's ``legacy-edits`` reproduces; the rolled ones for
    M:1 models edit the weights in place (``DW = W``), so ``keepNode`` restores nothing and a
    removed unit loses every weight — from the zero initial state, a dead unit."""
    if unit_semantics == "legacy-edits" and steps == 1 and one_output:
        return "dead"
    return unit_semantics


def legacy_head_step(one_output: bool) -> int:
    """The mask step whose removed units the original's output layer drops: the last for
    one-output models (the step the head reads); for many-output models the module's head is
    the one its decomposer edited at step 0, used at every output step."""
    return -1 if one_output else 0


def positive_probability(z: Tensor, output: str, n_classes: int) -> Tensor:
    """Module confidence in its class from head logits ``z[..., R]`` (R = 2: negative, positive;
    R = 3 adds the protected padding slot). ``binary`` = softmax over the head's slots, i.e.
    σ(z_pos − z_neg) for two slots; ``softmax`` = the full C-way softmax in which the C − R
    zeroed columns have logit 0."""
    extra = n_classes - z.shape[-1]
    if output == "softmax" and extra > 0:
        pad = torch.full_like(z[..., :1], float(torch.log(torch.tensor(float(extra)))))
        z = torch.cat([z, pad], dim=-1)
    return torch.softmax(z, dim=-1)[..., 1]


@dataclass
class ModuleBank:
    """K modules of one source model. Masks are bool, True = kept; shape [K, S, W] per layer.
    ``unit_semantics`` (the module set's ``DecompositionConfig.unit_semantics``): what a removed
    unit is when the modules run — ``dead`` or the original tool's ``legacy-edits``.
    ``unit_fills``: per layer, None (removed units dead) or every module's linear reconstruction
    of its removed units from its kept ones, (M [K, H, H], c [K, H]) (:mod:`.fill`)."""

    class_index: list[int]
    head_weight: Tensor  # [K, R, H]  rows: negative, positive (, protected padding)
    head_bias: Tensor  # [K, R]
    unit_masks: list[Tensor] | None = None
    gate_masks: list[Tensor] | None = None
    info: list[dict] = field(default_factory=list)
    unit_semantics: str = "dead"
    unit_fills: list[Fill | None] | None = None
    # built kernels per source model; not an __init__ field, so dataclasses.replace and select
    # give a bank a cache of its own (a copy with other fills must not run this bank's kernels)
    _native: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.class_index)

    @property
    def steps(self) -> int:
        masks = self.unit_masks or self.gate_masks or []
        return masks[0].shape[1] if masks else 1

    def select(self, which: list[int]) -> ModuleBank:
        idx = torch.tensor(which, dtype=torch.long)

        def pick(ms):
            return None if ms is None else [m[idx] for m in ms]

        return ModuleBank(
            [self.class_index[i] for i in which],
            self.head_weight[idx],
            self.head_bias[idx],
            pick(self.unit_masks),
            pick(self.gate_masks),
            [self.info[i] for i in which] if self.info else [],
            self.unit_semantics,
            None
            if self.unit_fills is None
            else [None if f is None else (f[0][idx], f[1][idx]) for f in self.unit_fills],
        )

    def retained_fraction(self) -> Tensor:
        """Per module, the fraction of units (or gate columns) kept, over layers and steps."""
        masks = self.unit_masks or self.gate_masks
        if not masks:
            return torch.ones(len(self))
        kept = sum(m.float().sum((1, 2)) for m in masks)
        total = sum(m[0].numel() for m in masks)
        return kept / total

    def module_tensors(self, k: int) -> tuple[dict[str, Tensor], dict[str, str]]:
        """Module ``k`` as a module file holds it: its channelled head and bit-packed masks."""
        tensors = {"head.weight": self.head_weight[k], "head.bias": self.head_bias[k]}
        meta = {}
        for kind, masks in (("unit_mask", self.unit_masks), ("gate_mask", self.gate_masks)):
            for layer, m in enumerate(masks or []):
                tensors[f"{kind}.{layer}"] = pack_mask(m[k])
                meta[f"{kind}.{layer}"] = json.dumps(list(m[k].shape))
        for layer, fill in enumerate(self.unit_fills or []):
            if fill is not None:
                tensors[f"unit_fill.{layer}.weight"] = fill[0][k].contiguous()
                tensors[f"unit_fill.{layer}.bias"] = fill[1][k].contiguous()
        return tensors, meta

    @classmethod
    def read(cls, path: Path, run, entries: list[dict], tensors_of) -> ModuleBank:
        """The modules ``entries`` of source ``run`` of the module set at ``path`` (``tensors_of``:
        a module file's checked tensors): channelled
        heads and unit or gate masks, checked against the source model."""
        model = run.model
        hidden, depth, steps = model.cfg.width, model.cfg.depth, model.steps
        head_in = model.head.in_features
        heads_w, heads_b, units, gates, fills = [], [], [], [], []
        allowed = (
            {"head.weight", "head.bias"}
            | {f"{kind}.{layer}" for kind in ("unit_mask", "gate_mask") for layer in range(depth)}
            | {f"unit_fill.{layer}.{p}" for layer in range(depth) for p in ("weight", "bias")}
        )
        for e in entries:
            f = path / e["file"]
            ci = e["class_index"]
            if not 0 <= ci < model.cfg.n_classes:
                raise RnnmodError(
                    f"{path / 'manifest.json'}: module {e.get('label')!r} has a class index the source model does not have"
                )
            if run.label_names[ci] != e["label"]:
                raise RnnmodError(
                    f"{path / 'manifest.json'}: module {e['label']!r} points at class {ci}, which the source model calls {run.label_names[ci]!r}"
                )
            t = tensors_of(e["file"])
            extra = sorted(set(t) - allowed)
            if extra:
                raise RnnmodError(
                    f"{f}: unexpected tensor(s) {', '.join(extra[:3])} for a {depth}-layer {model.cfg.cell} module"
                )
            rows = t["head.weight"].shape[0] if "head.weight" in t else 0
            if (
                rows not in (2, 3)
                or tuple(t["head.weight"].shape) != (rows, head_in)
                or tuple(t.get("head.bias", torch.empty(0)).shape) != (rows,)
                or (heads_w and rows != heads_w[0].shape[0])
            ):
                raise RnnmodError(
                    f"{f}: missing or misshaped channelled head (expected [2 or 3, {head_in}] and a matching bias)"
                )
            if t["head.weight"].dtype != torch.float32 or t["head.bias"].dtype != torch.float32:
                raise RnnmodError(f"{f}: the channelled head must be float32")
            heads_w.append(t["head.weight"])
            heads_b.append(t["head.bias"])
            for kind, store in (("unit_mask", units), ("gate_mask", gates)):
                keys = [f"{kind}.{layer}" for layer in range(depth)]
                if not any(k in t for k in keys):
                    store.append(None)
                    continue
                width = hidden * (
                    1 if kind == "unit_mask" else N_GATES[model.cfg.cell]
                )  # both directions
                layers = []
                for k in keys:
                    if k not in t:
                        raise RnnmodError(f"{f}: missing tensor {k!r}")
                    try:
                        m = unpack_mask(t[k], width)
                    except RnnmodError as err:
                        raise RnnmodError(f"{f}: {k}: {err}") from None
                    if m.shape[0] not in (1, steps):
                        raise RnnmodError(
                            f"{f}: {k} has masks for {m.shape[0]} steps but the source model runs {steps} steps"
                        )
                    layers.append(m)
                store.append(layers)
            fills.append(_read_fills(f, t, units[-1], model))

        def stack(store):
            if all(s is None for s in store):
                return None
            if any(s is None for s in store):
                raise RnnmodError(f"{path}: modules of one source mix mask kinds")
            s_max = max(layer.shape[0] for s in store for layer in s)
            return [
                torch.stack([s[layer].expand(s_max, -1) for s in store]) for layer in range(depth)
            ]

        return cls(
            class_index=[int(e["class_index"]) for e in entries],
            head_weight=torch.stack(heads_w),
            head_bias=torch.stack(heads_b),
            unit_masks=stack(units),
            gate_masks=stack(gates),
            unit_fills=_stack_fills(fills, hidden, depth),
            info=[
                {k: e[k] for k in ("n_positive", "n_negative", "warnings") if k in e}
                for e in entries
            ],
        )

    @property
    def filled(self) -> bool:
        """Whether some layer's removed units are reconstructed (not dead)."""
        return any(f is not None for f in self.unit_fills or [])

    @property
    def removed_units(self) -> str:
        """What its removed units are, as ``--removed-units`` names it: ``linear`` or ``dead``."""
        return "linear" if self.filled else "dead"

    def engine_semantics(self, model: SeqClassifier) -> str:
        """What this bank's removed units are on ``model`` (:func:`engine_semantics`)."""
        if self.unit_masks is None:
            return "dead"
        return engine_semantics(self.unit_semantics, self.steps, model.one_output)

    def _compact_facts(self, model: SeqClassifier) -> tuple[str, float]:
        """Why the bank cannot run compact ('' when it can) and its widest module's kept share
        of a layer — worked out once per model and masks (a call at batch 1 costs about as much
        as the modules themselves)."""
        return self._cached(
            _compact_facts, model, self.unit_masks, self.gate_masks, self.engine_semantics(model)
        )

    def compact_for(self, model: SeqClassifier) -> CompactBank | None:
        """The bank with removed units sliced away (built once per source model), or None when
        :func:`~.compact_bank.compact_unsupported` says it cannot be."""
        if self._compact_facts(model)[0]:
            return None
        return self._cached(
            CompactBank.build,
            model,
            self.unit_masks,
            self.head_weight,
            self.head_bias,
            self.unit_fills,
        )

    def compact_pays(self, model: SeqClassifier, rows: int = 1) -> bool:
        """Whether ``kernel="auto"`` should use the compact bank for ``rows`` examples: always for
        filled modules, which have no native full-width bank, and from :data:`PER_MODULE_ROWS`
        rows for models without users' shapes; else up to :data:`COMPACT_MAX_WIDTH` (few rows) or
        :data:`COMPACT_MAX_WIDTH_MANY_ROWS` of the units."""
        unsupported, widest = self._compact_facts(model)
        if unsupported:
            return False
        if self.filled:
            return True
        many = rows >= PER_MODULE_ROWS
        shaped = bool(model.cfg.extensions())
        if shaped and not many:
            return False  # users' shapes run module by module, slower than the engine for few rows
        if many and not shaped:
            return True  # fused or module by module, it beats the full-width native bank
        return widest <= (COMPACT_MAX_WIDTH_MANY_ROWS if many else COMPACT_MAX_WIDTH)

    def native_for(self, model: SeqClassifier) -> NativeBank | None:
        """The bank as augmented native layers (built once per source model), or None when
        :func:`native_unsupported` says it cannot run natively."""
        semantics = self.engine_semantics(model)
        if self.filled or native_unsupported(self.unit_masks, self.gate_masks, model, semantics):
            return None
        return self._cached(build_native_bank, model, self.unit_masks, self.head_weight)

    def _cached(self, build: Callable, model: SeqClassifier, *parts: object):
        """``build(model, *parts)``, built once per source model. What it was built from is
        kept beside it and compared by identity: an id() alone can be reused by a new model once
        the old one is freed, and a bank whose masks or fills were reassigned since (the
        learner's checkpoints, a fill fitted later) must build anew."""
        key, made_of = (build.__name__, id(model)), (model, *parts)
        cached = self._native.get(key)
        if cached is None or any(a is not b for a, b in zip(cached[0], made_of, strict=True)):
            self._native[key] = (made_of, build(*made_of))
        return self._native[key][1]

    def path_for(self, model: SeqClassifier, rows: int, kernel: str = "auto") -> str:
        """What :meth:`scores` runs ``rows`` examples on with ``kernel``: ``"compact, fused
        kernel"``, ``"compact, torch"`` (:mod:`.compact_bank`, :mod:`.fused`), ``"native"`` or
        ``"engine"`` — for reports (``rnnmod evaluate``) and for :meth:`scores` itself."""
        if kernel == "compact" or (kernel == "auto" and self.compact_pays(model, rows)):
            compact = self.compact_for(model)
            fused_here = compact is not None and compact.runs_fused(model)
            return "compact, fused kernel" if fused_here else "compact, torch"
        native = None if kernel == "engine" else self.native_for(model)
        if native is None:
            return "engine"
        # per-step module codes (K·T input columns) cost more than they save for many rows
        many_codes = native.steps > 1 and len(self) * rows > PER_STEP_NATIVE_ROWS
        return "engine" if kernel == "auto" and many_codes else "native"

    @torch.no_grad()
    def scores(
        self,
        model: SeqClassifier,
        ids: Tensor,
        *,
        output: str = "binary",
        max_rows: int = CHUNK_ROWS,
        kernel: str = "auto",
    ) -> Tensor:
        """Positive-class probability of every module on every example → [K, B] (or [K, B, T]
        for many-output models). All K modules run in one batched pass per chunk: on torch's
        native kernels when the masks allow (``kernel="auto"``/``"native"``, see
        :mod:`.native_bank`), with the removed units sliced away when the modules are small
        (``"compact"``, :mod:`.compact_bank`; ``"auto"`` picks it by :meth:`compact_pays`), else
        through the cell engine (``"engine"``). All agree to 1e-5.
        Masks apply with the bank's :attr:`unit_semantics` (:meth:`engine_semantics`); the
        original tool's edits run on the engine (``kernel="native"`` refuses them).
        ``output="logits"`` returns the channelled head's raw slots [..., R] instead (for decision
        rules of one's own, e.g. the inter-reuse odds P_pos/P_neg = exp(z_pos − z_neg))."""
        k = len(self)
        path = self.path_for(model, len(ids), kernel)
        if path.startswith("compact"):
            compact = self.compact_for(model)
            if compact is None:
                reason = compact_unsupported(self, model)
                raise ValueError(f"this bank cannot run compact: {reason}")
            outs = [
                compact.logits(model, ids[i : i + max_rows]) for i in range(0, len(ids), max_rows)
            ]
            z = torch.cat(outs, dim=1)
            return z if output == "logits" else positive_probability(z, output, model.cfg.n_classes)
        native = self.native_for(model) if path == "native" else None
        chunk = max(1, max_rows // k)
        if kernel == "native" and native is None:
            reason = "filled units (a fill is not an augmented native layer)" if self.filled else ""
            reason = reason or native_unsupported(
                self.unit_masks, self.gate_masks, model, self.engine_semantics(model)
            )
            raise ValueError(f"this bank cannot run on native kernels: {reason}")
        semantics = self.engine_semantics(model)
        unit = gate = None
        if native is None:
            unit = [m.float() for m in self.unit_masks] if self.unit_masks else None
            gate = [m.float() for m in self.gate_masks] if self.gate_masks else None
        bias = self.head_bias if native is None else self.head_bias + native.head_bias_shift
        outs = []
        for i in range(0, len(ids), chunk):
            part = ids[i : i + chunk]
            b = len(part)
            if native is not None:
                feats = native.features(model, part)
            else:
                run = model.run_engine(
                    part,
                    unit_masks=unit,
                    gate_masks=gate,
                    batch_groups=k,
                    unit_semantics=semantics,
                    unit_fills=self.unit_fills,
                )
                feats = model.head_features(run.output, part)  # [K*B, H] or [K*B, T, H]
                if semantics == "legacy-edits":
                    feats = legacy_head_features(
                        feats, unit[-1], legacy_head_step(model.one_output)
                    )
            feats = feats.reshape(k, b, *feats.shape[1:])
            if feats.dim() == 3:
                z = torch.einsum("kbh,kch->kbc", feats, self.head_weight) + bias[:, None]
            else:
                z = torch.einsum("kbth,kch->kbtc", feats, self.head_weight) + bias[:, None, None]
            outs.append(
                z if output == "logits" else positive_probability(z, output, model.cfg.n_classes)
            )
        return torch.cat(outs, dim=1)


def _read_fills(
    path: Path, t: dict[str, Tensor], masks: list[Tensor] | None, model: SeqClassifier
) -> list[Fill | None]:
    """One module file's fills per layer (None where a layer has none), checked against its
    masks and the source model."""
    depth = model.cfg.depth
    out: list[Fill | None] = [None] * depth
    for layer in range(depth):
        w, b = t.get(f"unit_fill.{layer}.weight"), t.get(f"unit_fill.{layer}.bias")
        if w is None and b is None:
            continue
        if w is None or b is None:
            raise RnnmodError(f"{path}: unit_fill.{layer} needs both a weight and a bias")
        why = fill_unsupported(model, None if masks is None else [m[None] for m in masks])
        if why:
            raise RnnmodError(
                f"{path}: the module fills removed units, which cannot be done for {why}"
            )
        bad = check_fill((w, b), masks[layer][0])
        if bad:
            raise RnnmodError(f"{path}: unit_fill.{layer}: {bad}")
        out[layer] = (w, b)
    return out


def _stack_fills(
    fills: list[list[Fill | None]], hidden: int, depth: int
) -> list[Fill | None] | None:
    """Per layer, every module's fill stacked (a module without one: zeros, i.e. dead units),
    or None where no module fills that layer."""
    out: list[Fill | None] = []
    for layer in range(depth):
        if all(f[layer] is None for f in fills):
            out.append(None)
            continue
        zero = (torch.zeros(hidden, hidden), torch.zeros(hidden))
        rows = [f[layer] or zero for f in fills]
        out.append((torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows])))
    return out if any(f is not None for f in out) else None


def monolithic_choice(logits: Tensor, class_index: list[int], pad: int | None) -> Tensor:
    """The monolithic model's label, as a composed model of modules ``class_index`` is compared
    with it: without a padding module the composed model never answers padding, so the
    monolithic model chooses among the real classes too. logits [..., C] → [...]"""
    if pad is not None and pad not in class_index:
        real = torch.tensor([c for c in range(logits.shape[-1]) if c != pad])
        return real[logits[..., real].argmax(-1)]
    return logits.argmax(-1)


def vote(scores: Tensor, labels: Tensor | list[int]) -> Tensor:
    """Composed prediction: the label of the most confident module (ties → the first module,
    which is the lowest label when modules are in label order). scores [K, B, ...] → [B, ...]."""
    labels = torch.as_tensor(labels)
    return labels[scores.argmax(dim=0)]
