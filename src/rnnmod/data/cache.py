"""The tokenised-data cache: a task's id tensors, vocabulary, labels and raw texts, built once
from its source files and read back in milliseconds by every later command.

An entry is keyed by the sha256 of everything its content depends on: the source files' bytes,
the task and its options, the data package's own code, the NLTK version (Clinc's tokenizer) and
the cache format. It is two files, each written atomically (write-then-rename): the tensors
(``<key>.safetensors``) and a JSON header that records the tensors' sha256 beside everything
else. A reader takes the tensors only when their bytes hash to what the header says; anything
else (a truncated, altered or half-replaced entry) is reported in one line and rebuilt, never
trusted. Two writers of one entry write the same bytes. Location: ``$RNNMOD_CACHE``, else the
platform's user cache folder (``platformdirs``); ``RNNMOD_NO_CACHE=1`` (``rnnmod --no-cache``)
bypasses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from functools import cache
from importlib import metadata
from pathlib import Path

from safetensors.torch import load as load_safetensors

from ..storage import safetensors_bytes, write_bytes_atomic

FORMAT = 1
NO_CACHE_ENV = "RNNMOD_NO_CACHE"


def cache_dir() -> Path:
    env = os.environ.get("RNNMOD_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("rnnmod")) / "tokenised"


def enabled() -> bool:
    return os.environ.get(NO_CACHE_ENV, "") in ("", "0")


@cache
def _code_digest() -> str:
    """The data package's code: a changed tokenizer or loader never reads an old entry."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    try:
        h.update(metadata.version("nltk").encode())
    except metadata.PackageNotFoundError:
        pass
    return h.hexdigest()


def source_files(paths: list[Path]) -> list[Path]:
    """Every file under ``paths`` (folders recursively), sorted; [] when one is missing."""
    out: list[Path] = []
    for p in paths:
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file())
        else:
            return []
    return out


def entry_key(kind: str, options: dict, files: list[Path]) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps([FORMAT, kind, options, _code_digest()], sort_keys=True, default=str).encode()
    )
    for f in files:
        h.update(b"\0" + f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:40]


def _read(root: Path, key: str) -> tuple[dict, dict] | None:
    """(header, tensors) of an intact entry, None when there is none; a damaged one is reported
    and removed (the caller rebuilds it)."""
    head, body = root / f"{key}.json", root / f"{key}.safetensors"
    if not head.is_file():
        return None
    try:
        header = json.loads(head.read_text(encoding="utf-8"))
        raw = body.read_bytes()
        if hashlib.sha256(raw).hexdigest() != header["tensors_sha256"]:
            raise ValueError("its tensors do not match its header")
        return header, load_safetensors(raw)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(
            f"rnnmod: warning: cache entry {head} is damaged ({reason}); rebuilding it",
            file=sys.stderr,
        )
        for f in (head, body):
            f.unlink(missing_ok=True)
        return None


def cached(
    kind: str,
    options: dict,
    sources: list[Path],
    build: Callable[[], object],
    encode: Callable[[object], tuple[dict, dict]],
    decode: Callable[[dict, dict], object],
) -> object:
    """``build()``'s result, through the cache: ``encode`` splits it into (tensors, JSON-able
    header), ``decode`` puts it back together. Uncacheable inputs (no source file found) and a
    disabled cache just build."""
    files = source_files(sources)
    if not enabled() or not files:
        return build()
    root = cache_dir()
    key = entry_key(kind, options, files)
    hit = _read(root, key)
    if hit is not None:
        header, tensors = hit
        return decode(tensors, header["content"])
    value = build()
    tensors, content = encode(value)
    raw = safetensors_bytes(tensors)
    header = {
        "format": FORMAT,
        "kind": kind,
        "options": options,
        "sources": [str(f) for f in files],
        "tensors_sha256": hashlib.sha256(raw).hexdigest(),
        "content": content,
    }
    try:
        root.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(root / f"{key}.safetensors", raw)
        write_bytes_atomic(
            root / f"{key}.json", json.dumps(header, sort_keys=True, default=str).encode()
        )
    except OSError as e:  # a read-only or full cache folder must not stop the command
        print(
            f"rnnmod: warning: cannot write the data cache in {root} ({e.strerror})",
            file=sys.stderr,
        )
    return value
