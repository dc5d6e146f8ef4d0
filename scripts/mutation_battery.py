"""Seeded mutations of every artifact kind against the four reading commands
(docs/reliability.md): each mutated run or module set file is read by ``predict``,
``evaluate``, ``compose`` and ``export``; every answer must be success or one line on stderr
with exit 2 — no traceback, no hang over 10 s. Prints one JSON line; exit 1 on a bad answer.

    python scripts/mutation_battery.py --mutations 1000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

JSON_FILES = ["manifest.json"] + [
    f"sources/*/{f}" for f in ("config.json", "vocab.json", "metrics.json")
]
ODD_VALUES = [None, [], {}, "x", -1, 0, 10**12, 1.5, True, [[[]]], {"a": []}, "../../etc", "\x00"]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def mutate_json(obj, rng: random.Random):
    """Replace one value, at any depth, by an odd one (or drop a key)."""
    paths = []

    def walk(x, path):
        paths.append(path)
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, path + [k])
        elif isinstance(x, list):
            for i, v in enumerate(x[:6]):
                walk(v, path + [i])

    walk(obj, [])
    path = rng.choice(paths[1:] or [[]])
    if not path:
        return rng.choice(ODD_VALUES)
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and rng.random() < 0.2:
        del parent[path[-1]]
    else:
        parent[path[-1]] = rng.choice(ODD_VALUES)
    return obj


def mutate(root: Path, rng: random.Random) -> str:
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    f = rng.choice(files)
    rel = str(f.relative_to(root))
    if f.suffix == ".json" and rng.random() < 0.8:
        try:
            f.write_text(json.dumps(mutate_json(json.loads(f.read_text()), rng)))
            return f"json value in {rel}"
        except (ValueError, RecursionError):
            pass
    data = bytearray(f.read_bytes())
    how = rng.choice(["flip", "truncate", "insert", "random"])
    if how == "flip" and data:
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    elif how == "truncate":
        data = data[: rng.randrange(len(data) + 1)]
    elif how == "insert":
        i = rng.randrange(len(data) + 1)
        data[i:i] = rng.randbytes(rng.randint(1, 16))
    else:
        data = bytearray(rng.randbytes(rng.randint(0, 256)))
    f.write_bytes(bytes(data))
    return f"{how} bytes of {rel}"


def read_commands(mods: Path, out: Path) -> list[list[str]]:
    return [
        ["predict", str(mods), "alpha beta gamma"],
        ["evaluate", str(mods), "--json"],
        [
            "compose",
            str(mods),
            "--labels",
            "banking,travel",
            "--out",
            str(out / "c"),
            "--overwrite",
        ],
        ["export", str(mods), "--label", "banking", "--out", str(out / "e"), "--overwrite"],
    ]


def run_battery(n: int, root: Path, seed: int = 0) -> dict:
    from rnnmod.cli import main
    from rnnmod.errors import RnnmodError
    from tests.reliability.util import DECOMPOSE_ARGS, make_run, write_csv

    csv = write_csv(root / "intents.csv")
    run = make_run(root / "run", csv)
    pristine = root / "mods"
    with contextlib.redirect_stdout(io.StringIO()):
        assert (
            main(["decompose", str(run), "--out", str(pristine), "--quiet", *DECOMPOSE_ARGS]) == 0
        )
    rng = random.Random(seed)
    signal.signal(signal.SIGALRM, _alarm)
    counts = {
        "mutations": n,
        "reads": 0,
        "ok": 0,
        "one_line_errors": 0,
        "tracebacks": 0,
        "hangs": 0,
    }
    bad = []
    for i in range(n):
        mods = root / "m"
        shutil.rmtree(mods, ignore_errors=True)
        shutil.copytree(pristine, mods)
        what = mutate(mods, rng)
        for argv in read_commands(mods, root):
            counts["reads"] += 1
            out, err = io.StringIO(), io.StringIO()
            signal.alarm(10)
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    rc = main(["--threads", "1", *argv])
            except Hang:
                counts["hangs"] += 1
                bad.append({"mutation": i, "what": what, "command": argv[0], "problem": "hang"})
                continue
            except (Exception, SystemExit) as e:  # noqa: BLE001 — what the battery looks for
                if isinstance(e, SystemExit) or isinstance(e, RnnmodError):
                    rc = 2
                else:
                    counts["tracebacks"] += 1
                    bad.append(
                        {"mutation": i, "what": what, "command": argv[0], "problem": repr(e)[:200]}
                    )
                    continue
            finally:
                signal.alarm(0)
            text = err.getvalue()
            if rc == 0:
                counts["ok"] += 1
            elif rc == 2 and text.count("\n") == 1 and text.startswith("rnnmod: error: "):
                counts["one_line_errors"] += 1
            else:
                counts["tracebacks"] += 1
                bad.append({"mutation": i, "what": what, "command": argv[0], "problem": text[:200]})
    return counts | {"bad": bad[:20]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mutations", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = run_battery(args.mutations, Path(tmp), args.seed)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(res, sort_keys=True))
    return 0 if res["tracebacks"] == res["hangs"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
