"""Damaged, foreign and hand-edited artifacts: every one is refused with one line, exit code 2.

Each case damages a private copy of a tiny run or module set, then runs the real command-line
entry point in-process. docs/reliability.md lists these cases with the message each prints.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnmod.cli import main
from rnnmod.errors import RnnmodError
from rnnmod.modules.masks import pack_mask
from rnnmod.storage import sha256_file, write_tensors


class Evil:
    """A pickle payload that would run code when unpickled."""

    def __reduce__(self):
        return (print, ("pwned",))


def edit_json(path: Path, fn) -> None:
    obj = json.loads(path.read_text())
    fn(obj)
    path.write_text(json.dumps(obj))


def edit_tensors(path: Path, fn) -> None:
    t = dict(load_file(str(path)))
    fn(t)
    write_tensors(path, t)


def rehash(mods: Path) -> None:
    """Make the manifest agree with the files again, as a careful hand-editor would, so that the
    deeper checks (not only the checksums) are what refuses the change."""
    man_path = mods / "manifest.json"
    man = json.loads(man_path.read_text())
    man["checksums"] = {rel: sha256_file(mods / rel) for rel in man["checksums"]}
    for e in man["modules"]:
        e["bytes"] = (mods / e["file"]).stat().st_size
    for sid, meta in man["sources"].items():
        meta["model_sha256"] = man["checksums"][f"sources/{sid}/model.safetensors"]
        meta["model_bytes"] = (mods / "sources" / sid / "model.safetensors").stat().st_size
    man_path.write_text(json.dumps(man))


def module_file(mods: Path, i: int = 1) -> Path:
    return sorted((mods / "modules").glob("*.safetensors"))[i]


def source_dir(mods: Path) -> Path:
    return next((mods / "sources").iterdir())


def torch_zip_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save({"embedding.weight": torch.zeros(2, 2)}, buf)
    return buf.getvalue()


# ---------------------------------------------------------------- run directories
def _drop_tensor(t):
    t.pop("head.bias")


def _extra_tensor(t):
    t["backdoor.weight"] = torch.zeros(3)


def _misshape(t):
    t["head.weight"] = torch.zeros(4, 9)


def _nan(t):
    t["head.weight"] = t["head.weight"].clone()
    t["head.weight"][0, 0] = float("nan")


def _inf(t):
    t["embedding.weight"] = t["embedding.weight"].clone()
    t["embedding.weight"][1, 1] = float("inf")


def _wrong_dtype(t):
    t["head.bias"] = t["head.bias"].double()


RUN_CASES = {
    "pickle-as-weights": (
        lambda r: (r / "model.safetensors").write_bytes(pickle.dumps(Evil())),
        r"model\.safetensors: not a valid safetensors file",
    ),
    "torch-save-as-weights": (
        lambda r: (r / "model.safetensors").write_bytes(torch_zip_bytes()),
        r"model\.safetensors: not a valid safetensors file",
    ),
    "truncated-weights": (
        lambda r: (r / "model.safetensors").write_bytes(
            (r / "model.safetensors").read_bytes()[:100]
        ),
        r"not a valid safetensors file",
    ),
    "missing-tensor": (
        lambda r: edit_tensors(r / "model.safetensors", _drop_tensor),
        r"tensors do not match the config \(missing head\.bias\)",
    ),
    "extra-tensor": (
        lambda r: edit_tensors(r / "model.safetensors", _extra_tensor),
        r"tensors do not match the config \(unexpected backdoor\.weight\)",
    ),
    "misshaped-tensor": (
        lambda r: edit_tensors(r / "model.safetensors", _misshape),
        r"tensor 'head\.weight' has shape \(4, 9\), config needs \(4, 8\)",
    ),
    "wrong-dtype": (
        lambda r: edit_tensors(r / "model.safetensors", _wrong_dtype),
        r"tensor 'head\.bias' is torch\.float64, the model needs torch\.float32",
    ),
    "nan-weight": (
        lambda r: edit_tensors(r / "model.safetensors", _nan),
        r"tensor 'head\.weight' contains NaN or Inf",
    ),
    "inf-weight": (
        lambda r: edit_tensors(r / "model.safetensors", _inf),
        r"tensor 'embedding\.weight' contains NaN or Inf",
    ),
    "future-format": (
        lambda r: edit_json(r / "config.json", lambda c: c.update(format_version=99)),
        r"written by a newer rnnmod \(format 99 > 1\); upgrade rnnmod",
    ),
    "format-not-int": (
        lambda r: edit_json(r / "config.json", lambda c: c.update(format_version="1")),
        r"format_version must be an integer",
    ),
    "config-not-json": (
        lambda r: (r / "config.json").write_text("{'task': 1"),
        r"config\.json: not valid JSON",
    ),
    "config-huge-hidden": (
        lambda r: edit_json(r / "config.json", lambda c: c["model"].update(hidden=10**5)),
        # refused at allocation, or (where the OS overcommits) by the shape check: no RAM used
        r"tensors do not match the config \(its model would need more memory|has shape .* config needs",
    ),
    "config-large-hidden": (
        lambda r: edit_json(r / "config.json", lambda c: c["model"].update(hidden=2000)),
        r"has shape .* config needs",
    ),
    "config-bad-depth": (
        lambda r: edit_json(r / "config.json", lambda c: c["model"].update(depth=7)),
        r"invalid model config \(depth must be 1-4, got 7\)",
    ),
    "config-negative-size": (
        lambda r: edit_json(r / "config.json", lambda c: c["model"].update(hidden=-3)),
        r"invalid model config \(hidden must be a positive integer\)",
    ),
    "labels-vs-classes": (
        lambda r: edit_json(r / "vocab.json", lambda v: v["labels"].append("extra")),
        r"5 label names for a model with 4 classes",
    ),
    "duplicate-labels": (
        lambda r: edit_json(r / "vocab.json", lambda v: v.update(labels=["a", "a", "b", "c"])),
        r"label names must be distinct",
    ),
    "vocab-seq-len": (
        lambda r: edit_json(r / "vocab.json", lambda v: v["source"].update(seq_len=40)),
        r"pads text to 40 tokens but the model reads 15",
    ),
    "vocab-too-big": (
        lambda r: edit_json(
            r / "vocab.json", lambda v: v["source"]["tokens"].extend(f"x{i}" for i in range(99))
        ),
        r"the vocabulary has \d+ ids but the model embeds only \d+",
    ),
    "vocab-unknown-tokenizer": (
        lambda r: edit_json(r / "vocab.json", lambda v: v["source"].update(tokenizer="eval")),
        r"invalid vocabulary: bad 'tokenizer' \('eval'\)",
    ),
    "vocab-not-utf8": (
        lambda r: (r / "vocab.json").write_bytes(b'{"source": "\xff\xfe"}'),
        r"vocab\.json: not valid JSON",
    ),
    "missing-metrics": (
        lambda r: (r / "metrics.json").unlink(),
        r"is not a complete run directory \(missing metrics\.json\)",
    ),
}


def expect_one_line_error(capsys, argv: list[str], pattern: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnmod: error: "), err
    assert "Traceback" not in err
    assert re.search(pattern, err), err
    log = os.environ.get("RNNMOD_RELIABILITY_LOG")  # collects the messages for docs/reliability.md
    if log:
        with open(log, "a", encoding="utf-8") as f:
            test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
            f.write(json.dumps({"test": test, "argv": argv, "message": err.strip()}) + "\n")
    return err.strip()


@pytest.mark.parametrize("case", sorted(RUN_CASES))
def test_bad_run_directory(case, run_dir, tmp_path, capsys):
    damage, pattern = RUN_CASES[case]
    damage(run_dir)
    expect_one_line_error(
        capsys, ["decompose", str(run_dir), "--out", str(tmp_path / "o"), "--quiet"], pattern
    )
    assert not (tmp_path / "o").exists()


def test_pickle_is_never_unpickled(run_dir, tmp_path, capsys, monkeypatch):
    """The refusal happens before any unpickling: pickle.loads is never reached."""
    (run_dir / "model.safetensors").write_bytes(pickle.dumps(Evil()))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    expect_one_line_error(
        capsys,
        ["decompose", str(run_dir), "--out", str(tmp_path / "o")],
        "not a valid safetensors file",
    )
    assert "pwned" not in capsys.readouterr().out


def test_no_torch_load_in_the_library():
    """Nothing in the package unpickles: no torch.load, pickle or numpy allow_pickle."""
    src = Path(__file__).resolve().parents[2] / "src" / "rnnmod"
    offenders = []
    for f in src.rglob("*.py"):
        text = f.read_text()
        for bad in ("torch.load(", "pickle.load", "allow_pickle=True", "import pickle"):
            if bad in text and not (bad == "torch.load(" and "weights_only=True" in text):
                offenders.append(f"{f.name}: {bad}")
    assert not offenders


# ---------------------------------------------------------------- module sets
def _extra_module_tensor(t):
    t["payload"] = torch.zeros(1)


def _drop_head(t):
    t.pop("head.weight")


def _wide_mask(t):
    t["unit_mask.0"] = pack_mask(torch.ones(t["unit_mask.0"].shape[0], 24, dtype=torch.bool))


def _few_steps(t):
    t["unit_mask.1"] = t["unit_mask.1"][:3].clone()


def _nan_head(t):
    t["head.bias"] = torch.tensor([float("nan"), 0.0])


def _fill_without_bias(t):
    t["unit_fill.0.weight"] = torch.zeros(8, 8)


def _fill_on_unrolled_masks(t):
    t["unit_fill.0.weight"] = torch.zeros(8, 8)
    t["unit_fill.0.bias"] = torch.zeros(8)


def _float_mask(t):
    t["unit_mask.0"] = t["unit_mask.0"].float()


def _manifest(fn):
    return lambda m: edit_json(m / "manifest.json", fn)


def _first_module(fn):
    return _manifest(lambda man: fn(man["modules"][0]))


MODS_CASES = {
    "module-byte-flipped": (
        lambda m: module_file(m).write_bytes(module_file(m).read_bytes()[:-1] + b"\x07"),
        r"checksum mismatch for .*modules/001-\w+\.safetensors: the file was altered or corrupted",
    ),
    "source-weights-flipped": (
        lambda m: (source_dir(m) / "model.safetensors").write_bytes(
            (source_dir(m) / "model.safetensors").read_bytes()[:-1] + b"\x07"
        ),
        r"checksum mismatch for .*sources/\w+/model\.safetensors",
    ),
    "module-missing": (
        lambda m: module_file(m).unlink(),
        r"missing file: .*modules/001-",
    ),
    "pickle-as-module (rehashed)": (
        lambda m: (module_file(m).write_bytes(pickle.dumps(Evil())), rehash(m)),
        r"001-\w+\.safetensors: not a valid safetensors file",
    ),
    "extra-tensor-in-module (rehashed)": (
        lambda m: (edit_tensors(module_file(m), _extra_module_tensor), rehash(m)),
        r"unexpected tensor\(s\) payload for a 2-layer gru module",
    ),
    "module-without-head (rehashed)": (
        lambda m: (edit_tensors(module_file(m), _drop_head), rehash(m)),
        r"missing or misshaped channelled head",
    ),
    "mask-of-another-width (rehashed)": (
        lambda m: (edit_tensors(module_file(m), _wide_mask), rehash(m)),
        r"unit_mask\.0: a packed mask of 8 units takes 1 byte\(s\) per step, got 3",
    ),
    "mask-not-uint8 (rehashed)": (
        lambda m: (edit_tensors(module_file(m), _float_mask), rehash(m)),
        r"unit_mask\.0: a packed mask must be a 2-D uint8 tensor, got float32",
    ),
    "masks-for-other-steps (rehashed)": (
        lambda m: (edit_tensors(module_file(m), _few_steps), rehash(m)),
        r"unit_mask\.1 has masks for 3 steps but the source model runs 15 steps",
    ),
    "fill-without-bias (rehashed)": (
        lambda m: (edit_tensors(module_file(m), _fill_without_bias), rehash(m)),
        r"unit_fill\.0 needs both a weight and a bias",
    ),
    "fill-on-unrolled-masks (rehashed)": (
        lambda m: (edit_tensors(module_file(m), _fill_on_unrolled_masks), rehash(m)),
        r"the module fills removed units, which cannot be done for unrolled modules",
    ),
    "nan-in-head (rehashed)": (
        lambda m: (edit_tensors(module_file(m), _nan_head), rehash(m)),
        r"tensor 'head\.bias' contains NaN or Inf",
    ),
    "future-manifest": (
        _manifest(lambda man: man.update(format_version=2)),
        r"written by a newer rnnmod \(format 2 > 1\); upgrade rnnmod",
    ),
    "not-a-manifest": (
        _manifest(lambda man: man.update(kind="something.else")),
        r"manifest\.json is not an rnnmod module set manifest",
    ),
    "manifest-missing-field": (
        _manifest(lambda man: man.pop("modules")),
        r"missing field 'modules'",
    ),
    "manifest-wrong-type": (
        _manifest(lambda man: man.update(checksums=[])),
        r"field 'checksums' must be an object",
    ),
    "manifest-no-modules": (
        _manifest(lambda man: man.update(modules=[])),
        r"lists no modules",
    ),
    "path-escape": (
        _first_module(lambda e: e.update(file="../../../etc/passwd")),
        r"field 'modules\.0\.file' \('\.\./\.\./\.\./etc/passwd'\) is not a file inside the module set",
    ),
    "absolute-path": (
        _manifest(lambda man: man["checksums"].update({"/etc/passwd": "0" * 64})),
        r"field 'checksums\./etc/passwd' \('/etc/passwd'\) is not a file inside the module set",
    ),
    "file-without-checksum": (
        _manifest(lambda man: man["checksums"].pop(man["modules"][0]["file"])),
        r"no checksum for modules/000-\w+\.safetensors; the manifest must list every file",
    ),
    "bad-checksum-format": (
        _manifest(lambda man: man["checksums"].update({man["modules"][0]["file"]: "abc"})),
        r"field 'checksums\.modules/000-\w+\.safetensors' \('abc'\) is not a sha256 hex digest",
    ),
    "relabelled-module": (
        _first_module(lambda e: e.update(label="travel")),
        r"duplicate module label\(s\) 'travel'",
    ),
    "label-vs-class-index": (
        _first_module(lambda e: e.update(label="renamed")),
        r"module 'renamed' points at class 0, which the source model calls 'banking'",
    ),
    "class-index-out-of-range": (
        _first_module(lambda e: e.update(class_index=9)),
        r"has a class index the source model does not have",
    ),
    "unknown-source": (
        _first_module(lambda e: e.update(source="deadbeef0000")),
        r"module 'banking' names an unknown source 'deadbeef0000'",
    ),
    "source-sha-edited": (
        _manifest(lambda man: next(iter(man["sources"].values())).update(model_sha256="0" * 64)),
        r"records another model sha256 than its file has",
    ),
}


@pytest.mark.parametrize("case", sorted(MODS_CASES))
def test_bad_module_set(case, mods_dir, capsys):
    damage, pattern = MODS_CASES[case]
    damage(mods_dir)
    expect_one_line_error(capsys, ["predict", str(mods_dir), "alpha beta"], pattern)


def test_stray_mask_bits_are_refused():
    """Bits set beyond the model's width (hidden 8 → exactly one byte, so use a 12-unit mask
    packed in two bytes with bits 12-15 set) are refused, not silently dropped."""
    from rnnmod.modules.masks import unpack_mask

    packed = pack_mask(torch.ones(2, 12, dtype=torch.bool))
    packed[:, 1] |= 0xF0
    with pytest.raises(RnnmodError, match="bits set beyond unit 12"):
        unpack_mask(packed, 12)


def test_debug_shows_the_traceback(run_dir, tmp_path, capsys):
    (run_dir / "model.safetensors").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(RnnmodError, match="not a valid safetensors file"):
        main(["--debug", "decompose", str(run_dir), "--out", str(tmp_path / "o")])


def test_os_errors_are_one_line(tc_run, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    expect_one_line_error(
        capsys,
        ["decompose", str(tc_run), "--out", str(blocker / "mods"), "--quiet"],
        r"/file: (File exists|Not a directory)$",
    )
