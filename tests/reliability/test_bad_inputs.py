"""Bad data and bad requests: empty, single-class, short-row, wrongly delimited and non-UTF-8
files; labels that do not exist; modules asked to read inputs they cannot read. One line,
exit code 2 at the CLI; an RnnmodError in the library."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from rnnmod.composition import compose_modulesets
from rnnmod.composition.evaluate import evaluate_bank
from rnnmod.decomposition import decompose, preset
from rnnmod.errors import RnnmodError
from rnnmod.modules.store import load_moduleset, save_moduleset
from rnnmod.runs import load_run, save_run
from tests.helpers import tiny_data, tiny_model
from tests.reliability.test_artifacts import expect_one_line_error
from tests.reliability.util import LABELS, write_csv

GOOD_CSV = "text,label\n" + "".join(f"hello there {i},{'ab'[i % 2]}\n" for i in range(12))

CSV_CASES = {
    "header-only": (b"text,label\n", r"column 'label' needs at least two distinct labels"),
    "empty-file": (b"", r"missing column\(s\) text, label \(has: \)"),
    "single-class": (
        "text,label\n" + "".join(f"hi {i},only\n" for i in range(9)),
        r"column 'label' needs at least two distinct labels",
    ),
    "short-rows": (b"text,label\nhello,a\nhi\n", r"some rows have fewer columns than the header"),
    "semicolons": (
        GOOD_CSV.replace(",", ";"),
        r"missing column\(s\) text, label \(has: text;label\); choose them with --text-column",
    ),
    "not-utf8": (
        GOOD_CSV.encode("utf-16"),
        r"not a readable UTF-8 CSV/TSV \('utf-8' codec can't decode byte 0xff",
    ),
    "latin-1": (
        GOOD_CSV.replace("hello", "h\xe9llo").encode("latin-1"),
        r"not a readable UTF-8 CSV/TSV",
    ),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_bad_user_csv(case, tmp_path, capsys):
    content, pattern = CSV_CASES[case]
    f = tmp_path / "data.csv"
    f.write_bytes(content.encode() if isinstance(content, str) else content)
    argv = ["train", "--task", "text-classification", "--file", str(f)]
    expect_one_line_error(capsys, [*argv, "--out", str(tmp_path / "run"), "--quiet"], pattern)
    assert not (tmp_path / "run").exists()


CONLL_CASES = {
    "conll-empty": (b"\n\n", r"no tagged sentences \(token and tag per line, blank between\)"),
    "conll-not-utf8": (b"caf\xe9 NOUN\n", r"not UTF-8 text"),
    "conll-single-tag": (b"a X\nb X\n\n" * 8, r"the training split has fewer than two classes"),
}


@pytest.mark.parametrize("case", sorted(CONLL_CASES))
def test_bad_tagging_file(case, tmp_path, capsys):
    content, pattern = CONLL_CASES[case]
    f = tmp_path / "tags.conll"
    f.write_bytes(content)
    argv = ["train", "--task", "tagging", "--file", str(f), "--out", str(tmp_path / "run")]
    expect_one_line_error(capsys, argv, pattern)


def test_non_utf8_dataset_file(tmp_path, capsys):
    d = tmp_path / "clinc_oos"
    d.mkdir()
    (d / "train.csv").write_bytes(
        b"text,intent,domain,intent_name,domain_name\ncaf\xe9 au lait,1,0,x,y\n"
    )
    argv = ["train", "--task", "clinc", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")]
    expect_one_line_error(capsys, argv, r"train\.csv: not a readable UTF-8 CSV")


def test_missing_data(tmp_path, capsys):
    argv = ["train", "--task", "clinc", "--out", str(tmp_path / "r")]
    expect_one_line_error(
        capsys,
        [*argv, "--data-dir", str(tmp_path / "nowhere")],
        r"data directory .*nowhere does not exist; pass --data-dir or set RNNMOD_DATA",
    )
    expect_one_line_error(
        capsys,
        [*argv, "--data-dir", str(tmp_path)],
        r"missing data file .*clinc_oos/train\.csv: put the Clinc OOS CSV there",
    )


def test_predict_bad_text(mods_dir, tmp_path, capsys):
    f = tmp_path / "texts.txt"
    f.write_bytes(b"caf\xe9\n")
    expect_one_line_error(capsys, ["predict", str(mods_dir), "--file", str(f)], r"not UTF-8 text")
    expect_one_line_error(
        capsys, ["predict", str(mods_dir)], r"give text to classify as arguments or with --file"
    )


def test_unknown_labels(mods_dir, tmp_path, capsys):
    argv = ["compose", str(mods_dir), "--out", str(tmp_path / "c"), "--labels"]
    expect_one_line_error(
        capsys,
        [*argv, "banking,nope"],
        r"no module labelled 'nope'; available: banking, cooking, music, travel",
    )
    expect_one_line_error(
        capsys, [*argv, "3:banking"], r"'3:banking': there is no module set number 3 \(have 1\)"
    )
    expect_one_line_error(capsys, [*argv, ","], r"choose at least two labels to compose")
    assert not (tmp_path / "c").exists()


# ---------------------------------------------------------------- data the modules cannot read
@pytest.fixture()
def own_run(tmp_path):
    """A run and module set of a CSV file that the test may then change."""
    from rnnmod.cli import main
    from tests.reliability.util import make_run

    csv = write_csv(tmp_path / "data.csv")
    run = make_run(tmp_path / "run", csv, cell="lstm", depth=1)
    assert main(["decompose", str(run), "--out", str(tmp_path / "mods"), "--quiet"]) == 0
    return csv, run, tmp_path / "mods"


def test_data_changed_after_training(own_run, capsys):
    csv, run, mods = own_run
    original = csv.read_text()
    csv.write_text(original.replace(",music", ",jazz"))  # same texts, a renamed label
    expect_one_line_error(
        capsys,
        ["evaluate", str(mods)],
        r"the text-classification data now have other labels than .* was trained with "
        r"\(unknown label\(s\) 'jazz'\)",
    )
    csv.write_text(original.replace("alpha", "omega"))  # another vocabulary
    expect_one_line_error(
        capsys,
        ["evaluate", str(mods)],
        r"now yield a different vocabulary than .* was trained with \(changed data files\?\)",
    )
    csv.write_text(original)
    assert __import__("rnnmod.cli").cli.main(["evaluate", str(mods), "--json"]) == 0


def _tiny_run(tmp_path: Path, name: str, io_type: str, seq_len: int = 6, seed: int = 0):
    model, data = (
        tiny_model("gru", io_type=io_type, seq_len=seq_len, seed=seed),
        tiny_data(io_type, seq_len=seq_len),
    )
    cfg = {"task": "tiny", "io_type": io_type, "pad_label": data.pad_label}
    path = save_run(tmp_path / name, model, cfg, data.vocab, data.label_names, {})
    return load_run(path), data


def _mods(tmp_path: Path, name: str, run, data, mode: str = "rolled"):
    dec = decompose(run.model, data, preset("default", mode=mode, max_remove=0.25), progress=False)
    return load_moduleset(save_moduleset(tmp_path / name, [(run, dec.bank)], {"mode": mode}))


def test_modules_cannot_read_other_inputs(tmp_path):
    run, data = _tiny_run(tmp_path, "m1", "M:1")
    ms = _mods(tmp_path, "mods", run, data, mode="unrolled")
    bank = next(iter(ms.banks.values()))
    longer = tiny_data("M:1", seq_len=7)
    with pytest.raises(RnnmodError, match=r"split has rows of 7 token ids but .*m1 reads 6"):
        evaluate_bank(run, bank, longer)
    wider = tiny_data("M:1", vocab=30)
    with pytest.raises(RnnmodError, match=r"token ids outside the 12 ids .*m1 knows"):
        evaluate_bank(run, bank, wider)
    more = tiny_data("M:1", n_classes=6)
    with pytest.raises(RnnmodError, match=r"labels outside the 4 classes of .*m1"):
        evaluate_bank(run, bank, more)
    tagging = tiny_data("M:N")
    with pytest.raises(
        RnnmodError, match=r"has 6 output step\(s\) per example but .*m1 \(M:1\) emits 1"
    ):
        evaluate_bank(run, bank, tagging)
    short = bank.select(list(range(len(bank))))
    short.unit_masks = [m[:, :3] for m in short.unit_masks]
    with pytest.raises(
        RnnmodError, match=r"the modules have masks for 3 steps but the model runs 6"
    ):
        evaluate_bank(run, short, data)


def test_compose_refuses_incompatible_modules(tmp_path):
    one, d1 = _tiny_run(tmp_path, "one", "M:1")
    tag6, d6 = _tiny_run(tmp_path, "tag6", "M:N")
    tag7, d7 = _tiny_run(tmp_path, "tag7", "M:N", seq_len=7)
    m1, m6, m7 = (
        _mods(tmp_path, "a", one, d1),
        _mods(tmp_path, "b", tag6, d6),
        _mods(tmp_path, "c", tag7, d7),
    )
    with pytest.raises(RnnmodError, match="cannot compare modules of one-output models"):
        compose_modulesets([m1, m6], ["1:c1", "2:c2"], tmp_path / "x")
    with pytest.raises(
        RnnmodError, match=r"many-output modules that emit different numbers of steps \(6, 7\)"
    ):
        compose_modulesets([m6, m7], ["1:c1", "2:c2"], tmp_path / "y")
    # one label per text (the odds rule): both mixes compose
    for sets, out in (([m1, m6], "x-odds"), ([m6, m7], "y-odds")):
        ms = load_moduleset(compose_modulesets(sets, ["1:c1", "2:c2"], tmp_path / out, rule="odds"))
        assert ms.rule == "odds" and len(ms.predict_texts(["w1 w2 w3"])) == 1
    other, d2 = _tiny_run(tmp_path, "other", "M:1", seed=1)
    m2 = _mods(tmp_path, "d", other, d2)
    both = load_moduleset(compose_modulesets([m1, m2], ["1:c0", "2:c1"], tmp_path / "z"))
    with pytest.raises(RnnmodError, match="this module set holds modules of several source models"):
        both.single_source  # noqa: B018
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_labels_outside_the_classes_are_refused():
    data = tiny_data()
    data.y_test = data.y_test.clone()
    data.y_test[0] = 7
    with pytest.raises(RnnmodError, match="tiny: the test split has labels outside its 4 classes"):
        data.check()
    data = tiny_data()
    data.y_train = torch.zeros_like(data.y_train)
    with pytest.raises(RnnmodError, match="the training split has fewer than two classes"):
        data.check()


def test_existing_composed_output_needs_overwrite(mods_dir, tmp_path, capsys):
    argv = ["compose", str(mods_dir), "--labels", "banking,travel", "--out", str(tmp_path / "c")]
    from rnnmod.cli import main

    assert main(argv) == 0
    expect_one_line_error(capsys, argv, r"c already exists; pass --overwrite to replace it")
    shutil.rmtree(tmp_path / "c")
    assert json.loads((mods_dir / "manifest.json").read_text())["modules"]
    assert LABELS
