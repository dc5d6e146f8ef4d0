"""Hypothesis property tests at the boundary: readers may reject their input with an
RnnmodError, never crash with another exception or hang. Bounded by the profile in conftest.py
(60 examples each, derandomised, 5 s deadline)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnmod.data import load_task
from rnnmod.data.clinc import read_clinc_csv
from rnnmod.data.emotions import EMOTIONS, read_ec
from rnnmod.data.generic import read_conll, read_lines
from rnnmod.data.vocab import Vocab
from rnnmod.errors import RnnmodError
from rnnmod.modules.masks import pack_mask, unpack_mask
from rnnmod.modules.store import check_manifest, load_moduleset
from rnnmod.runs import load_run
from rnnmod.storage import read_json, read_tensors

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def rejects_or_returns(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except RnnmodError as e:
        assert "\n" not in str(e)
        return None


@pytest.fixture(scope="module")
def scratch():
    d = Path(tempfile.mkdtemp(prefix="rnnmod-fuzz-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- masks
@given(
    st.integers(1, 5).flatmap(
        lambda s: st.integers(1, 70).flatmap(
            lambda w: st.lists(st.booleans(), min_size=s * w, max_size=s * w).map(
                lambda bits: torch.tensor(bits, dtype=torch.bool).reshape(s, w)
            )
        )
    )
)
def test_pack_unpack_roundtrip(mask):
    assert torch.equal(unpack_mask(pack_mask(mask), mask.shape[1]), mask)


@given(
    st.integers(0, 4),
    st.integers(0, 4),
    st.binary(max_size=40),
    st.integers(-3, 40),
    st.sampled_from([torch.uint8, torch.int8, torch.float32, torch.bool]),
)
def test_unpack_never_crashes(rows, cols, raw, width, dtype):
    data = (raw * (1 + rows * cols))[: rows * cols].ljust(rows * cols, b"\0")
    packed = torch.tensor(list(data), dtype=torch.uint8).reshape(rows, cols).to(dtype)
    m = rejects_or_returns(unpack_mask, packed, width)
    if m is not None:
        assert m.dtype == torch.bool and tuple(m.shape) == (rows, width)
        assert torch.equal(pack_mask(m), packed)


# ---------------------------------------------------------------- JSON and safetensors readers
@given(st.binary(max_size=300))
def test_read_json_random_bytes(scratch, raw):
    f = scratch / "x.json"
    f.write_bytes(raw)
    rejects_or_returns(read_json, f)


@given(st.binary(max_size=300) | st.binary(max_size=40).map(lambda b: b"\x40\0\0\0\0\0\0\0{" + b))
def test_read_tensors_random_bytes(scratch, raw):
    f = scratch / "x.safetensors"
    f.write_bytes(raw)
    rejects_or_returns(read_tensors, f)


@given(JSON)
def test_vocab_reader_random_json(obj):
    v = rejects_or_returns(Vocab.from_dict, obj)
    if v is not None:
        v.encode_texts(["some text here"])


VOCAB_FIELDS = {
    "tokens": ["<pad>", "<unk>", "a", "b"],
    "tokenizer": "whitespace",
    "seq_len": 6,
    "padding": "pre",
    "truncating": "post",
    "oov_token": "<unk>",
    "num_words": None,
    "lower": True,
}


@given(st.sampled_from(sorted(VOCAB_FIELDS)), JSON)
def test_vocab_reader_one_bad_field(field, value):
    d = dict(VOCAB_FIELDS, **{field: value})
    v = rejects_or_returns(Vocab.from_dict, d)
    if v is not None:
        assert v.encode_texts(["a b c"]).shape == (1, v.seq_len)


@given(st.sampled_from(["vocab.json", "config.json", "metrics.json"]), JSON)
def test_run_reader_random_json(run_dir_for_fuzz, name, obj):
    run = run_dir_for_fuzz
    original = (run / name).read_bytes()
    try:
        (run / name).write_text(json.dumps(obj))
        rejects_or_returns(load_run, run)
    finally:
        (run / name).write_bytes(original)


@pytest.fixture(scope="module")
def run_dir_for_fuzz(tc_run, scratch):
    return Path(shutil.copytree(tc_run, scratch / "run"))


@pytest.fixture(scope="module")
def mods_for_fuzz(tc_mods, scratch):
    return Path(shutil.copytree(tc_mods, scratch / "mods"))


@given(JSON)
def test_manifest_reader_random_json(scratch, obj):
    rejects_or_returns(check_manifest, obj, scratch / "manifest.json")


def _paths(man: dict) -> list[tuple]:
    """Every (container, key) of a manifest, to replace one value at a time."""
    out = []

    def walk(node):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            out.append((node, k))
            if isinstance(v, (dict, list)):
                walk(v)

    walk(man)
    return out


@settings(max_examples=80)
@given(st.data())
def test_manifest_reader_one_field_mutated(mods_for_fuzz, data):
    """A valid manifest with one value anywhere in it replaced by arbitrary JSON."""
    path = mods_for_fuzz / "manifest.json"
    original = path.read_bytes()
    man = json.loads(original)
    spots = _paths(man)
    node, key = spots[data.draw(st.integers(0, len(spots) - 1))]
    node[key] = data.draw(JSON)
    try:
        path.write_text(json.dumps(man))
        rejects_or_returns(load_moduleset, mods_for_fuzz)
    finally:
        path.write_bytes(original)


# ---------------------------------------------------------------- dataset parsers
def mutate(text: str, how: str, cut: int, noise: bytes) -> bytes:
    raw = text.encode()
    if how == "truncate":
        return raw[: cut % (len(raw) + 1)]
    if how == "semicolons":
        return raw.replace(b",", b";").replace(b"\t", b";")
    if how == "tabs":
        return raw.replace(b",", b"\t")
    if how == "commas":
        return raw.replace(b"\t", b",")
    if how == "noise":
        i = cut % (len(raw) + 1)
        return raw[:i] + noise + raw[i:]
    if how == "drop-lines":
        lines = raw.split(b"\n")
        return b"\n".join(lines[: 1 + cut % max(1, len(lines))])
    return noise


MUTATION = st.tuples(
    st.sampled_from(["truncate", "semicolons", "tabs", "commas", "noise", "drop-lines", "random"]),
    st.integers(0, 10_000),
    st.binary(max_size=60),
)

CLINC = "text,intent,domain,intent_name,domain_name\n" + "".join(
    f"what is my balance {i},1,{i % 3},balance,d{i % 3}\n" for i in range(12)
)
EC = (
    "\t".join(["ID", "Tweet", *EMOTIONS])
    + "\n"
    + "".join(
        f"2018-{i}\tI feel fine {i}\t"
        + "\t".join("1" if (i + j) % 3 == 0 else "0" for j in range(11))
        + "\n"
        for i in range(8)
    )
)
TOXIC = "id,comment_text,toxic,severe_toxic,obscene,threat,insult,identity_hate\n" + "".join(
    f"{i},you are {'nice' if i % 2 else 'mean'} {i},{i % 2},0,{i % 3 == 0:d},0,0,0\n"
    for i in range(12)
)
MATHQA = json.dumps(
    [
        {"Problem": f"a train runs {i} km", "category": ["gain", "physics", "other"][i % 3]}
        for i in range(15)
    ]
)
CONLL = "".join(f"The DET\ncat{i} NOUN\nsat VERB\n\n" for i in range(8))
TEXT_CSV = "text,label\n" + "".join(f"hello there {i},{'ab'[i % 2]}\n" for i in range(12))


@given(MUTATION)
def test_clinc_parser(scratch, m):
    f = scratch / "clinc_oos" / "train.csv"
    f.parent.mkdir(exist_ok=True)
    f.write_bytes(mutate(CLINC, *m))
    shutil.copyfile(f, f.with_name("test.csv"))
    rejects_or_returns(read_clinc_csv, f)
    rejects_or_returns(load_task, "clinc", scratch)


@given(MUTATION)
def test_emotions_parser(scratch, m):
    d = scratch / "semeval2018_ec"
    d.mkdir(exist_ok=True)
    (d / "2018-E-c-En-train.txt").write_bytes(mutate(EC, *m))
    (d / "2018-E-c-En-dev.txt").write_bytes(EC.encode())
    rejects_or_returns(read_ec, d / "2018-E-c-En-train.txt")
    rejects_or_returns(load_task, "emotions", scratch)


@given(MUTATION)
def test_toxic_parser(scratch, m):
    d = scratch / "toxic"
    d.mkdir(exist_ok=True)
    (d / "train.csv").write_bytes(mutate(TOXIC, *m))
    rejects_or_returns(load_task, "toxic", scratch)


@given(MUTATION)
def test_mathqa_parser(scratch, m):
    d = scratch / "mathqa"
    d.mkdir(exist_ok=True)
    (d / "test.json").write_bytes(mutate(MATHQA, *m))
    rejects_or_returns(load_task, "mathqa", scratch)


@given(MUTATION)
def test_conll_parser(scratch, m):
    f = scratch / "tags.conll"
    f.write_bytes(mutate(CONLL, *m))
    rejects_or_returns(read_conll, f)
    rejects_or_returns(load_task, "tagging", scratch, file=str(f))


@given(MUTATION, st.sampled_from([".csv", ".tsv"]))
def test_text_classification_parser(scratch, m, suffix):
    f = scratch / f"user{suffix}"
    f.write_bytes(mutate(TEXT_CSV, *m))
    rejects_or_returns(load_task, "text-classification", scratch, file=str(f))


@given(st.binary(max_size=200))
def test_line_reader(scratch, raw):
    f = scratch / "lines.txt"
    f.write_bytes(raw)
    rejects_or_returns(read_lines, f, "sentences")


@given(st.binary(max_size=300))
def test_brown_zip_reader(scratch, raw):
    root = scratch / "brown" / "nltk_data"
    (root / "corpora").mkdir(parents=True, exist_ok=True)
    (root / "taggers").mkdir(parents=True, exist_ok=True)
    (root / "corpora" / "brown.zip").write_bytes(raw)
    (root / "taggers" / "universal_tagset.zip").write_bytes(raw)
    rejects_or_returns(load_task, "brown", scratch)
