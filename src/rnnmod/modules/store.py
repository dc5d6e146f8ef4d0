"""The module set directory (architecture.md "Module set directory").

```
MODS/manifest.json                      format, config, label → file map, checksums of every file
MODS/sources/<id>/{model.safetensors, config.json, vocab.json}   each source model, stored once
MODS/modules/<nnn>-<label>.safetensors  one small file per module: bit-packed masks + channelled head
```
A decomposed model and a composed model share this format: a composed set simply has modules
from several sources. Everything is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import FORMAT_VERSION, __version__
from ..errors import RnnmodError
from ..locking import output_lock
from ..runs import Run, read_run
from ..schemas import validate_manifest
from ..snapshot import MAX_JSON_BYTES, DirSnapshot, one_version, parse_tensors
from ..storage import (
    building,
    publish_dir,
    sha256_file,
    write_json,
    write_tensors,
)
from .decoder_bank import DecoderMaskBank
from .masks import slug
from .module import ModuleBank

#: The module bank of each model kind: how its modules are held, stored and read.
BANKS = {"classifier": ModuleBank, "translator": DecoderMaskBank}

KIND = "rnnmod.moduleset"

SOURCE_FILES = ("model.safetensors", "config.json", "vocab.json", "metrics.json")


@dataclass
class ModuleSet:
    """A loaded module set: its sources and one bank per source, in manifest order."""

    path: Path | None
    manifest: dict
    sources: dict[str, Run]
    banks: dict[str, ModuleBank]
    entries: list[dict] = field(default_factory=list)
    # row of :meth:`_in_label_order`'s input (the banks' modules, source by source) for each entry
    rows: list[int] | None = None

    @property
    def labels(self) -> list[str]:
        return [e["label"] for e in self.entries]

    @property
    def kind(self) -> str:
        """The model kind of the sources (one kind per set: compose refuses a mix)."""
        return next(iter(self.sources.values())).kind

    def retained_fraction(self) -> torch.Tensor:
        """Per module, in :attr:`labels` order, the fraction of its units kept."""
        return self._in_label_order([b.retained_fraction() for b in self.banks.values()])

    def locate(self, label: str) -> tuple[str, int]:
        """The source holding module ``label`` and the module's position in that source's bank
        (a source's entries keep their bank order, whatever the set's label order)."""
        if label not in self.labels:
            raise RnnmodError(
                f"no module {label!r} in {self.path}; labels: {', '.join(self.labels)}"
            )
        sid = self.entries[self.labels.index(label)]["source"]
        return sid, [e["label"] for e in self.entries if e["source"] == sid].index(label)

    def _in_label_order(self, per_bank: list[torch.Tensor]) -> torch.Tensor:
        """The banks' score rows (source by source) → [K, …] in :attr:`labels` order (a composed
        set keeps the order its labels were chosen in, modules of several sources interleaved)."""
        scores = torch.cat(per_bank)
        return scores if self.rows is None else scores[self.rows]

    @property
    def single_source(self) -> Run:
        if len(self.sources) != 1:
            raise RnnmodError("this module set holds modules of several source models")
        return next(iter(self.sources.values()))

    @property
    def module_output(self) -> str:
        return self.manifest.get("config", {}).get("module_output", "binary")

    @property
    def unit_semantics(self) -> str:
        """What a removed unit is when the modules run (``DecompositionConfig.unit_semantics``;
        a manifest written before the field existed: ``dead``)."""
        return _unit_semantics(self.manifest)

    @torch.no_grad()
    def probabilities(self, texts: list[str]) -> torch.Tensor:
        """Every module's positive probability on raw text; each source encodes the text with
        its own vocabulary. → [K, B] in manifest order."""
        parts = []
        for sid, bank in self.banks.items():
            run = self.sources[sid]
            parts.append(
                bank.scores(run.model, run.vocab.encode_texts(texts), output=self.module_output)
            )
        return self._in_label_order(parts)

    @property
    def rule(self) -> str:
        """How the modules' answers are compared (:data:`rnnmod.choices.RULES`): ``probability`` — each
        module's own confidence, per position for many-output sets (one model, or models of one
        I/O family); ``odds`` — one log-odds per module and text (a many-output module: its max
        over the text's real positions), the paper's inter-reuse rule (§10.2); ``calibrated`` —
        those log-odds through per-module affine maps fitted on labelled texts
        (:mod:`rnnmod.modules.calibrate`). The last two give one label per text."""
        return self.manifest.get("rule", "probability")

    @property
    def many_output(self) -> bool:
        return not any(run.model.one_output for run in self.sources.values())

    def text_log_odds(self, texts: list[str]) -> torch.Tensor:
        """One log-odds per module and text → [K, B] in :attr:`labels` order."""
        from .scores import text_log_odds

        return self._in_label_order(
            [text_log_odds(self.sources[sid], b, texts) for sid, b in self.banks.items()]
        )

    def calibration(self):
        """The fitted per-module maps of a ``calibrated`` set, in :attr:`labels` order."""
        from .calibrate import Calibration

        cal = self.manifest.get("calibration")
        where = self.path / "manifest.json" if self.path else "manifest"
        if not isinstance(cal, dict) or set(cal) != set(self.labels):
            raise RnnmodError(
                f"{where}: 'calibration' must map every module label to [weight, bias]"
            )
        pairs = [cal[x] for x in self.labels]
        if not all(
            isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v) for v in pairs
        ):
            raise RnnmodError(f"{where}: 'calibration' values must be [weight, bias] numbers")
        w, b = torch.tensor(pairs, dtype=torch.float32).T
        return Calibration(w, b)

    @property
    def per_position(self) -> bool:
        """Whether the set answers per output position (a tagger's modules under the
        ``probability`` rule, or calibrated on tagged texts) rather than once per text."""
        level = self.manifest.get("calibration_level", "texts")
        return self.many_output and (self.rule == "probability" or level == "positions")

    def decide_texts(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The winning module per text and its score under the set's rule: the module's
        probability (``probability``), its log-odds (``odds``) or the calibrated softmax
        probability (``calibrated``)."""
        if self.per_position:
            raise RnnmodError(
                "this module set answers per position (a tagger's modules): use predict_tags"
            )
        if self.rule == "probability":
            scores = self.probabilities(texts)
        elif self.rule == "odds":
            scores = self.text_log_odds(texts)
        else:
            scores = torch.softmax(self.calibration().apply(self.text_log_odds(texts)), 0)
        best, idx = scores.max(0)
        return idx, best

    def predict_texts(self, texts: list[str]) -> list[str]:
        idx, _ = self.decide_texts(texts)
        return [self.labels[i] for i in idx.tolist()]

    def decide_positions(self, texts: list[str]) -> torch.Tensor:
        """The winning module (0..K−1) at every output step [B, T] of a :attr:`per_position`
        set: each module's own confidence, or its calibrated log-odds."""
        if not self.per_position:
            raise RnnmodError("predict_tags needs a many-output module set voting per position")
        if self.rule == "probability":
            return self.probabilities(texts).argmax(0)
        from .scores import position_log_odds

        odds = self._in_label_order(
            [position_log_odds(self.sources[sid], b, texts) for sid, b in self.banks.items()]
        )
        return self.calibration().predict(odds)

    def predict_tags(self, texts: list[str]) -> list[list[str]]:
        """Many-output sets voting per position: the winning module's label at every real
        position (M:N: the text's tokens as the model reads them, at most its sequence length;
        1:N: every output step)."""
        from .scores import real_positions

        idx = self.decide_positions(texts)  # [B, T]
        run = next(iter(self.sources.values()))
        real = real_positions(run.io_type, run.vocab.encode_texts(texts))
        real = torch.ones_like(idx, dtype=torch.bool) if real is None else real
        return [
            [self.labels[i] for i, r in zip(row, keep) if r]
            for row, keep in zip(idx.tolist(), real.tolist())
        ]


def add_source(tmp: Path, run, sources: dict, checksums: dict) -> str:
    """Copy a module's source run into the set being built, once per run content (model, config
    and vocabulary hashes), recording its checksums and description; returns the source id."""
    if run.path is None:
        raise RnnmodError("a module's source run must be saved in a run directory first")
    full = run.model_sha256()
    # the model's hash, and its configuration's and vocabulary's: two runs with the same
    # weights but another I/O type or vocabulary are two sources
    blob = "".join(sha256_file(run.path / f) for f in ("config.json", "vocab.json"))
    sid = hashlib.sha256((full + blob).encode()).hexdigest()[:12]
    if sid not in sources:
        sdir = tmp / "sources" / sid
        sdir.mkdir(parents=True)
        for f in SOURCE_FILES:
            shutil.copyfile(run.path / f, sdir / f)
            checksums[f"sources/{sid}/{f}"] = sha256_file(sdir / f)
        sources[sid] = {
            "model_sha256": full,
            "task": run.task,
            "io_type": run.io_type,
            "cell": run.model.cfg.cell,
            "depth": run.model.cfg.depth,
            "steps": run.model.steps,
            "model_bytes": (sdir / "model.safetensors").stat().st_size,
        }
    return sid


def save_moduleset(
    out: Path,
    parts: list[tuple[Run, ModuleBank]],
    manifest_extra: dict,
    *,
    overwrite: bool = False,
    timings: dict | None = None,
    label_order: list[str] | None = None,
) -> Path:
    """Write modules of one or more sources (each part: a source run and its bank); the
    manifest lists them in ``label_order`` if given (a composed set: the order chosen).

    Everything but ``timings.json`` (the optional ``timings``: wall-clock seconds, which differ
    from run to run) is a function of the inputs: the same modules give the same bytes.
    Written under the output's lock (docs/reliability.md).
    """
    out = Path(out)
    with (
        output_lock(out, "save module set"),
        building(out, overwrite=overwrite, kind="module set", marker="manifest.json") as tmp,
    ):
        return _save_moduleset(tmp, out, parts, manifest_extra, timings, label_order)


def _save_moduleset(
    tmp: Path,
    out: Path,
    parts: list[tuple[Run, ModuleBank]],
    manifest_extra: dict,
    timings: dict | None,
    label_order: list[str] | None = None,
) -> Path:
    (tmp / "modules").mkdir()
    sources, entries, checksums = {}, [], {}
    n = 0
    for run, bank in parts:
        sid = add_source(tmp, run, sources, checksums)
        retained = bank.retained_fraction()
        for k in range(len(bank)):
            label = run.label_names[bank.class_index[k]]
            rel = f"modules/{n:03d}-{slug(label)}.safetensors"
            tensors, meta = bank.module_tensors(k)
            write_tensors(tmp / rel, tensors, metadata=meta)
            checksums[rel] = sha256_file(tmp / rel)
            info = bank.info[k] if bank.info else {}
            entries.append(
                {
                    "label": label,
                    "class_index": bank.class_index[k],
                    "source": sid,
                    "file": rel,
                    "retained_units": round(float(retained[k]), 6),
                    "bytes": (tmp / rel).stat().st_size,
                    # a module stores bit-packed masks + its channelled head, not a model copy
                    "bytes_vs_source": round(
                        (tmp / rel).stat().st_size / sources[sid]["model_bytes"], 6
                    ),
                    **info,
                }
            )
            n += 1
    if label_order:
        entries.sort(key=lambda e: label_order.index(e["label"]))
    labels = [e["label"] for e in entries]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise RnnmodError(
            f"duplicate module label(s) {', '.join(dup)}: a composed model needs distinct classes"
        )
    manifest = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "rnnmod_version": __version__,
        "sources": sources,
        "modules": entries,
        "checksums": checksums,
        **manifest_extra,
    }
    if timings is not None:
        write_json(tmp / "timings.json", timings)
    write_json(tmp / "manifest.json", manifest)
    return publish_dir(tmp, out)


