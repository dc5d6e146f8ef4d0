"""Readers against a writer that keeps replacing a module set (docs/reliability.md).

One process composes two versions of a module set in turn onto one output with ``--overwrite``
(``--swaps`` times); another runs ``predict --json`` against it (``--reads`` times). Every read
must be exactly one complete version's answer: no mix of the two, no false checksum error, no
other error. Prints one JSON line; exit 1 on any bad read.

    python scripts/overwrite_battery.py --reads 500 --swaps 200
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TEXTS = ["alpha beta gamma delta", "kappa lambda mu nu", "theta iota zeta eta"]


def _writer(args: tuple[list[str], str, int]) -> int:
    import contextlib
    import io

    from rnnmod.cli import main

    sets, out, swaps = args
    bad = 0
    for i in range(swaps):
        src = sets[i % 2]
        argv = ["compose", src, "--labels", "banking,travel,cooking", "--out", out, "--overwrite"]
        with contextlib.redirect_stdout(io.StringIO()):
            bad += main(["--threads", "1", *argv]) != 0
    return bad


def _reader(args: tuple[str, int]) -> list:
    import contextlib
    import io

    from rnnmod.cli import main

    out, reads = args
    seen = []
    for _ in range(reads):
        buf, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
            rc = main(["--threads", "1", "predict", out, *TEXTS, "--json"])
        seen.append((rc, buf.getvalue(), err.getvalue()))
    return seen


def run_battery(reads: int, swaps: int, root: Path) -> dict:
    import contextlib
    import io

    from rnnmod.cli import main
    from tests.reliability.util import DECOMPOSE_ARGS, make_run, write_csv

    csv = write_csv(root / "intents.csv")
    sets = []
    for seed in (0, 1):
        run = make_run(root / f"run{seed}", csv, seed=seed)
        mods = root / f"mods{seed}"
        argv = ["decompose", str(run), "--out", str(mods), "--quiet", "--json", *DECOMPOSE_ARGS]
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(argv) == 0
        sets.append(str(mods))
    out = str(root / "OW")
    expected = set()
    for s in sets:  # each version's complete answer
        _writer(([s, s], out, 1))
        _, text, _ = _reader((out, 1))[0]
        expected.add(json.dumps(json.loads(text), sort_keys=True))
    assert len(expected) == 2, "the two versions must answer differently to tell a mix"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        w = pool.apply_async(_writer, ((sets, out, swaps),))
        r = pool.apply_async(_reader, ((out, reads),))
        writer_failures, seen = w.get(), r.get()
    mixed = errors = checksum = 0
    samples = []
    for rc, text, err in seen:
        if rc != 0:
            errors += 1
            checksum += "checksum" in err
            samples.append(err.strip()[:300])
        elif json.dumps(json.loads(text), sort_keys=True) not in expected:
            mixed += 1
    return {
        "reads": reads,
        "swaps": swaps,
        "complete_version_reads": reads - mixed - errors,
        "mixed": mixed,
        "errors": errors,
        "false_checksum_errors": checksum,
        "writer_failures": writer_failures,
        "error_samples": samples[:3],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reads", type=int, default=500)
    p.add_argument("--swaps", type=int, default=200)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        res = run_battery(args.reads, args.swaps, Path(tmp))
    print(json.dumps(res, sort_keys=True))
    return 0 if res["mixed"] == res["errors"] == res["writer_failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
