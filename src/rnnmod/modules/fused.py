"""The fused CPU kernel of compact banks (``fused_cells.cpp``), built at first use.

A compact bank's K modules of one layer run as one batched recurrent product per step; torch's
element-wise calls over K × the padded width then cost more than the products (batch 256:
about 0.7 of the monolithic model's time for the gate non-linearities of ten 22-unit LSTM
modules alone). The kernel does every step's non-linearities in a few vectorised loops
(docs/budget.md, "The compact bank"). It is compiled once per machine with
``torch.utils.cpp_extension`` (a C++ compiler and ninja are needed; about 30 s) into
``$RNNMOD_KERNELS`` (else the user cache folder's ``kernels``), keyed by the source, the flags,
the torch version and the processor's features, so a cache shared between machines never runs a
build for another processor. Without a compiler, or with ``RNNMOD_FUSED=0``, compact banks run
their torch path (the same numbers to 1e-5, slower at large batches); :func:`unavailable` says
why.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import torch

SOURCE = Path(__file__).with_name("fused_cells.cpp")
# -fopenmp: at::parallel_for in the header runs OpenMP threads only where it is compiled with it
FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fopenmp"]
DISABLE_ENV = "RNNMOD_FUSED"
KERNELS_ENV = "RNNMOD_KERNELS"
#: the kernel's cell codes
CELLS = {"lstm": 0, "gru": 1, "rnn": 2, "rnn-relu": 3}

_built: dict[str, ModuleType | str] = {}  # "module" or "error"


def _cpu_features() -> str:
    """The processor's feature flags (Linux), so a build is never reused on another CPU."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def build_dir() -> Path:
    """Where the kernel is compiled and cached: ``$RNNMOD_KERNELS``, else the user cache folder's
    ``kernels`` (beside, not inside, the tokenised-data cache: a build is not data)."""
    env = os.environ.get(KERNELS_ENV)
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("rnnmod")) / "kernels"


def build_name() -> str:
    """The build's name: a digest of the source, the flags, the torch version and the processor
    (``-march=native`` code must never run on another one)."""
    h = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(FLAGS).encode(), torch.__version__.encode(),
                 platform.machine().encode(), _cpu_features().encode()):  # fmt: skip
        h.update(part + b"\0")
    return f"rnnmod_fused_{h.hexdigest()[:16]}"


def _build() -> ModuleType:
    """The kernel, imported from its built file; compiled first where it is missing — in a
    folder of this process's own, then moved into place (write-then-rename), so a process killed
    while compiling leaves nothing that another one would wait for or read half-written.
    (torch's loader alone takes a lock in the shared folder on every load, and a process killed
    while holding it blocks every later one.)"""
    name = build_name()
    where = build_dir()
    where.mkdir(parents=True, exist_ok=True)
    built = where / f"{name}.so"
    if built.exists():
        return _import(name, built)
    from torch.utils.cpp_extension import load

    print(
        "rnnmod: compiling the fused kernel for compact modules (once per machine, ~30 s)",
        file=sys.stderr,
    )
    private = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=where))
    try:
        module = load(
            name=name,
            sources=[str(SOURCE)],
            extra_cflags=FLAGS,
            extra_ldflags=["-fopenmp"],
            build_directory=str(private),
            verbose=False,
        )
        os.replace(private / f"{name}.so", built)  # loaded already: the mapping stays valid
        return module
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _import(name: str, path: Path) -> ModuleType:
    """Import the built extension ``path`` as module ``name``."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the fused kernel from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def kernel() -> ModuleType | None:
    """The compiled kernel, or None (disabled, or it cannot be built here: :func:`unavailable`)."""
    if os.environ.get(DISABLE_ENV, "") == "0":
        return None
    if not _built:
        try:
            _built["module"] = _build()
        except Exception as e:  # no compiler, no ninja, a failed build: the torch path runs
            first = (str(e).strip().splitlines() or [""])[0][:200]
            _built["error"] = f"the fused kernel could not be built ({type(e).__name__}: {first})"
    return _built.get("module")  # type: ignore[return-value]


def unavailable() -> str:
    """Why :func:`kernel` is None ('' when it is available)."""
    if os.environ.get(DISABLE_ENV, "") == "0":
        return f"disabled by {DISABLE_ENV}=0"
    kernel()
    return str(_built.get("error", ""))