def _unit_semantics(man: dict) -> object:
    """The manifest config's ``unit_semantics`` (``dead`` where the config predates it)."""
    cfg = man.get("config")
    return cfg.get("unit_semantics", "dead") if isinstance(cfg, dict) else "dead"


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < float("inf")


def check_manifest(man: object, where: Path) -> dict:
    """Validate a manifest before anything is read from the paths it names: a format from a
    newer rnnmod is refused first, then the declared schema (:class:`rnnmod.schemas.Manifest`)
    refuses another kind of file, missing or mistyped fields, file names that leave the module
    set, malformed checksums, unknown sources, duplicate labels."""
    if not isinstance(man, dict) or man.get("kind") != KIND:
        raise RnnmodError(f"{where} is not an rnnmod module set manifest")
    version = man.get("format_version", 0)
    if not _is_int(version):
        raise RnnmodError(f"{where}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise RnnmodError(
            f"{where.parent} was written by a newer rnnmod (format {version} > {FORMAT_VERSION}); upgrade rnnmod"
        )

    return validate_manifest(man, where)


def _recorded_size(man: dict, rel: str) -> int | None:
    """The byte count the manifest records for ``rel`` (module files and source models)."""
    for e in man["modules"]:
        if e["file"] == rel and _is_int(e.get("bytes")):
            return e["bytes"]
    for sid, meta in man["sources"].items():
        if rel == f"sources/{sid}/model.safetensors" and _is_int(meta.get("model_bytes")):
            return meta["model_bytes"]
    return None


