"""Build a composed model from chosen modules of one or more module sets (the reuse block)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ..choices import RULES
from ..errors import RnnmodError
from ..modules.store import ModuleSet, save_moduleset
from ..nn.zoo import ONE_OUTPUT
from ..runs import Run


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
    calibrate_on: tuple[list[str], list[str] | list[list[str]]] | None = None,
    manifest_extra: Callable[[list], dict] | None = None,
    allow_single: bool = True,
) -> Path:
    """Pick modules by label and save them as one composed module set.

    ``rule`` (:attr:`ModuleSet.rule`): ``probability`` compares the modules' own confidences
    (modules of one I/O family); ``odds`` and ``calibrated`` give one label per text and may mix
    one-output and many-output modules (a tagger's module then answers "the text holds this
    tag"). ``calibrated`` fits per-module maps of the log-odds on ``calibrate_on`` = (texts,
    labels), labelled texts of the new problem (docs/results.md, inter reuse); with a list of
    tags per text instead of a label, a tagger's modules (M:N) are calibrated and decide token
    by token (e.g. a faulty tagger's modules with one module of a better tagger)."""
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
    semantics = {s.unit_semantics for s in sets}
    if len(semantics) > 1:  # the composed set records one config, hence one unit semantics
        raise RnnmodError(
            f"module sets run removed units differently ({', '.join(sorted(semantics))}); "
            "compose modules decomposed with the same --unit-semantics"
        )
    if (
        semantics == {"legacy-edits"}
        and len({b.steps > 1 for s in sets for b in s.banks.values()}) > 1
    ):
        # modules of one source share a bank, whose masks are then per step: a rolled module's
        # mask would run as the unrolled edit, which is not what it was decomposed as
        raise RnnmodError(
            "legacy-edits modules of rolled and unrolled module sets run removed units differently; "
            "compose sets of one mode"
        )
    picked: dict[tuple[int, str], list[int]] = {}
    order = []  # the chosen labels in the order given: the composed set's label order
    for choice in labels:
        which, label = _parse_choice(choice, len(sets))
        order.append(label)
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
        sid, bank_pos = s.locate(label)
        picked.setdefault((i, sid), []).append(bank_pos)
    if len(order) == 1 and not allow_single:
        raise RnnmodError(
            f"a module set of one module always predicts its label ({order[0]}); "
            "pass --single to build it anyway"
        )
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
    if manifest_extra is not None:  # what the model kind adds (rnnmod.kinds)
        extra.update(manifest_extra(parts))
    return save_moduleset(out, parts, extra, overwrite=overwrite, label_order=order)


def _check_targets(names: list[str], targets: set[str], what: str) -> None:
    unknown = sorted(targets - set(names))
    if unknown:
        raise RnnmodError(
            f"calibration {what}(s) {', '.join(map(repr, unknown[:3]))} are not composed modules ({', '.join(names)})"
        )
    missing = sorted(set(names) - targets)
    if missing:
        where = "text" if what == "label" else "token"
        raise RnnmodError(f"no calibration {where} for module(s) {', '.join(map(repr, missing))}")


def fit_parts(parts: list[tuple], texts: list[str], targets: list) -> dict:
    """Fit the calibrated rule's per-module maps on labelled texts (a label per text) or tagged
    texts (a tag per token) → the manifest's fields."""
    from ..modules.calibrate import fit_calibration
    from ..modules.scores import position_log_odds, text_log_odds

    names = [run.label_names[c] for run, bank in parts for c in bank.class_index]
    per_position = bool(targets) and isinstance(targets[0], list)
    if per_position:
        run = reads_tokens_alike([r for r, _ in parts])
        _check_targets(names, {t for tags in targets for t in tags}, "tag")
        y = tag_targets(run, texts, targets, names)
        on = y >= 0
        scores = torch.cat([position_log_odds(r, bank, texts) for r, bank in parts])[:, on]
        y = y[on]
    else:
        _check_targets(names, set(targets), "label")
        scores = torch.cat([text_log_odds(run, bank, texts) for run, bank in parts])
        y = torch.tensor([names.index(t) for t in targets])
    cal = fit_calibration(scores, y)
    accuracy = float((cal.predict(scores) == y).float().mean())
    fields = {
        "calibration": {x: [float(w), float(b)] for x, w, b in zip(names, cal.weight, cal.bias)},
        "calibration_examples": len(texts),
        "calibration_accuracy": round(accuracy, 6),
    }
    if per_position:
        fields.update(calibration_level="positions", calibration_positions=len(y))
    return fields


def reads_tokens_alike(runs: list[Run]) -> Run:
    """The one way all these taggers read a text (so their output steps are the same tokens);
    refuses models that are not M:N taggers or that tokenise, pad or cut differently."""
    if any(r.io_type != "M:N" for r in runs):
        raise RnnmodError(
            "tags per token calibrate taggers' modules (M:N) only; give one label per text instead"
        )
    ways = {(r.vocab.tokenizer, r.vocab.seq_len, r.vocab.padding, r.vocab.truncating) for r in runs}
    if len(ways) > 1:
        raise RnnmodError(
            "these taggers read text differently (tokenizer, sequence length or padding), so "
            "their outputs are not the same tokens: they cannot be compared token by token"
        )
    return runs[0]


def tag_targets(
    run: Run, texts: list[str], tag_lists: list[list[str]], names: list[str]
) -> torch.Tensor:
    """Each token's module position [B, T] aligned with ``run``'s output steps (−1: padding),
    via the same tokenizer, padding and truncation as the text itself."""
    from ..data.vocab import tokenize

    tokens = tokenize(texts, run.vocab.tokenizer)
    for i, (tok, tags) in enumerate(zip(tokens, tag_lists, strict=True), 1):
        if len(tok) != len(tags) or len(run.vocab.ids(tok)) != len(tok):
            raise RnnmodError(
                f"tagged text {i}: {len(tags)} tags for {len(tok)} tokens as the model reads them "
                f"({' '.join(tok[:8])}{' …' if len(tok) > 8 else ''})"
            )
    return run.vocab.pad([[names.index(t) + 1 for t in tags] for tags in tag_lists]) - 1
