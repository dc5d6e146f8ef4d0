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

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import FORMAT_VERSION, __version__
from ..errors import RnnmodError
from ..nn.cells import N_GATES
from ..runs import Run, load_run
from ..storage import (
    fresh_dir,
    publish_dir,
    read_json,
    read_tensors,
    sha256_file,
    write_json,
    write_tensors,
)
from .module import ModuleBank

KIND = "rnnmod.moduleset"
SOURCE_FILES = ("model.safetensors", "config.json", "vocab.json", "metrics.json")


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "class"


def pack_mask(mask: torch.Tensor) -> torch.Tensor:
    """bool [S, W] → uint8 [S, ceil(W/8)] (little bit order)."""
    return torch.from_numpy(np.packbits(mask.numpy().astype(np.uint8), axis=-1, bitorder="little"))


def unpack_mask(packed: torch.Tensor, width: int) -> torch.Tensor:
    bits = np.unpackbits(packed.numpy(), axis=-1, count=width, bitorder="little")
    return torch.from_numpy(bits.astype(bool))


def module_tensors(bank: ModuleBank, k: int) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors = {"head.weight": bank.head_weight[k], "head.bias": bank.head_bias[k]}
    meta = {}
    for kind, masks in (("unit_mask", bank.unit_masks), ("gate_mask", bank.gate_masks)):
        for layer, m in enumerate(masks or []):
            tensors[f"{kind}.{layer}"] = pack_mask(m[k])
            meta[f"{kind}.{layer}"] = json.dumps(list(m[k].shape))
    return tensors, meta


@dataclass
class ModuleSet:
    """A loaded module set: its sources and one bank per source, in manifest order."""

    path: Path | None
    manifest: dict
    sources: dict[str, Run]
    banks: dict[str, ModuleBank]
    entries: list[dict] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [e["label"] for e in self.entries]

    @property
    def single_source(self) -> Run:
        if len(self.sources) != 1:
            raise RnnmodError("this module set holds modules of several source models")
        return next(iter(self.sources.values()))

    @property
    def module_output(self) -> str:
        return self.manifest.get("config", {}).get("module_output", "binary")

    @torch.no_grad()
    def scores_texts(self, texts: list[str]) -> torch.Tensor:
        """Every module's positive probability on raw text; each source encodes the text with
        its own vocabulary. → [K, B] in manifest order."""
        parts = []
        for sid, bank in self.banks.items():
            run = self.sources[sid]
            parts.append(
                bank.scores(run.model, run.vocab.encode_texts(texts), output=self.module_output)
            )
        return torch.cat(parts)

    def predict_texts(self, texts: list[str]) -> list[str]:
        scores = self.scores_texts(texts)
        idx = scores.argmax(0)
        return [self.labels[i] for i in idx.tolist()]


def save_moduleset(
    out: Path,
    parts: list[tuple[Run, ModuleBank]],
    manifest_extra: dict,
    *,
    overwrite: bool = False,
) -> Path:
    """Write modules of one or more sources (each part: a source run and its bank)."""
    out = Path(out)
    tmp = fresh_dir(out, overwrite=overwrite)
    (tmp / "modules").mkdir()
    sources, entries, checksums = {}, [], {}
    n = 0
    for run, bank in parts:
        if run.path is None:
            raise RnnmodError("a module's source run must be saved in a run directory first")
        full = run.model_sha256()
        sid = full[:12]
        if sid not in sources:
            sdir = tmp / "sources" / sid
            sdir.mkdir(parents=True)
            for f in SOURCE_FILES:
                shutil.copyfile(run.path / f, sdir / f)
                checksums[f"sources/{sid}/{f}"] = sha256_file(sdir / f)
            src_bytes = (sdir / "model.safetensors").stat().st_size
            sources[sid] = {
                "model_sha256": full,
                "task": run.task,
                "io_type": run.io_type,
                "cell": run.model.cfg.cell,
                "depth": run.model.cfg.depth,
                "steps": run.model.steps,
                "model_bytes": src_bytes,
            }
        retained = bank.retained_fraction()
        for k in range(len(bank)):
            label = run.label_names[bank.class_index[k]]
            rel = f"modules/{n:03d}-{_slug(label)}.safetensors"
            tensors, meta = module_tensors(bank, k)
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
                    **info,
                }
            )
            n += 1
    labels = [e["label"] for e in entries]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        shutil.rmtree(tmp)
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
    write_json(tmp / "manifest.json", manifest)
    return publish_dir(tmp, out)


