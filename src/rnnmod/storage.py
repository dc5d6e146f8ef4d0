"""Crash-safe, code-free artifact IO: JSON and safetensors, written to a temp name then renamed."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import RnnmodError

if TYPE_CHECKING:  # torch is imported where tensors are read or written
    import torch

#: Test hook (crash-safety tests only): seconds to sleep after each atomic file write, so that a
#: test can kill a real ``rnnmod`` process while it is writing an artifact.
WRITE_DELAY_ENV = "RNNMOD_TEST_WRITE_DELAY"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_target(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _test_write_delay() -> None:
    delay = os.environ.get(WRITE_DELAY_ENV)
    if delay:
        time.sleep(float(delay))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary sibling, fsync, rename over ``path``: readers see old or new, never half."""
    fd, tmp = _atomic_target(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    _test_write_delay()


def _old_dir(out: Path) -> Path:
    return out.with_name(f".{out.name}.old")


def recover_dir(out: Path) -> bool:
    """Put back the previous complete ``out`` when a process was killed between the two renames
    of :func:`publish_dir` (``out`` gone, ``.out.old`` complete). Call it only while holding the
    output (a writer's lock): a concurrent publisher would be between the same two renames."""
    old = _old_dir(out)
    if not out.exists() and old.is_dir():
        old.rename(out)
        return True
    return False


def check_replaceable(
    out: Path, *, overwrite: bool, kind: str = "", marker: str = "", unlike: str = ""
) -> None:
    """Refuse an existing ``out`` unless ``overwrite`` and it is an artifact of this kind (a
    folder holding ``marker`` and not ``unlike``); long commands call it before their work."""
    if not (out.exists() or out.is_symlink()):
        return
    if not overwrite:
        raise RnnmodError(f"{out} already exists; pass --overwrite to replace it")
    what = f"an rnnmod {kind}" if kind else "an rnnmod artifact"
    foreign = (marker and not (out / marker).is_file()) or (unlike and (out / unlike).exists())
    if out.is_symlink() or not out.is_dir() or foreign:
        raise RnnmodError(
            f"{out} is not {what}, so --overwrite "
            "will not replace it; choose another output or remove it yourself"
        )


def fresh_dir(
    out: Path, *, overwrite: bool, kind: str = "", marker: str = "", unlike: str = ""
) -> Path:
    """A new empty temporary sibling of ``out`` to build a directory artifact in.

    ``--overwrite`` replaces only an artifact of the same kind: a directory holding ``marker``
    (e.g. ``manifest.json`` for a module set) and not ``unlike`` (the marker of a kind with
    the same files and more); a regular file or a foreign folder at ``out`` is refused and left
    untouched. Leftovers of a killed writer are cleaned first: a half-built
    ``.out.tmp`` is deleted, and a previous version caught between the renames of
    :func:`publish_dir` is put back.
    """
    recover_dir(out)
    check_replaceable(out, overwrite=overwrite, kind=kind, marker=marker, unlike=unlike)
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.is_symlink() or tmp.is_file():
        tmp.unlink()
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


@contextmanager
def building(
    out: Path, *, overwrite: bool, kind: str, marker: str, unlike: str = ""
) -> Iterator[Path]:
    """``with building(out, …) as tmp:`` build the artifact in ``tmp``, then
    :func:`publish_dir`. A failed build removes ``tmp`` and says which output could not be
    written and why (a full disk names the output, not the file being copied)."""
    tmp = fresh_dir(out, overwrite=overwrite, kind=kind, marker=marker, unlike=unlike)
    try:
        yield tmp
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RnnmodError(f"cannot write {out}: {e.strerror or e}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False
    where the system cannot."""
    try:
        import ctypes

        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def publish_dir(tmp: Path, out: Path) -> Path:
    """Move a finished directory into place. Where the system can, the old and new versions
    are swapped in one atomic step, so ``out`` always holds a complete version; elsewhere the
    old one is renamed aside first. A kill at any point leaves ``out`` complete (old or new)
    or, between the two renames, the old version complete at ``.out.old``, which
    :func:`fresh_dir` puts back."""
    _fsync_dir(tmp)
    if out.exists():
        if _exchange(tmp, out):
            _fsync_dir(out.parent)
            shutil.rmtree(tmp)  # now the previous version
            return out
        old = _old_dir(out)
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        tmp.rename(out)
        _fsync_dir(out.parent)
        shutil.rmtree(old)
    else:
        tmp.rename(out)
        _fsync_dir(out.parent)
    return out


def write_csv(
    path: Path, rows: list[dict], fields: list[str], *, round_floats: int | None = None
) -> None:
    """A results CSV (columns ``fields``; other keys ignored), written atomically; floats
    rounded to ``round_floats`` digits when given."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        if round_floats is not None:
            r = {k: (round(v, round_floats) if isinstance(v, float) else v) for k, v in r.items()}
        w.writerow(r)
    write_bytes_atomic(path, buf.getvalue().encode())


def write_json(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> Any:
    from .snapshot import parse_json

    if not path.is_file():
        raise RnnmodError(f"missing file: {path}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RnnmodError(f"cannot read {path}: {e.strerror}") from None
    return parse_json(data, path)


def safetensors_bytes(
    tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> bytes:
    """A safetensors file whose bytes depend only on the tensors and metadata.

    ``safetensors`` serialises the metadata from a hash map whose order changes from process
    to process; we rewrite the JSON header with sorted keys (same format, same data offsets),
    so that the same module is always the same file.
    """
    from safetensors.torch import save

    raw = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + raw[8 + n :]


def write_tensors(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    write_bytes_atomic(path, safetensors_bytes(tensors, metadata))


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file; anything else (a pickle, a truncated file) is refused."""
    return read_tensors_and_metadata(path)[0]


def read_tensors_and_metadata(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A safetensors file's tensors and its header's metadata, from one read of its bytes."""
    from .snapshot import parse_tensors

    if not path.is_file():
        raise RnnmodError(f"missing file: {path}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RnnmodError(f"cannot read {path}: {e.strerror}") from None
    tensors = parse_tensors(data, path)  # the header is valid once this passed
    n = struct.unpack("<Q", data[:8])[0]
    return tensors, json.loads(data[8 : 8 + n]).get("__metadata__") or {}