def _read_verified(snap: DirSnapshot, man: dict) -> dict[str, bytes]:
    """Every file the manifest lists, read once and checked: its size against the manifest
    before a byte is read, its sha256 on the bytes that will be parsed."""
    path, checksums = snap.path, man["checksums"]
    needed = [e["file"] for e in man["modules"]] + [
        f"sources/{sid}/{f}" for sid in man["sources"] for f in SOURCE_FILES
    ]
    unlisted = [rel for rel in needed if rel not in checksums]
    if unlisted:
        raise RnnmodError(
            f"{path / 'manifest.json'}: no checksum for {unlisted[0]}; the manifest must list every file it uses"
        )
    blobs = {}
    for rel, digest in checksums.items():
        size = _recorded_size(man, rel)
        data = snap.read(rel, size=size, max_bytes=None if size is not None else MAX_JSON_BYTES)
        if hashlib.sha256(data).hexdigest() != digest:
            raise RnnmodError(
                f"checksum mismatch for {path / rel}: the file was altered or corrupted"
            )
        blobs[rel] = data
    for sid, meta in man["sources"].items():
        recorded = meta.get("model_sha256")
        if recorded is not None and recorded != checksums[f"sources/{sid}/model.safetensors"]:
            raise RnnmodError(
                f"{path / 'manifest.json'}: source {sid} records another model sha256 than its file has"
            )
    return blobs