def load_moduleset(path: Path | str, *, verify: bool = True) -> ModuleSet:
    path = Path(path)
    if not path.is_dir():
        raise RnnmodError(f"module set {path} does not exist")
    man = read_json(path / "manifest.json")
    if not isinstance(man, dict) or man.get("kind") != KIND:
        raise RnnmodError(f"{path / 'manifest.json'} is not an rnnmod module set manifest")
    if man.get("format_version", 0) > FORMAT_VERSION:
        raise RnnmodError(
            f"{path} was written by a newer rnnmod (format {man['format_version']} > {FORMAT_VERSION}); upgrade rnnmod"
        )
    try:
        checksums: dict = man["checksums"]
        entries: list = man["modules"]
        sources_meta: dict = man["sources"]
    except KeyError as e:
        raise RnnmodError(f"{path / 'manifest.json'}: missing field {e}") from None
    if verify:
        for rel, digest in checksums.items():
            f = path / rel
            if not f.is_file():
                raise RnnmodError(f"{path}: missing file {rel}")
            if sha256_file(f) != digest:
                raise RnnmodError(f"checksum mismatch for {f}: the file was altered or corrupted")
    sources = {sid: load_run(path / "sources" / sid) for sid in sources_meta}
    per_source: dict[str, list[dict]] = {sid: [] for sid in sources}
    for e in entries:
        if e.get("source") not in sources:
            raise RnnmodError(
                f"{path / 'manifest.json'}: module {e.get('label')!r} names an unknown source"
            )
        per_source[e["source"]].append(e)
    banks = {sid: _load_bank(path, sources[sid], es) for sid, es in per_source.items() if es}
    ordered = [e for sid in banks for e in per_source[sid]]
    return ModuleSet(path, man, sources, banks, ordered)


def _load_bank(path: Path, run: Run, entries: list[dict]) -> ModuleBank:
    model = run.model
    hidden, depth, steps = model.cfg.hidden, model.cfg.depth, model.steps
    heads_w, heads_b, units, gates = [], [], [], []
    for e in entries:
        f = path / e["file"]
        if not 0 <= int(e.get("class_index", -1)) < model.cfg.n_classes:
            raise RnnmodError(
                f"{path / 'manifest.json'}: module {e.get('label')!r} has a class index the source model does not have"
            )
        t = read_tensors(f)
        rows = t["head.weight"].shape[0] if "head.weight" in t else 0
        if (
            rows not in (2, 3)
            or tuple(t["head.weight"].shape) != (rows, hidden)
            or tuple(t.get("head.bias", torch.empty(0)).shape) != (rows,)
            or (heads_w and rows != heads_w[0].shape[0])
        ):
            raise RnnmodError(
                f"{f}: missing or misshaped channelled head (expected [2 or 3, {hidden}] and a matching bias)"
            )
        heads_w.append(t["head.weight"])
        heads_b.append(t["head.bias"])
        for kind, store in (("unit_mask", units), ("gate_mask", gates)):
            keys = [f"{kind}.{layer}" for layer in range(depth)]
            if not any(k in t for k in keys):
                store.append(None)
                continue
            width = hidden * (1 if kind == "unit_mask" else N_GATES[model.cfg.cell])
            layers = []
            for k in keys:
                if k not in t:
                    raise RnnmodError(f"{f}: missing tensor {k!r}")
                m = unpack_mask(t[k], width)
                if m.shape[0] not in (1, steps):
                    raise RnnmodError(
                        f"{f}: {k} has masks for {m.shape[0]} steps but the source model runs {steps} steps"
                    )
                layers.append(m)
            store.append(layers)

    def stack(store):
        if all(s is None for s in store):
            return None
        if any(s is None for s in store):
            raise RnnmodError(f"{path}: modules of one source mix mask kinds")
        s_max = max(layer.shape[0] for s in store for layer in s)
        return [torch.stack([s[layer].expand(s_max, -1) for s in store]) for layer in range(depth)]

    return ModuleBank(
        class_index=[int(e["class_index"]) for e in entries],
        head_weight=torch.stack(heads_w),
        head_bias=torch.stack(heads_b),
        unit_masks=stack(units),
        gate_masks=stack(gates),
        info=[
            {k: e[k] for k in ("n_positive", "n_negative", "warnings") if k in e} for e in entries
        ],
    )
