"""Nothing silently wrong: readers see one complete version while a writer replaces it,
--overwrite replaces only its own kind of artifact, oversized and mistyped files are refused
quickly in one line, a failed write leaves nothing behind, labels print safely."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from rnnmod.cli import main
from scripts.overwrite_battery import run_battery
from tests.reliability.util import DECOMPOSE_ARGS


def one_line_error(capsys, argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnmod: error: ") and "Traceback" not in err
    for n in needles:
        assert n in err, err
    return err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_readers_see_one_complete_version_while_a_writer_replaces_it(tmp_path):
    res = run_battery(reads=40, swaps=16, root=tmp_path)
    assert res["mixed"] == res["errors"] == res["false_checksum_errors"] == 0, res
    assert res["writer_failures"] == 0 and res["complete_version_reads"] == 40


@pytest.mark.parametrize("kind", ["file", "foreign-folder", "run-directory"])
def test_overwrite_replaces_only_its_own_kind(kind, tc_mods, tc_run, tmp_path, capsys):
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("my notes\n")
    elif kind == "foreign-folder":
        out.mkdir()
        (out / "thesis.tex").write_text("chapter 1\n")
    else:
        out = tc_run
    before = {p.name: p.read_bytes() for p in ([out] if out.is_file() else out.iterdir())}
    argv = ["compose", str(tc_mods), "--labels", "banking,travel", "--out", str(out), "--overwrite"]
    one_line_error(capsys, argv, str(out), "is not an rnnmod module set")
    after = {p.name: p.read_bytes() for p in ([out] if out.is_file() else out.iterdir())}
    assert after == before
    assert leftovers(out.parent) == []


def test_overwrite_of_a_file_by_export_is_refused_too(tc_run, tmp_path, capsys):
    mods = tmp_path / "rolled"
    assert main(["decompose", str(tc_run), "--out", str(mods), "--quiet", *DECOMPOSE_ARGS]) == 0
    f = tmp_path / "afile"
    f.write_text("keep me\n")
    argv = ["export", str(mods), "--label", "banking", "--out", str(f), "--overwrite"]
    one_line_error(capsys, argv, "is not an rnnmod exported module")
    assert f.read_text() == "keep me\n" and leftovers(tmp_path) == []


def test_a_sparse_oversized_module_file_is_refused_at_once(tc_mods, tmp_path, capsys):
    import shutil

    mods = Path(shutil.copytree(tc_mods, tmp_path / "m"))
    f = sorted((mods / "modules").iterdir())[0]
    with open(f, "r+b") as h:
        h.truncate(200 << 30)  # 200 GB, sparse: nothing is written
    t0 = time.perf_counter()
    one_line_error(capsys, ["predict", str(mods), "alpha beta"], f.name, "manifest records")
    assert time.perf_counter() - t0 < 10


@pytest.mark.parametrize(
    "field, value",
    [("config", []), ("config", "x"), ("config", None), ("mode", []), ("rule", 3)],
)
def test_mistyped_manifest_fields_are_one_line_errors(field, value, tc_mods, tmp_path, capsys):
    import shutil

    mods = Path(shutil.copytree(tc_mods, tmp_path / "m"))
    man = json.loads((mods / "manifest.json").read_text())
    man[field] = value
    (mods / "manifest.json").write_text(json.dumps(man))
    for argv in (
        ["predict", str(mods), "alpha"],
        ["evaluate", str(mods)],
        ["compose", str(mods), "--labels", "banking", "--out", str(tmp_path / "c")],
        ["export", str(mods), "--label", "banking", "--out", str(tmp_path / "e")],
    ):
        one_line_error(capsys, argv, "manifest.json", field)


def test_a_full_disk_names_the_output_and_leaves_no_temporary_folder(
    tc_run, tmp_path, capsys, monkeypatch
):
    import errno

    from rnnmod import storage

    real = storage.write_bytes_atomic
    calls = {"n": 0}

    def fill_up(path, data):
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(
                errno.ENOSPC, os.strerror(errno.ENOSPC), str(tc_run / "model.safetensors")
            )
        real(path, data)

    monkeypatch.setattr(storage, "write_bytes_atomic", fill_up)
    out = tmp_path / "M"
    argv = ["decompose", str(tc_run), "--out", str(out), "--quiet", *DECOMPOSE_ARGS]
    err = one_line_error(capsys, argv, f"cannot write {out}", "No space left on device")
    assert str(tc_run) not in err.replace(str(out), "")
    assert not out.exists() and leftovers(tmp_path) == []


def test_hostile_labels_print_as_one_escaped_field(tmp_path, capsys):
    from tests.reliability.util import make_run, write_csv

    labels = ["line\nbreak", "esc\x1b[31mred", "a, comma", "plain"]
    csv = write_csv(tmp_path / "h.csv", labels=[f'"{x}"' for x in labels])
    run = make_run(tmp_path / "run", csv)
    mods = tmp_path / "mods"
    assert main(["decompose", str(run), "--out", str(mods), "--quiet", *DECOMPOSE_ARGS]) == 0
    capsys.readouterr()
    assert main(["predict", str(mods), "alpha beta gamma", "kappa lambda"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 2 and "\x1b" not in out
    for line in out.splitlines():
        assert line.count("\t") == 2
    pair = tmp_path / "pair"
    assert main(["compose", str(mods), "--labels", '"a, comma",plain', "--out", str(pair)]) == 0
    assert json.loads((pair / "manifest.json").read_text())["modules"][0]["label"] == "a, comma"


def test_seeded_mutations_of_every_artifact_file_give_one_line_errors(tmp_path):
    from scripts.mutation_battery import run_battery as mutation_battery

    res = mutation_battery(80, tmp_path, seed=1)
    assert res["tracebacks"] == res["hangs"] == 0, res["bad"]
    assert res["one_line_errors"] > res["reads"] // 2


def test_train_refuses_to_overwrite_a_file_before_training(tc_csv, tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("keep me\n")
    argv = ["train", "--task", "text-classification", "--file", str(tc_csv), "--out", str(f)]
    one_line_error(
        capsys, [*argv, "--overwrite", "--epochs", "1"], "is not an rnnmod run directory"
    )
    assert f.read_text() == "keep me\n" and leftovers(tmp_path) == []


def test_a_one_module_set_needs_single_and_warns(tc_mods, tmp_path, capsys):
    one = tmp_path / "one"
    one_line_error(
        capsys, ["compose", str(tc_mods), "--labels", "banking", "--out", str(one)], "--single"
    )
    assert (
        main(["compose", str(tc_mods), "--labels", "banking", "--out", str(one), "--single"]) == 0
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "always predicts 'banking'" in err


def test_a_text_with_no_token_gets_no_label(tc_mods, capsys):
    assert main(["predict", str(tc_mods), "alpha beta", "?!", "--json"]) == 0
    got = capsys.readouterr()
    rows = json.loads(got.out)["predictions"]
    assert rows[1]["label"] is None and "no token" in rows[1]["reason"]
    assert rows[0]["label"] is not None
    assert got.err.count("\n") == 1 and "1 of 2 texts have no token" in got.err


def test_the_wrong_kind_of_folder_says_what_it_is_and_what_to_run(tc_run, tc_mods, capsys):
    from pathlib import Path as P

    translation_set = P(__file__).parents[1] / "fixtures" / "release_0_1" / "translate" / "modules"
    one_line_error(capsys, ["evaluate", str(tc_run)], "is a run directory", "rnnmod decompose")
    one_line_error(capsys, ["decompose", str(tc_mods), "--out", "x"], "is a module set")
    one_line_error(capsys, ["translate", str(tc_mods), "--to", "fr", "hi"], "not a translation")
    one_line_error(capsys, ["predict", str(translation_set), "hello"], "translation modules")