def verify_moduleset(path: Path | str) -> dict:
    """The checked manifest of an intact module set (shape and every checksum); loads no model."""
    path = Path(path)

    def read(snap: DirSnapshot) -> dict:
        man = check_manifest(snap.read_json("manifest.json"), path / "manifest.json")
        _read_verified(snap, man)
        return man

    return one_version(path, read)


def load_moduleset(path: Path | str, *, verify: bool = True) -> ModuleSet:
    """A module set: one published version, every file checked against the manifest."""
    path = Path(path)
    if not path.is_dir():
        hint = ""
        if path.with_name(f".{path.name}.old").is_dir():
            hint = f" (an interrupted write left the previous version at .{path.name}.old; rerun the command)"
        raise RnnmodError(f"module set {path} does not exist{hint}")
    if not (path / "manifest.json").exists() and (path / "model.safetensors").is_file():
        raise RnnmodError(
            f"{path} is a run directory, not a module set: make one with "
            f"`rnnmod decompose {path} --out MODS`"
        )
    return one_version(path, lambda snap: _read_moduleset(snap, verify))


def _read_moduleset(snap: DirSnapshot, verify: bool) -> ModuleSet:
    path = snap.path
    man = check_manifest(snap.read_json("manifest.json"), path / "manifest.json")
    entries: list = man["modules"]
    blobs = _read_verified(snap, man) if verify else {}

    def tensors_of(rel: str) -> dict:
        data = blobs.get(rel)
        if data is None:
            data = snap.read(rel, size=_recorded_size(man, rel))
        return parse_tensors(data, path / rel)

    sources = {}
    for sid in man["sources"]:
        given = {
            f: blobs[f"sources/{sid}/{f}"] for f in SOURCE_FILES if f"sources/{sid}/{f}" in blobs
        }
        with snap.sub(f"sources/{sid}") as sub:
            sources[sid] = read_run(sub, given)
    per_source: dict[str, list[dict]] = {sid: [] for sid in sources}
    for e in entries:
        if e.get("source") not in sources:
            raise RnnmodError(
                f"{path / 'manifest.json'}: module {e.get('label')!r} names an unknown source"
            )
        per_source[e["source"]].append(e)
    banks = {
        sid: BANKS[sources[sid].kind].read(path, sources[sid], es, tensors_of)
        for sid, es in per_source.items()
        if es
    }
    semantics = _unit_semantics(man)
    for bank in banks.values():
        if isinstance(bank, ModuleBank):  # the masks run as the set was decomposed
            bank.unit_semantics = semantics
    by_bank = [id(e) for sid in banks for e in per_source[sid]]
    rows = [by_bank.index(id(e)) for e in entries]
    rows = None if rows == sorted(rows) else rows  # a decomposed set: already in bank order
    return ModuleSet(path, man, sources, banks, entries, rows)
