"""Reading one published version of a directory artifact, even while another process replaces
it: the directory is opened once and every file is read relative to that handle, each file's
bytes once — checked against the size its manifest records before anything is read, hashed and
parsed from the same bytes. A replaced directory keeps its handle's version; one removed while
being read raises :class:`VersionGone`, and the caller reads the new version from the start."""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .errors import RnnmodError

#: JSON files rnnmod writes are small; a larger one is not ours (and is refused unread)
MAX_JSON_BYTES = 64 << 20

T = TypeVar("T")


class VersionGone(Exception):
    """The directory being read was replaced and removed: read the new version."""


class DirSnapshot:
    """A directory opened once (``with DirSnapshot(path) as snap: snap.read("a/b.json")``)."""

    def __init__(self, path: Path | str, *, _fd: int | None = None):
        self.path = Path(path)
        if _fd is not None:
            self.fd = _fd
            return
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            raise RnnmodError(f"{self.path} does not exist") from None
        except NotADirectoryError:
            raise RnnmodError(f"{self.path} is not a directory") from None

    def __enter__(self) -> DirSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def is_file(self, rel: str) -> bool:
        try:
            return stat.S_ISREG(os.stat(rel, dir_fd=self.fd, follow_symlinks=False).st_mode)
        except OSError:
            return False

    def read(self, rel: str, *, size: int | None = None, max_bytes: int | None = None) -> bytes:
        """The bytes of ``rel``: a regular file (no link) of exactly ``size`` bytes when given,
        at most ``max_bytes`` otherwise — checked before a byte is read."""
        where = self.path / rel
        try:
            fd = os.open(rel, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=self.fd)
        except FileNotFoundError:
            if not self._still_there():
                raise VersionGone(str(self.path)) from None
            raise RnnmodError(f"missing file: {where}") from None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise RnnmodError(
                    f"{where} is a symbolic link; rnnmod reads only its own files"
                ) from None
            raise RnnmodError(f"cannot read {where}: {e.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise RnnmodError(f"{where} is not a regular file")
            if size is not None and st.st_size != size:
                raise RnnmodError(
                    f"{where} has {st.st_size} bytes but the manifest records {size}: "
                    "the file was altered or truncated"
                )
            if max_bytes is not None and st.st_size > max_bytes:
                raise RnnmodError(
                    f"{where} has {st.st_size} bytes, more than any rnnmod artifact file of its "
                    f"kind ({max_bytes}); it is not one"
                )
            chunks, left = [], st.st_size
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 24))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def read_json(self, rel: str) -> Any:
        return parse_json(self.read(rel, max_bytes=MAX_JSON_BYTES), self.path / rel)

    def sub(self, rel: str) -> DirSnapshot:
        """A sub-directory, read from this same version."""
        try:
            fd = os.open(rel, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=self.fd)
        except FileNotFoundError:
            if not self._still_there():
                raise VersionGone(str(self.path)) from None
            raise RnnmodError(f"missing folder: {self.path / rel}") from None
        except OSError as e:
            raise RnnmodError(f"cannot read {self.path / rel}: {e.strerror}") from None
        return DirSnapshot(self.path / rel, _fd=fd)

    def _still_there(self) -> bool:
        """False when a newer version replaced this one: the path now names another directory
        (or none), or this one is being removed."""
        try:
            mine, now = os.fstat(self.fd), os.stat(self.path)
        except OSError:
            return False
        return mine.st_nlink > 0 and (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)


def one_version(path: Path, read: Callable[[DirSnapshot], T]) -> T:
    """``read(snapshot)`` of one published version of ``path``, read again from the start when
    a concurrent writer replaced the version being read."""
    for _ in range(5):
        try:
            with DirSnapshot(path) as snap:
                return read(snap)
        except VersionGone:
            continue
    raise RnnmodError(f"{path} kept being replaced while it was read; try again")


def parse_json(data: bytes, where: Path | str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RnnmodError(f"{where}: not valid JSON ({e})") from None
    except RecursionError:
        raise RnnmodError(f"{where}: not valid JSON (nested too deeply)") from None


def parse_tensors(data: bytes, where: Path | str) -> dict:
    """Tensors of safetensors bytes; anything else (a pickle, a truncated file) is refused."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        tensors = load(data)
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RnnmodError(f"{where}: not a valid safetensors file ({reason})") from None
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise RnnmodError(f"{where}: tensor {name!r} contains NaN or Inf")
    return tensors
