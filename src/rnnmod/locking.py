"""An exclusive lock on an output path, so two writers never build the same artifact at once.

The lock is a file next to the output (``.NAME.lock`` beside ``NAME``: the output directory
itself is replaced by a rename, so it cannot hold it). Where ``fcntl`` exists the file carries
an OS lock, which the kernel drops when the holder dies, so a lock left by a killed process is
never "stale". Elsewhere the file is created exclusively and holds the owner's PID; a lock
whose PID is no longer running is taken over.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import RnnmodError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def lock_path(out: Path) -> Path:
    out = Path(out)
    return out.with_name(f".{out.name}.lock")


def _holder(lock: Path) -> dict:
    try:
        info = json.loads(lock.read_text(encoding="utf-8"))
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _in_use(out: Path, lock: Path) -> RnnmodError:
    info = _holder(lock)
    who = f"pid {info['pid']}" if "pid" in info else "another process"
    what = f", {info['command']}" if info.get("command") else ""
    return RnnmodError(
        f"{out} is in use by another rnnmod process ({who}{what}); wait for it to finish "
        f"(lock file {lock})"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stamp(command: str) -> bytes:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command}
    info["started"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return json.dumps(info).encode()


_HELD: dict[str, int] = {}  # locks this process holds → nesting depth (the lock is re-entrant)


@contextmanager
def output_lock(out: Path | str, command: str = "") -> Iterator[Path]:
    """Hold the lock of ``out`` for the block; a clear "in use" error when another process does.

    Re-entrant within a process, so a command can hold the lock around a library call that
    takes it again (``decompose`` around ``save_moduleset``).
    """
    out = Path(out)
    lock = lock_path(out)
    lock.parent.mkdir(parents=True, exist_ok=True)
    key = str(lock.resolve())
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield lock
        finally:
            _HELD[key] -= 1
        return
    fd = _acquire_flock(out, lock) if fcntl is not None else _acquire_pidfile(out, lock)
    _HELD[key] = 1
    try:
        os.ftruncate(fd, 0)
        os.write(fd, _stamp(command))
        os.fsync(fd)
        yield lock
    finally:
        del _HELD[key]
        try:
            os.unlink(lock)
        except OSError:
            pass
        os.close(fd)


def _acquire_flock(out: Path, lock: Path) -> int:
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise _in_use(out, lock) from None
        # the holder we waited on may have unlinked the file: only the file at the path counts
        try:
            if os.path.samestat(os.fstat(fd), os.stat(lock)):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _acquire_pidfile(out: Path, lock: Path) -> int:  # pragma: no cover - Windows
    for _ in range(2):
        try:
            return os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pid = _holder(lock).get("pid")
            if isinstance(pid, int) and _pid_alive(pid):
                raise _in_use(out, lock) from None
            lock.unlink(missing_ok=True)  # stale: its owner is gone
    raise _in_use(out, lock)
