"""Same inputs and seed → byte-identical module files and manifest, in separate processes.

``timings.json`` (wall-clock seconds of each stage) is the one file of a module set that is not
deterministic; it is not in the manifest nor in its checksums. Reports differ only in their
``seconds`` fields.
"""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from rnnmod.cli import main
from rnnmod.storage import safetensors_bytes
from tests.reliability.test_crash_resume import tree_digest
from tests.reliability.util import DECOMPOSE_ARGS, rnnmod

NONDETERMINISTIC = {"timings.json"}


def test_decompose_is_byte_identical_across_processes(tc_run, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["decompose", str(tc_run), "--mode", "unrolled", "--quiet", *DECOMPOSE_ARGS]
    r = rnnmod(*args, "--out", str(a))  # another process: another hash seed, another heap
    assert r.returncode == 0, r.stderr
    assert main([*args, "--out", str(b)]) == 0
    da, db = tree_digest(a), tree_digest(b)
    assert set(da) == set(db)
    differing = {f for f in da if da[f] != db[f]}
    assert differing <= NONDETERMINISTIC
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    man = json.loads((a / "manifest.json").read_text())
    assert "timings" not in man and "timings.json" not in man["checksums"]
    assert len([f for f in da if f.startswith("modules/")]) == 4
    # several metadata keys per file (2 layers), where safetensors' own order would vary
    blob = next((a / "modules").iterdir()).read_bytes()
    meta = json.loads(blob[8 : 8 + int.from_bytes(blob[:8], "little")])
    assert len(meta["__metadata__"]) == 2

    # composing and evaluating are deterministic too (reports: all but "seconds")
    for out in ("c1", "c2"):
        assert (
            main(["compose", str(a), "--labels", "music,banking", "--out", str(tmp_path / out)])
            == 0
        )
    assert tree_digest(tmp_path / "c1") == tree_digest(tmp_path / "c2")
    capsys.readouterr()
    reports = []
    for mods in (a, b):
        assert main(["evaluate", str(mods), "--json"]) == 0
        res = json.loads(capsys.readouterr().out)
        res.pop("seconds")
        reports.append(res)
    assert reports[0] == reports[1]


def test_safetensors_bytes_do_not_depend_on_metadata_order(tmp_path):
    tensors = {"b": torch.arange(6.0).reshape(2, 3), "a": torch.ones(3, dtype=torch.uint8)}
    metas = [{f"k{i}": str(i) for i in order} for order in (range(12), reversed(range(12)))]
    blobs = {safetensors_bytes(tensors, m) for m in metas for _ in range(5)}
    assert len(blobs) == 1
    blob = blobs.pop()
    n = int.from_bytes(blob[:8], "little")
    assert n % 8 == 0
    header = json.loads(blob[8 : 8 + n])
    assert list(header) == sorted(header)
    path = tmp_path / "t.safetensors"
    path.write_bytes(blob)
    back = load_file(str(path))
    assert torch.equal(back["b"], tensors["b"]) and torch.equal(back["a"], tensors["a"])
