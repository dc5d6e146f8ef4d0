"""Build a composed model from chosen modules of one or more module sets (the reuse block)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import RnnmodError
from ..modules.store import RULES, ModuleSet, save_moduleset
from ..nn.zoo import ONE_OUTPUT


def _parse_choice(choice: str, n_sets: int) -> tuple[int | None, str]:
    """``label`` or ``N:label`` (N = 1-based position of the module set on the command line)."""
    head, sep, rest = choice.partition(":")
    if sep and head.isdigit():
        i = int(head)
        if not 1 <= i <= n_sets:
            raise RnnmodError(f"{choice!r}: there is no module set number {i} (have {n_sets})")
        return i - 1, rest
    return None, choice


def compose_modulesets(
    sets: list[ModuleSet],
    labels: list[str],
    out: Path,
    *,
    overwrite: bool = False,
    rule: str = "probability",
    calibrate_on: tuple[list[str], list[str]] | None = None,
) -> Path:
    """Pick modules by label and save them as one composed module set.

    ``rule`` (:attr:`ModuleSet.rule`): ``probability`` compares the modules' own confidences
    (modules of one I/O family); ``odds`` and ``calibrated`` give one label per text and may mix
    one-output and many-output modules (a tagger's module then answers "the text holds this
    tag"). ``calibrated`` fits per-module maps of the log-odds on ``calibrate_on`` = (texts,
    labels), labelled texts of the new problem (docs/results.md, inter reuse)."""
    if not labels:
        raise RnnmodError("choose at least two labels to compose (--labels a,b)")
    if rule not in RULES:
        raise RnnmodError(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}")
    if rule == "calibrated" and calibrate_on is None:
        raise RnnmodError("the calibrated rule needs labelled texts to fit on (--calibrate FILE)")
    if rule != "calibrated" and calibrate_on is not None:
        raise RnnmodError(f"labelled texts fit the calibrated rule, not {rule!r}: drop --rule")
    io_kinds = {run.io_type in ONE_OUTPUT for s in sets for run in s.sources.values()}
    if rule == "probability":
        if len(io_kinds) > 1:
            raise RnnmodError(
                "cannot compare modules of one-output models (1:1, M:1) with modules of many-output "
                "models (1:N, M:N) position by position: compose with --calibrate FILE (labelled "
                "texts) or --rule odds for one label per text"
            )
        steps = {
            run.model.steps for s in sets for run in s.sources.values() if not run.model.one_output
        }
        if len(steps) > 1:
            raise RnnmodError(
                f"cannot compose many-output modules that emit different numbers of steps ({', '.join(map(str, sorted(steps)))})"
            )
        outputs = {s.module_output for s in sets}
        if len(outputs) > 1:
            raise RnnmodError(
                f"module sets use different module outputs ({', '.join(sorted(outputs))}); scores would not be comparable"
            )
    picked: dict[tuple[int, str], list[int]] = {}
    for choice in labels:
        which, label = _parse_choice(choice, len(sets))
        hits = [
            (i, s)
            for i, s in enumerate(sets)
            if (which is None or i == which) and label in s.labels
        ]
        if not hits:
            known = sorted({lab for s in sets for lab in s.labels})
            raise RnnmodError(f"no module labelled {label!r}; available: {', '.join(known)}")
        if len(hits) > 1:
            raise RnnmodError(
                f"label {label!r} exists in several module sets; write N:{label} with N the set's position (1-based)"
            )
        i, s = hits[0]
        pos = s.labels.index(label)
        e = s.entries[pos]
        bank_pos = [j for j, x in enumerate(s.entries) if x["source"] == e["source"]].index(pos)
        picked.setdefault((i, e["source"]), []).append(bank_pos)
    parts = []
    for (i, sid), positions in picked.items():
        s = sets[i]
        parts.append((s.sources[sid], s.banks[sid].select(positions)))
    for run, _bank in parts:
        if run.path is None:
            raise RnnmodError("module set sources must be on disk")
    first = sets[0].manifest
    extra = {
        "task": first.get("task") if len({p[0].task for p in parts}) == 1 else "composed",
        "mode": first.get("mode") if len({s.manifest.get("mode") for s in sets}) == 1 else "mixed",
        "config": first.get("config", {}),
        "composed_from": [str(s.path) for s in sets],
    }
    if rule != "probability":
        extra["rule"] = rule
    if calibrate_on is not None:
        extra.update(fit_parts(parts, *calibrate_on))
    return save_moduleset(out, parts, extra, overwrite=overwrite)


def fit_parts(parts: list[tuple], texts: list[str], targets: list[str]) -> dict:
    """Fit the calibrated rule's per-module maps on labelled texts → the manifest's fields."""
    from .calibrate import fit_calibration
    from .scores import text_scores

    names = [run.label_names[c] for run, bank in parts for c in bank.class_index]
    missing = sorted(set(names) - set(targets))
    unknown = sorted(set(targets) - set(names))
    if unknown:
        raise RnnmodError(
            f"calibration label(s) {', '.join(map(repr, unknown[:3]))} are not composed modules ({', '.join(names)})"
        )
    if missing:
        raise RnnmodError(f"no calibration text for module(s) {', '.join(map(repr, missing))}")
    scores = torch.cat([text_scores(run, bank, texts) for run, bank in parts])
    y = torch.tensor([names.index(t) for t in targets])
    cal = fit_calibration(scores, y)
    accuracy = float((cal.predict(scores) == y).float().mean())
    return {
        "calibration": {x: [float(w), float(b)] for x, w, b in zip(names, cal.weight, cal.bias)},
        "calibration_examples": len(texts),
        "calibration_accuracy": round(accuracy, 6),
    }
