"""DecompositionConfig: every choice of the method, with the ``paper`` and ``default`` presets.

``paper`` reproduces the authors' effective code (paper-method §0, §6.1-6.5); ``default`` is our
improved choice. docs/method.md lists both side by side with the reason for each difference.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace

from ..choices import MODES, PRESETS, UNIT_SEMANTICS  # noqa: E402
from ..errors import RnnmodError


@dataclass(frozen=True)
class DecompositionConfig:
    preset: str = "default"
    mode: str = "rolled"
    # §6.1 sampling
    sampling: str = (
        "stratified"  # "stratified" (seeded, proportional negatives) | "first-n" (dataset order)
    )
    n_positive: int = 500
    n_negative: int | None = None  # None → ceil(n_positive / (C - 1))
    seed: int = 0
    # §6.2 observation: every real-token step ("tokens", padding skipped), "all" steps, or the
    # "last" step only (the authors' rolled one-output models)
    observe_steps: str = "tokens"
    # §6.3 statistics
    gate_strategy: str = "hidden-state"  # "hidden-state" | "per-gate"
    outlier_mads: float = 2.0
    # a (class, step) group with fewer positive or negative observations keeps every unit
    # (the authors' fallback is the special case 1: only empty groups keep everything)
    min_observations: int = 1
    gate_active_threshold: float = 0.5
    # §6.4-6.5 removal rule
    max_remove: float = 0.05
    paper_caps: bool = False  # use the per-script caps of §6.5 instead of max_remove
    # past the cap, the authors' code still removes units whose d is within this ratio of the
    # most negative d (first_d / d < ratio_rule); 0 turns it off: stop at the cap, as the paper
    # states (§6.5). ``paper``: 1.1, ``default``: 0
    ratio_rule: float = 1.1
    tangle_threshold: float = 0.0
    relu_tangle_threshold: float = -0.5
    # §6.8 module output: "binary" softmax over (neg, pos) or the full C-way "softmax"
    module_output: str = "binary"
    # many-output models (1:N, M:N; §6.1, §6.8, §7): the padding class (label 0)
    padding_module: bool = False  # build and vote with a module for the padding class
    negatives_include_padding: bool = False  # padding positions may be drawn as negatives
    channel: str = "protect-padding"  # "protect-padding" (intended channel_multi_output) | "paper"
    # §6.6 what a removed unit is when the modules run: "dead" (state exactly 0 at every step,
    # as the paper describes; both presets) or "legacy-edits" (the original tool's effective
    # per-step weight edits; docs/method.md). Part of the hash only when not "dead", so the
    # hashes of configurations that predate the field are unchanged.
    unit_semantics: str = "dead"

    def validate(self) -> DecompositionConfig:
        checks = {
            "preset": PRESETS,
            "mode": MODES,
            "sampling": ("stratified", "first-n"),
            "observe_steps": ("tokens", "all", "last"),
            "gate_strategy": ("hidden-state", "per-gate"),
            "module_output": ("binary", "softmax"),
            "channel": ("protect-padding", "paper"),
            "unit_semantics": UNIT_SEMANTICS,
        }
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise RnnmodError(
                    f"invalid {name} {getattr(self, name)!r}; expected one of {', '.join(allowed)}"
                )
        if not 0 <= self.max_remove <= 1:
            raise RnnmodError(f"max_remove must be in [0, 1], got {self.max_remove}")
        if self.ratio_rule < 0:
            raise RnnmodError(f"ratio_rule must be >= 0 (0 = off), got {self.ratio_rule}")
        if self.n_positive < 1:
            raise RnnmodError("n_positive must be at least 1")
        if self.unit_semantics == "legacy-edits" and self.gate_strategy == "per-gate":
            raise RnnmodError(
                "unit_semantics 'legacy-edits' applies to removed units (hidden-state strategy), "
                "not to per-gate masks"
            )
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DecompositionConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise RnnmodError(
                f"unknown decomposition config field(s): {', '.join(sorted(unknown))}"
            )
        return cls(**d).validate()

    def hash(self) -> str:
        d = self.to_dict()
        if d["unit_semantics"] == "dead":  # the default hashes as before the field existed
            del d["unit_semantics"]
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def with_(self, **changes) -> DecompositionConfig:
        return replace(self, **changes).validate()


def preset(name: str = "default", **overrides) -> DecompositionConfig:
    """``paper``: first-N sampling in dataset order, rolled one-output models observe the last
    step only, 5 % cap; many-output models get a padding module, padding negatives and the
    authors' channel. ``default``: seeded stratified sampling, real-token steps observed, no
    padding module, the padding column protected in every module's head, removal stopped at the
    cap (no 1.1 ratio rule past it). Both run removed units as dead units; the original tool's
    per-step edits are ``unit_semantics="legacy-edits"``."""
    if name == "paper":
        base = DecompositionConfig(
            preset="paper",
            sampling="first-n",
            observe_steps="last",
            padding_module=True,
            negatives_include_padding=True,
            channel="paper",
        )
    elif name == "default":
        base = DecompositionConfig(preset="default", min_observations=30, ratio_rule=0.0)
    else:
        raise RnnmodError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return replace(base, **{k: v for k, v in overrides.items() if v is not None}).validate()


def preset_key(name: str) -> str:
    """A preset's name with its configuration hash, for result caches: a changed preset (e.g.
    the default's removal rule) must not reuse results computed with the old one."""
    return f"{name}@{preset(name).hash()}"


def paper_max_remove(io_type: str, cell: str, depth: int, mode: str) -> float:
    """The caps hard-coded per script in the authors' code (paper-method §6.5)."""
    if cell == "lstm":
        if io_type == "1:1":
            return {1: 0.2, 2: 0.1, 3: 0.1, 4: 0.07}[depth]
        if io_type == "1:N" and mode == "unrolled":
            return {1: 0.2, 2: 0.1, 3: 0.1, 4: 0.2}[depth]
        if io_type == "M:N" and mode == "unrolled":
            return 0.1 if depth == 1 else 0.05
    return 0.05


def effective_max_remove(cfg: DecompositionConfig, io_type: str, cell: str, depth: int) -> float:
    return paper_max_remove(io_type, cell, depth, cfg.mode) if cfg.paper_caps else cfg.max_remove
