"""Translation module sets: the module-set directory of architecture.md for encoder–decoders.

Same layout and manifest as a classifier's module set (``manifest.json`` with checksums,
``sources/<id>/`` holding each source run once, ``modules/NNN-<lang>.safetensors``); a module
file holds only the bit-packed masks of the decoder's recurrent layers (``unit_mask.<layer>``,
[1 or T, ceil(H/8)] bytes): there is no head to channel (paper-method §8), and encoder,
embeddings and output layer are the source's. The manifest says ``io_type: "enc-dec"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .. import FORMAT_VERSION, __version__
from ..errors import RnnmodError
from ..locking import output_lock
from ..modules.store import (
    KIND,
    _slug,
    _verify_checksums,
    add_source,
    check_manifest,
    pack_mask,
    unpack_mask,
)
from ..runs import load_run
from ..storage import (
    fresh_dir,
    publish_dir,
    read_json,
    read_tensors,
    sha256_file,
    write_json,
    write_tensors,
)
from .decode import Route
from .runs import TranslationRun


@dataclass
class LangModule:
    """One language's module: its source run and decoder masks (per layer [S, H] bool)."""

    lang: str
    run: TranslationRun
    masks: list[torch.Tensor]
    info: dict

    def retained(self) -> float:
        return float(sum(m.float().sum() for m in self.masks) / sum(m.numel() for m in self.masks))


@dataclass
class Translator:
    """A run (monolithic) or a module set: per language, what translates into it."""

    routes: dict[str, Route]
    modules: dict[str, LangModule] | None = None
    manifest: dict | None = None

    @property
    def langs(self) -> list[str]:
        return list(self.routes)

    def route(self, lang: str) -> Route:
        from .decode import check_lang

        check_lang(lang, self.langs, "this translator")
        return self.routes[lang]

    def monolithic_route(self, lang: str) -> Route:
        """The module's whole source model (what composition is compared against)."""
        r = self.route(lang)
        return Route(r.model, r.src_vocab, r.tgt_vocab, None)


def run_translator(run: TranslationRun) -> Translator:
    r = Route(run.model, run.vocab, run.target_vocab, None)
    return Translator({x: r for x in run.langs})


def save_translation_modules(
    out: Path, modules: list[LangModule], manifest_extra: dict, *, overwrite: bool = False
) -> Path:
    """Write language modules of one or more source runs (same bytes for the same modules)."""
    out = Path(out)
    langs = [m.lang for m in modules]
    dup = sorted({x for x in langs if langs.count(x) > 1})
    if dup:
        raise RnnmodError(f"duplicate module language(s) {', '.join(dup)}: one module per language")
    sources_lang = {m.run.config.get("data_options", {}).get("source", "en") for m in modules}
    if len(sources_lang) > 1:
        raise RnnmodError(
            f"the modules translate from different source languages ({', '.join(sorted(sources_lang))}); "
            "a composed translator needs one source language"
        )
    with output_lock(out, "save module set"):
        tmp = fresh_dir(out, overwrite=overwrite)
        (tmp / "modules").mkdir()
        sources, entries, checksums = {}, [], {}
        for n, mod in enumerate(modules):
            run = mod.run
            sid = add_source(tmp, run, sources, checksums)
            sources[sid].setdefault("langs", run.langs)
            rel = f"modules/{n:03d}-{_slug(mod.lang)}.safetensors"
            tensors = {f"unit_mask.{i}": pack_mask(m) for i, m in enumerate(mod.masks)}
            write_tensors(tmp / rel, tensors)
            checksums[rel] = sha256_file(tmp / rel)
            entries.append(
                {
                    "label": mod.lang,
                    "class_index": run.langs.index(mod.lang),
                    "source": sid,
                    "file": rel,
                    "retained_units": round(mod.retained(), 6),
                    "bytes": (tmp / rel).stat().st_size,
                    **mod.info,
                }
            )
        manifest = {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "rnnmod_version": __version__,
            "io_type": "enc-dec",
            "sources": sources,
            "modules": entries,
            "checksums": checksums,
            **manifest_extra,
        }
        write_json(tmp / "manifest.json", manifest)
        return publish_dir(tmp, out)


def is_translation_set(path: Path) -> bool:
    f = Path(path) / "manifest.json"
    if not f.is_file():
        return False
    try:
        man = read_json(f)
    except RnnmodError:
        return False
    return isinstance(man, dict) and man.get("io_type") == "enc-dec"


def load_translation_modules(path: Path | str, *, verify: bool = True) -> Translator:
    path = Path(path)
    man = check_manifest(read_json(path / "manifest.json"), path / "manifest.json")
    if man.get("io_type") != "enc-dec":
        raise RnnmodError(f"{path} is not a translation module set")
    if verify:
        _verify_checksums(path, man)
    runs = {sid: load_run(path / "sources" / sid) for sid in man["sources"]}
    modules, routes = {}, {}
    for e in man["modules"]:
        run = runs[e["source"]]
        if not isinstance(run, TranslationRun):
            raise RnnmodError(f"{path}: source {e['source']} is not a translation model")
        lang = e["label"]
        if lang not in run.langs:
            raise RnnmodError(f"{path}: module {lang!r}: its source does not translate into it")
        t = read_tensors(path / e["file"])
        cfg = run.model.cfg
        masks = []
        for layer in range(cfg.depth):
            key = f"unit_mask.{layer}"
            if key not in t:
                raise RnnmodError(f"{path / e['file']}: missing tensor {key!r}")
            try:
                m = unpack_mask(t[key], cfg.hidden)
            except RnnmodError as err:
                raise RnnmodError(f"{path / e['file']}: {key}: {err}") from None
            if m.shape[0] not in (1, cfg.tgt_len):
                raise RnnmodError(f"{path / e['file']}: {key} has {m.shape[0]} steps")
            masks.append(m)
        info = {k: e[k] for k in ("n_positive", "n_negative", "warnings") if k in e}
        modules[lang] = LangModule(lang, run, masks, info)
        routes[lang] = Route(run.model, run.vocab, run.target_vocab, masks)
    return Translator(routes, modules, man)


def open_translator(path: Path) -> Translator:
    """A translation run directory or a translation module set."""
    if is_translation_set(path):
        return load_translation_modules(path)
    run = load_run(path)
    if not isinstance(run, TranslationRun):
        raise RnnmodError(f"{path} is a {run.io_type} classifier, not a translation model")
    return run_translator(run)
